"""Tests of keras_vae.idx on tiny synthetic IDX files and the bundled MNIST sample."""

import gzip
import os

import numpy as np
import pytest

from keras_vae import idx
from keras_vae.errors import DataError

BUNDLED = os.path.join(os.path.dirname(idx.__file__), "bundled_data", "mnist_sample")


def idx_bytes(array, magic=None):
    """The IDX encoding of a uint8 array: magic (0x0000 08 ndim), big-endian dims, data."""
    array = np.asarray(array, dtype=np.uint8)
    if magic is None:
        magic = 0x00000800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_idx(path, array=None, *, compress=False, raw=None, magic=None):
    """Writes `array` (or the bytes `raw`) to `path`, gzipped if `compress`; returns path."""
    data = raw if raw is not None else idx_bytes(array, magic)
    if compress:
        data = gzip.compress(data)
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def make_folder(
    folder, num_train=6, num_test=4, shape=(5, 3), compress=True, seed=0, num_train_labels=None
):
    """An MNIST-format folder with random images and labels; returns the arrays written."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    suffix = ".gz" if compress else ""
    arrays = {}
    for split, n, n_labels in (
        ("train", num_train, num_train_labels or num_train),
        ("test", num_test, num_test),
    ):
        images = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
        labels = rng.integers(0, 10, n_labels, dtype=np.uint8)
        images_stem, labels_stem = idx.SPLIT_FILES[split]
        write_idx(os.path.join(folder, images_stem + suffix), images, compress=compress)
        write_idx(os.path.join(folder, labels_stem + suffix), labels, compress=compress)
        arrays[split] = (images, labels)
    return arrays


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trips_images(tmp_path, compress):
    images = np.random.default_rng(0).integers(0, 256, (4, 6, 5), dtype=np.uint8)
    path = write_idx(tmp_path / "images", images, compress=compress)
    got = idx.read_idx(path, idx.IMAGES_MAGIC)
    assert got.dtype == np.uint8
    assert got.shape == (4, 6, 5)
    np.testing.assert_array_equal(got, images)


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trips_labels(tmp_path, compress):
    labels = np.array([3, 1, 4, 1, 5, 9, 2, 6], dtype=np.uint8)
    path = write_idx(tmp_path / "labels", labels, compress=compress)
    np.testing.assert_array_equal(idx.read_idx(path, idx.LABELS_MAGIC), labels)


def test_read_idx_rejects_wrong_magic(tmp_path):
    labels = np.arange(5, dtype=np.uint8)
    path = write_idx(tmp_path / "labels", labels)
    with pytest.raises(DataError, match="magic"):
        idx.read_idx(path, idx.IMAGES_MAGIC)


def test_read_idx_rejects_garbage_magic(tmp_path):
    path = write_idx(tmp_path / "junk", raw=b"PK\x03\x04 this is a zip file, not IDX")
    with pytest.raises(DataError, match="magic"):
        idx.read_idx(path, idx.IMAGES_MAGIC)


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_rejects_truncated_data(tmp_path, compress):
    full = idx_bytes(np.zeros((3, 4, 4), dtype=np.uint8))
    path = write_idx(tmp_path / "images", raw=full[:-5], compress=compress)
    with pytest.raises(DataError, match="truncated"):
        idx.read_idx(path, idx.IMAGES_MAGIC)


def test_read_idx_rejects_truncated_header(tmp_path):
    full = idx_bytes(np.zeros((3, 4, 4), dtype=np.uint8))
    path = write_idx(tmp_path / "images", raw=full[:9])
    with pytest.raises(DataError, match="truncated"):
        idx.read_idx(path, idx.IMAGES_MAGIC)


def test_read_idx_rejects_tiny_file(tmp_path):
    path = write_idx(tmp_path / "images", raw=b"\x00\x00")
    with pytest.raises(DataError):
        idx.read_idx(path, idx.IMAGES_MAGIC)


def test_read_idx_rejects_extra_data(tmp_path):
    full = idx_bytes(np.zeros((2, 3, 3), dtype=np.uint8))
    path = write_idx(tmp_path / "images", raw=full + b"\x00\x00")
    with pytest.raises(DataError, match="data bytes"):
        idx.read_idx(path, idx.IMAGES_MAGIC)


def test_read_idx_rejects_truncated_gzip_stream(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (20, 8, 8), dtype=np.uint8)
    compressed = gzip.compress(idx_bytes(images))
    path = write_idx(tmp_path / "images.gz", raw=compressed[: len(compressed) // 2])
    with pytest.raises(DataError):
        idx.read_idx(path, idx.IMAGES_MAGIC)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        idx.read_idx(str(tmp_path / "nope"), idx.IMAGES_MAGIC)


def test_find_file_prefers_plain_then_gz(tmp_path):
    write_idx(tmp_path / "stem.gz", np.zeros(1, dtype=np.uint8), compress=True)
    assert idx.find_file(str(tmp_path), "stem") == os.path.join(str(tmp_path), "stem.gz")
    write_idx(tmp_path / "stem", np.zeros(1, dtype=np.uint8))
    assert idx.find_file(str(tmp_path), "stem") == os.path.join(str(tmp_path), "stem")


@pytest.mark.parametrize("compress", [False, True])
def test_load_split_round_trip(tmp_path, compress):
    arrays = make_folder(tmp_path / "data", compress=compress)
    for split in ("train", "test"):
        images, labels = idx.load_split(str(tmp_path / "data"), split)
        np.testing.assert_array_equal(images, arrays[split][0])
        np.testing.assert_array_equal(labels, arrays[split][1])
        assert labels.dtype == np.int64


def test_load_split_missing_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        idx.load_split(str(tmp_path / "absent"), "train")


def test_load_split_missing_file(tmp_path):
    make_folder(tmp_path / "data")
    os.remove(tmp_path / "data" / "t10k-labels-idx1-ubyte.gz")
    idx.load_split(str(tmp_path / "data"), "train")  # The train split is complete.
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        idx.load_split(str(tmp_path / "data"), "test")


def test_load_split_count_mismatch(tmp_path):
    make_folder(tmp_path / "data", num_train=6, num_train_labels=5)
    with pytest.raises(DataError, match="6 images but 5 labels"):
        idx.load_split(str(tmp_path / "data"), "train")


def test_load_split_empty(tmp_path):
    make_folder(tmp_path / "data", num_train=0)
    with pytest.raises(DataError, match="empty"):
        idx.load_split(str(tmp_path / "data"), "train")


def test_load_split_swapped_images_and_labels(tmp_path):
    folder = tmp_path / "data"
    arrays = make_folder(folder, compress=False)
    images_stem, labels_stem = idx.SPLIT_FILES["train"]
    write_idx(folder / images_stem, arrays["train"][1])  # A labels file in the images' place.
    with pytest.raises(DataError, match="magic"):
        idx.load_split(str(folder), "train")


def test_bundled_sample_train_split():
    images, labels = idx.load_split(BUNDLED, "train")
    assert images.shape == (5000, 28, 28)
    assert images.dtype == np.uint8
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(labels, minlength=10), np.full(10, 500))
    assert images.max() == 255 and images.min() == 0


def test_bundled_sample_test_split():
    images, labels = idx.load_split(BUNDLED, "test")
    assert images.shape == (10000, 28, 28)
    assert labels.shape == (10000,)
    assert labels.min() == 0 and labels.max() == 9
    assert set(np.unique(labels)) == set(range(10))
