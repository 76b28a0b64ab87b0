"""Tests of keras_vae.data: the bundled MNIST and sample, IDX folders, mocked tfds, recorded sources."""

import contextlib
import gzip
import os
import socket
import time
import warnings
from unittest import mock

import numpy as np
import pytest

from keras_vae import data, idx
from keras_vae.config import DataConfig
from keras_vae.errors import ConfigError, DataError

MOCK_EXAMPLES = 12


def _bundled_splits(binarize="none", seed=0, validation_fraction=0.1):
    return data.load_splits(
        DataConfig(
            dataset="mnist_sample", binarize=binarize, validation_fraction=validation_fraction
        ),
        seed=seed,
    )


def _is_binary(images):
    return set(np.unique(images).tolist()) <= {0, 255}


def _write_idx(path, array):
    array = np.asarray(array, dtype=np.uint8)
    header = (0x00000800 | array.ndim).to_bytes(4, "big")
    header += b"".join(d.to_bytes(4, "big") for d in array.shape)
    with open(path, "wb") as f:
        f.write(gzip.compress(header + array.tobytes()))


def _make_idx_folder(
    folder, num_train=50, num_test=20, train_shape=(28, 28), test_shape=(28, 28), seed=0
):
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    arrays = {}
    for split, n, shape in (("train", num_train, train_shape), ("test", num_test, test_shape)):
        images = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        images_stem, labels_stem = idx.SPLIT_FILES[split]
        _write_idx(os.path.join(folder, images_stem + ".gz"), images)
        _write_idx(os.path.join(folder, labels_stem + ".gz"), labels)
        arrays[split] = (images, labels)
    return arrays


@pytest.fixture(scope="module")
def bundled_train():
    return idx.load_split(data.BUNDLED_MNIST_DIR, "train")


# --- the bundled sample ---------------------------------------------------------------


def test_bundled_split_sizes_and_types():
    splits = _bundled_splits()
    assert len(splits.train_images) == len(splits.train_labels) == 4500
    assert len(splits.validation_images) == len(splits.validation_labels) == 500
    assert len(splits.test_images) == len(splits.test_labels) == 10000
    assert splits.image_shape == (28, 28)
    for images in (splits.train_images, splits.validation_images, splits.test_images):
        assert images.dtype == np.uint8
    for labels in (splits.train_labels, splits.validation_labels, splits.test_labels):
        assert labels.dtype == np.int64
    assert splits.class_names == tuple(str(i) for i in range(10))


def test_bundled_train_and_validation_partition_the_training_set(bundled_train):
    images, labels = bundled_train
    original = {image.tobytes(): int(label) for image, label in zip(images, labels)}
    assert len(original) == len(images)  # The sample has no duplicate images.
    splits = _bundled_splits()
    train = [image.tobytes() for image in splits.train_images]
    validation = [image.tobytes() for image in splits.validation_images]
    assert not set(train) & set(validation)
    assert set(train) | set(validation) == set(original)
    # Labels travel with their images.
    for key, label in zip(validation, splits.validation_labels):
        assert original[key] == label
    for key, label in zip(train[:200], splits.train_labels[:200]):
        assert original[key] == label


def test_bundled_split_is_seeded():
    first, again, other = _bundled_splits(seed=3), _bundled_splits(seed=3), _bundled_splits(seed=4)
    np.testing.assert_array_equal(first.validation_images, again.validation_images)
    np.testing.assert_array_equal(first.train_labels, again.train_labels)
    assert not np.array_equal(first.validation_images, other.validation_images)
    # The test split is never shuffled.
    np.testing.assert_array_equal(first.test_images, other.test_images)


def test_binarize_none_keeps_everything_grey():
    splits = _bundled_splits("none")
    for images in (splits.train_images, splits.validation_images, splits.test_images):
        assert not _is_binary(images)


def test_binarize_dynamic_binarizes_only_evaluation_splits():
    grey = _bundled_splits("none", seed=5)
    splits = _bundled_splits("dynamic", seed=5)
    np.testing.assert_array_equal(splits.train_images, grey.train_images)
    assert _is_binary(splits.validation_images)
    assert _is_binary(splits.test_images)
    np.testing.assert_array_equal(
        splits.validation_images, data.binarize(grey.validation_images, data.EVAL_BINARIZATION_SEED)
    )


