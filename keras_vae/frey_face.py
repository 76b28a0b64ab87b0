"""Reading the Frey Face data set (Brendan Frey's `frey_rawface.mat`), with validation.

The file is a MATLAB v5 file holding one variable, `ff`: uint8 [560, 1965], one
column per image of 28 rows of 20 pixels (row-major), 1,965 grey faces in all: the
real-valued data set of Kingma & Welling 2013. scipy.io.loadmat reads it; every
departure from that layout is named with the file.
"""

import os

import numpy as np

from keras_vae.errors import DataError

FILE_NAME = "frey_rawface.mat"
VARIABLE = "ff"
IMAGE_SHAPE = (28, 20)


def file_path(folder: str) -> str:
    """frey_rawface.mat in `folder` (DataError if it is not there)."""
    path = os.path.join(folder, FILE_NAME)
    if not os.path.isfile(path):
        raise DataError(f"{path} does not exist (the Frey Face data set's file)")
    return path


def read(path: str) -> np.ndarray:
    """The faces as uint8 [1965, 28, 20] (any number of images is accepted)."""
    import scipy.io  # Only this data set needs scipy.

    try:
        contents = scipy.io.loadmat(path)
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    except Exception as e:  # scipy raises ValueError, MatReadError, TypeError...
        raise DataError(f"{path} is not a readable MATLAB file ({e})") from None
    if VARIABLE not in contents:
        names = ", ".join(k for k in contents if not k.startswith("__")) or "none"
        raise DataError(f"{path} holds no variable '{VARIABLE}' (its variables: {names})")
    faces = np.asarray(contents[VARIABLE])
    pixels = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
    if faces.ndim != 2 or faces.shape[0] != pixels or faces.shape[1] < 1:
        raise DataError(
            f"{path}: '{VARIABLE}' is {faces.shape}, expected [{pixels}, N] "
            f"(one {IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]} face a column)"
        )
    if faces.dtype != np.uint8:
        if not (np.all(np.isfinite(faces)) and faces.min() >= 0 and faces.max() <= 255):
            raise DataError(f"{path}: '{VARIABLE}' holds values outside 0..255")
        if not np.all(faces == np.round(faces)):
            raise DataError(f"{path}: '{VARIABLE}' holds non-integer grey levels")
        faces = faces.astype(np.uint8)
    return np.ascontiguousarray(faces.T.reshape(-1, *IMAGE_SHAPE))
