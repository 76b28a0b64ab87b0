"""Reading Larochelle & Murray's statically binarized MNIST (`.amat` text, gzipped or not).

Format: one image a line, 784 space-separated values 0 or 1, row-major 28x28
(binarized_mnist_{train,valid,test}.amat: 50,000, 10,000 and 10,000 images, the
"static MNIST" of most VAE papers). Read in numpy only, vectorised over the whole
file; every departure from the format is named with its file and line.
"""

import os

import numpy as np

from keras_vae import idx
from keras_vae.errors import DataError

PIXELS = 28 * 28
SPLIT_STEMS = {
    "train": "binarized_mnist_train",
    "validation": "binarized_mnist_valid",
    "test": "binarized_mnist_test",
}
_SPACE, _NEWLINE, _RETURN, _TAB = (ord(c) for c in " \n\r\t")


def split_path(folder: str, split: str) -> str:
    """The .amat.gz or .amat file of `split` in `folder` (DataError if neither exists)."""
    stem = os.path.join(folder, SPLIT_STEMS[split] + ".amat")
    for path in (stem + ".gz", stem):
        if os.path.isfile(path):
            return path
    raise DataError(f"{stem}[.gz] does not exist (binarized_mnist's {split} split)")


def read(path: str) -> np.ndarray:
    """The images of one .amat[.gz] file as uint8 [N, 28, 28], pixels 0 or 255.

    (255 rather than 1, as keras_vae stores every image as 0..255 bytes.)
    """
    text = np.frombuffer(idx.read_bytes(path), np.uint8)
    if text.size == 0:
        raise DataError(f"{path} is empty")
    if text[-1] != _NEWLINE:
        # A file cut in the middle of a line; its last line is then checked like the rest.
        text = np.concatenate([text, np.array([_NEWLINE], np.uint8)])
    is_value = (text != _SPACE) & (text != _NEWLINE) & (text != _RETURN) & (text != _TAB)
    starts = np.flatnonzero(is_value & ~np.concatenate([[False], is_value[:-1]]))
    ends = np.flatnonzero(is_value & ~np.concatenate([is_value[1:], [False]]))
    line_ends = np.flatnonzero(text == _NEWLINE)
    # Blank lines (a trailing empty line, say) hold no image.
    line_of_start = np.searchsorted(line_ends, starts)
    counts = np.bincount(line_of_start, minlength=len(line_ends))
    lines = np.flatnonzero(counts)
    bad = np.flatnonzero(counts[lines] != PIXELS)
    if bad.size:
        line = lines[bad[0]]
        raise DataError(
            f"{path}: line {line + 1} has {counts[line]} values, expected {PIXELS} "
            "(one 28x28 image a line)"
        )
    long = np.flatnonzero(ends != starts)
    digits = text[starts]
    odd = np.flatnonzero((digits != ord("0")) & (digits != ord("1")))
    if long.size or odd.size:
        first = min(np.concatenate([long, odd]))
        value = bytes(text[starts[first] : ends[first] + 1]).decode(errors="replace")
        raise DataError(
            f"{path}: line {line_of_start[first] + 1} holds the value {value!r}; "
            "binarized MNIST pixels are 0 or 1"
        )
    images = (digits == ord("1")).astype(np.uint8) * 255
    return images.reshape(len(lines), 28, 28)


def load_folder(folder: str) -> dict:
    """{"train", "validation", "test"}: uint8 [N, 28, 28] images of Larochelle's files."""
    return {split: read(split_path(folder, split)) for split in SPLIT_STEMS}