def test_binarize_static_binarizes_train_with_the_run_seed():
    grey = _bundled_splits("none", seed=5)
    splits = _bundled_splits("static", seed=5)
    assert _is_binary(splits.train_images)
    np.testing.assert_array_equal(splits.train_images, data.binarize(grey.train_images, 5))
    assert _is_binary(splits.validation_images)
    assert _is_binary(splits.test_images)


def test_evaluation_binarization_does_not_depend_on_the_seed():
    a = _bundled_splits("dynamic", seed=0)
    b = _bundled_splits("static", seed=99)
    np.testing.assert_array_equal(a.test_images, b.test_images)
    grey_b = _bundled_splits("none", seed=99)
    np.testing.assert_array_equal(
        b.validation_images, data.binarize(grey_b.validation_images, data.EVAL_BINARIZATION_SEED)
    )


def test_binarize_draws_bernoulli_bits_with_the_right_mean(bundled_train):
    images = bundled_train[0][:1000]
    bits = data.binarize(images, seed=0)
    assert bits.shape == images.shape and bits.dtype == np.uint8
    assert _is_binary(bits)
    assert abs(bits.mean() / 255.0 - images.mean() / 255.0) < 0.005
    # Black pixels stay black and white pixels stay white.
    assert np.all(bits[images == 0] == 0)
    assert np.all(bits[images == 255] == 255)
    np.testing.assert_array_equal(bits, data.binarize(images, seed=0))
    assert not np.array_equal(bits, data.binarize(images, seed=1))


def test_bundled_source_record():
    source = _bundled_splits("dynamic").source
    assert source["kind"] == "bundled"
    assert source["name"] == "mnist_sample"
    assert source["num_train"] == 4500
    assert source["num_validation"] == 500
    assert source["num_test"] == 10000
    assert source["image_shape"] == [28, 28]
    assert source["binarize"] == "dynamic"
    assert source["eval_binarization_seed"] == data.EVAL_BINARIZATION_SEED
    assert "requested" not in source


def test_validation_fraction_sets_the_split_size():
    splits = _bundled_splits(validation_fraction=0.25)
    assert (len(splits.train_images), len(splits.validation_images)) == (3750, 1250)


# --- IDX folders ----------------------------------------------------------------------


def test_idx_folder_loads(tmp_path):
    folder = str(tmp_path / "digits")
    arrays = _make_idx_folder(folder)
    splits = data.load_splits(DataConfig(dataset="idx:" + folder, binarize="none"), seed=0)
    assert splits.train_images.shape == (45, 28, 28)
    assert splits.validation_images.shape == (5, 28, 28)
    np.testing.assert_array_equal(splits.test_images, arrays["test"][0])
    np.testing.assert_array_equal(splits.test_labels, arrays["test"][1])
    assert splits.class_names == tuple(str(i) for i in range(10))
    assert splits.source["kind"] == "idx"
    assert splits.source["name"] == "idx:" + folder
    assert splits.source["path"] == os.path.abspath(folder)
    assert splits.source["num_train"] == 45


def test_idx_folder_named_fashion_gets_fashion_class_names(tmp_path):
    folder = str(tmp_path / "fashion")
    _make_idx_folder(folder)
    arrays, class_names, _ = data.load_raw(DataConfig(dataset="idx:" + folder))
    assert class_names == data.FASHION_MNIST_CLASSES
    assert len(class_names) == 10


def test_idx_folder_with_mismatched_image_shapes(tmp_path):
    folder = str(tmp_path / "mixed")
    _make_idx_folder(folder, test_shape=(20, 20))
    with pytest.raises(DataError, match="its test examples are"):
        data.load_splits(DataConfig(dataset="idx:" + folder, binarize="none"), seed=0)


def test_idx_folder_too_small_to_split(tmp_path):
    folder = str(tmp_path / "tiny")
    _make_idx_folder(folder, num_train=1)
    with pytest.raises(DataError, match="too few"):
        data.load_splits(DataConfig(dataset="idx:" + folder, binarize="none"), seed=0)


