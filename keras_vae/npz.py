"""Reading a data set from one numpy `.npz` file, with validation (`--dataset=npz:FILE`).

Arrays: `x_train` and `x_test` (required), `x_validation` (optional), and the labels
`y_train`, `y_test`, `y_validation` (optional; all or none). Examples may be of any
shape: vectors [N, D], grey images [N, H, W], colour images [N, H, W, C]. uint8 data
are pixels, scaled to [0, 1] by the model; floating-point data are used as they are
(stored as float32). Every departure is named with the file and the array.
"""

import zipfile

import numpy as np

from keras_vae.errors import DataError

SPLITS = ("train", "validation", "test")


def _array(contents, name: str, path: str) -> np.ndarray:
    try:
        return contents[name]
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise DataError(f"{path}: array {name} cannot be read ({e})") from None


def examples(x: np.ndarray, name: str, path: str) -> np.ndarray:
    """Array `name` of file `path` as examples [N, ...]: uint8 kept, other numbers float32;
    DataError for values that are not numbers, NaN or infinite, or no examples."""
    if x.dtype != np.uint8:
        if not np.issubdtype(x.dtype, np.floating) and not np.issubdtype(x.dtype, np.integer):
            raise DataError(f"{path}: {name} holds {x.dtype} values, not numbers")
        x = x.astype(np.float32)
        if not np.all(np.isfinite(x)):
            bad = int(np.count_nonzero(~np.isfinite(x)))
            raise DataError(f"{path}: {name} holds {bad} NaN or infinite values")
    if x.ndim < 2 or len(x) == 0:
        raise DataError(f"{path}: {name} must be [N, ...] with N > 0, got shape {x.shape}")
    return x


def labels(y: np.ndarray, count: int, name: str, path: str) -> np.ndarray:
    """Array `name` of file `path` as int64 labels, one per example; DataError otherwise."""
    if y.shape != (count,):
        raise DataError(f"{path}: {name} has shape {y.shape}, expected ({count},) (one per x)")
    if not np.all(np.asarray(y) == np.round(np.asarray(y, np.float64))) or np.min(y) < 0:
        raise DataError(f"{path}: {name} must hold integer labels >= 0")
    return np.asarray(y).astype(np.int64)


def read(path: str) -> dict:
    """{split: (x, y or None)} for the splits the file holds; DataError names a problem."""
    try:
        contents = np.load(path, allow_pickle=False)
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    except (ValueError, zipfile.BadZipFile, EOFError) as e:
        raise DataError(f"{path} is not a readable .npz file ({e})") from None
    if not hasattr(contents, "files"):
        raise DataError(f"{path} holds one array, not the arrays of an .npz file")
    for name in ("x_train", "x_test"):
        if name not in contents.files:
            raise DataError(f"{path} has no array {name} (it has: {', '.join(contents.files)})")
    labelled = [f"y_{s}" in contents.files for s in SPLITS if f"x_{s}" in contents.files]
    if any(labelled) and not all(labelled):
        raise DataError(f"{path}: labels (y_...) must come with every x_ array or with none")
    splits = {}
    for split in SPLITS:
        if f"x_{split}" not in contents.files:
            continue
        x = examples(_array(contents, f"x_{split}", path), f"x_{split}", path)
        y = None
        if any(labelled):
            y = labels(_array(contents, f"y_{split}", path), len(x), f"y_{split}", path)
        splits[split] = (x, y)
    shapes = {split: x.shape[1:] for split, (x, _) in splits.items()}
    if len(set(shapes.values())) > 1:
        raise DataError(f"{path}: the splits' examples differ in shape: {shapes}")
    return splits
