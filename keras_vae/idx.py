"""Reading MNIST-format IDX files (gzipped or not) with validation, in numpy only.

Format (http://yann.lecun.com/exdb/mnist/): a big-endian header of two zero bytes,
a type code (0x08 = uint8), the number of dimensions, then one uint32 per
dimension; then the data, row-major. Images are 0x00000803 (count, rows, cols)
and labels 0x00000801 (count).
"""

import gzip
import os
import zlib

import numpy as np

from keras_vae.errors import DataError

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

# The standard MNIST-family file stems, per split.
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_bytes(path: str) -> bytes:
    """The bytes of `path`, gunzipped if it is gzip; DataError names an unreadable file,
    a truncated gzip stream or another broken one. (The .amat reader uses it too.)"""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except EOFError:
            raise DataError(f"{path} is truncated (its gzip stream ends early)") from None
        except (OSError, zlib.error) as e:
            raise DataError(f"{path} is not a valid gzip file ({e})") from None
    return raw


def read_idx(path: str, expected_magic: int) -> np.ndarray:
    """Returns the uint8 array stored in one IDX file; raises DataError if it is malformed."""
    data = read_bytes(path)
    if len(data) < 4:
        raise DataError(f"{path} is too short to be an IDX file ({len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    if magic != expected_magic:
        raise DataError(
            f"{path} has magic number 0x{magic:08x}, expected 0x{expected_magic:08x}"
            " (not an MNIST-format IDX file of that kind)"
        )
    ndim = data[3]
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DataError(f"{path} is truncated inside its header")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    actual = len(data) - header_size
    if actual != expected:
        raise DataError(
            f"{path} holds {actual} data bytes but its header {shape} says {expected}"
            + (" (truncated)" if actual < expected else "")
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape)


def find_file(folder: str, stem: str) -> str:
    """The path of `stem` or `stem.gz` in `folder`; raises DataError if neither exists."""
    for name in (stem, stem + ".gz"):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    raise DataError(f"{folder} has no {stem} or {stem}.gz")


def load_split(folder: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Reads one split ('train' or 'test') of an MNIST-format folder.

    Returns (images uint8 [N, rows, cols], labels int64 [N]).
    """
    if not os.path.isdir(folder):
        raise DataError(f"IDX data folder {folder} does not exist")
    images_stem, labels_stem = SPLIT_FILES[split]
    images = read_idx(find_file(folder, images_stem), IMAGES_MAGIC)
    labels = read_idx(find_file(folder, labels_stem), LABELS_MAGIC)
    if len(images) != len(labels):
        raise DataError(
            f"{folder}: {split} split has {len(images)} images but {len(labels)} labels"
        )
    if len(images) == 0:
        raise DataError(f"{folder}: {split} split is empty")
    return images, labels.astype(np.int64)