def test_idx_folder_missing(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        data.load_raw(DataConfig(dataset="idx:" + str(tmp_path / "absent")))


# --- tfds names, mocked ---------------------------------------------------------------


@contextlib.contextmanager
def _mocked_tfds(num_examples=MOCK_EXAMPLES):
    """tfds.testing.mock_data, plus support for as_dataset(batch_size=-1).

    With MockPolicy.USE_CODE the builder has no split sizes, so tfds turns
    batch_size=-1 into batch(sys.maxsize), which aborts the process. A real,
    prepared builder knows its split sizes; the shim batches the mocked
    examples into one batch, as tfds then does.
    """
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=num_examples, policy=tfds.testing.MockPolicy.USE_CODE):
        mocked = tfds.core.DatasetBuilder.as_dataset

        def as_dataset(self, *args, batch_size=None, **kwargs):
            if batch_size == -1:
                return mocked(self, *args, batch_size=num_examples, **kwargs).get_single_element()
            return mocked(self, *args, batch_size=batch_size, **kwargs)

        with mock.patch.object(tfds.core.DatasetBuilder, "as_dataset", as_dataset):
            yield tfds


@pytest.mark.parametrize(
    "name, num_classes, some_class",
    [
        ("tfds:mnist", 10, "7"),
        ("fashion_mnist", 10, "Ankle boot"),
        ("kmnist", 10, "tsu"),
        ("emnist/letters", 37, "26"),
    ],
)
def test_tfds_names_load_offline_with_mocked_tfds(tmp_path, name, num_classes, some_class):
    urls = []
    with _mocked_tfds():
        arrays, class_names, source = data.load_raw(
            DataConfig(dataset=name, data_dir=str(tmp_path)),
            downloads_reachable=lambda url: urls.append(url) or True,
        )
    for split in ("train", "test"):
        images, labels = arrays[split]
        assert images.dtype == np.uint8
        assert images.shape == (MOCK_EXAMPLES, 28, 28)
        assert labels.dtype == np.int64
        assert labels.shape == (MOCK_EXAMPLES,)
        assert labels.min() >= 0 and labels.max() < num_classes
    assert len(class_names) == num_classes
    assert some_class in class_names
    assert source["kind"] == "tfds"
    assert source["name"] == name.removeprefix("tfds:")
    assert source["version"]
    assert len(urls) == 1 and urls[0].startswith("http")


def test_fashion_mnist_class_names_match_the_idx_fallback_names(tmp_path):
    with _mocked_tfds():
        _, class_names, _ = data.load_raw(
            DataConfig(dataset="fashion_mnist", data_dir=str(tmp_path)),
            downloads_reachable=lambda url: True,
        )
    assert class_names == data.FASHION_MNIST_CLASSES


def test_emnist_images_are_transposed_upright(tmp_path):
    with _mocked_tfds() as tfds:
        arrays, _, _ = data.load_raw(
            DataConfig(dataset="emnist/letters", data_dir=str(tmp_path)),
            downloads_reachable=lambda url: True,
        )
        builder = tfds.builder("emnist/letters", data_dir=str(tmp_path))
        raw_images, _ = tfds.as_numpy(
            builder.as_dataset(split="train", batch_size=-1, as_supervised=True)
        )
    assert not np.array_equal(raw_images[..., 0], raw_images[..., 0].transpose(0, 2, 1))
    np.testing.assert_array_equal(arrays["train"][0], raw_images[..., 0].transpose(0, 2, 1))


def test_tfds_load_splits_with_mocked_tfds(tmp_path):
    with _mocked_tfds():
        splits = data.load_splits(
            DataConfig(
                dataset="kmnist",
                data_dir=str(tmp_path),
                binarize="static",
                validation_fraction=0.25,
            ),
            seed=0,
            downloads_reachable=lambda url: True,
        )
    assert splits.train_images.shape == (9, 28, 28)
    assert splits.validation_images.shape == (3, 28, 28)
    assert splits.test_images.shape == (MOCK_EXAMPLES, 28, 28)
    assert _is_binary(splits.train_images)
    assert splits.source["kind"] == "tfds"
    assert splits.source["name"] == "kmnist"


# --- the embedded MNIST and recorded sources -------------------------------------------


@pytest.mark.slow
def test_mnist_is_the_full_official_mnist_offline(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        splits = data.load_splits(
            DataConfig(dataset="mnist", data_dir=str(tmp_path), binarize="none"),
            seed=0,
            downloads_reachable=lambda url: pytest.fail("mnist must not touch the network"),
        )
    assert len(splits.train_images) + len(splits.validation_images) == 60000
    assert len(splits.test_images) == 10000
    assert splits.source["kind"] == "bundled" and splits.source["name"] == "mnist"
    assert set(splits.source["sha256"]) == set(data.BUNDLED_FILES["mnist"])


def test_a_damaged_bundled_file_is_named(tmp_path, monkeypatch):
    copy = tmp_path / "bundled"
    (copy / "mnist_sample").mkdir(parents=True)
    for name in data.BUNDLED_FILES["mnist_sample"]:
        src = os.path.join(data.BUNDLED_DIR, "mnist_sample", name)
        (copy / "mnist_sample" / name).write_bytes(open(src, "rb").read())
    damaged = copy / "mnist_sample" / "train-labels-idx1-ubyte.gz"
    damaged.write_bytes(damaged.read_bytes()[:-3])
    monkeypatch.setattr(data, "BUNDLED_DIR", str(copy))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz is damaged") as info:
        data.load_raw(DataConfig(dataset="mnist_sample"))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "source, expected",
    [
        ({"kind": "bundled", "name": "mnist_sample", "requested": "mnist"}, "mnist_sample"),
        ({"kind": "bundled", "name": "mnist"}, "mnist"),
        ({"kind": "tfds", "name": "mnist", "version": "3.0.1"}, "tfds:mnist"),
        ({"kind": "idx", "name": "idx:rel", "path": "/abs/rel"}, "idx:/abs/rel"),
        ({}, None),
    ],
)
def test_a_recorded_source_names_the_data_it_was(source, expected):
    assert data.dataset_of_source(source) == expected


def test_a_run_that_fell_back_is_scored_on_the_sample_it_was_trained_on(tmp_path):
    # Written by an older keras_vae that fell back to the sample when tfds could not
    # download mnist: the run's config says mnist, its data source says the sample.
    from keras_vae import config as config_lib
    from keras_vae import model_dir

    run = tmp_path / "run"
    run.mkdir()
    record = config_lib.resolve(config_lib.Config(model_dir=str(run))).to_dict()
    record["data_source"] = {
        "kind": "bundled",
        "name": "mnist_sample",
        "requested": "mnist",
        "image_shape": [28, 28],
    }
    model_dir.write_json(str(run / "config.json"), record)
    splits = data.load_model_data(str(run), None, None, None, seed=0)
    assert len(splits.train_images) + len(splits.validation_images) == 5000
    assert splits.source["name"] == "mnist_sample"


def test_other_tfds_names_do_not_fall_back(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        with pytest.raises(DataError, match="fashion_mnist") as info:
            data.load_splits(
                DataConfig(dataset="fashion_mnist", data_dir=str(tmp_path), binarize="none"),
                seed=0,
                downloads_reachable=lambda url: False,
            )
    assert "cannot be reached" in str(info.value)
    assert "\n" not in str(info.value)


# --- host_reachable -------------------------------------------------------------------


def test_host_reachable_false_for_a_closed_port():
    start = time.monotonic()
    assert data.host_reachable("http://127.0.0.1:1", timeout=2.0) is False
    assert time.monotonic() - start < 2.5


def test_host_reachable_true_for_a_listening_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        assert data.host_reachable(f"http://127.0.0.1:{port}/path", timeout=2.0) is True


def test_load_splits_wants_binarize_resolved():
    with pytest.raises(ConfigError, match="binarize resolved"):
        data.load_splits(DataConfig(dataset="mnist_sample"), seed=0)
