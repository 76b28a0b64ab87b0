"""Data sets as in-memory uint8 arrays: tfds names, IDX folders and the bundled MNIST sample.

`load_splits` resolves a `DataConfig` to train / validation / test arrays and a
`source` record saying where they came from (written to the run's config.json).
Everything here is numpy; TensorFlow Datasets is imported only when a tfds name
is asked for.
"""

import dataclasses
import os
import socket
import threading
import urllib.parse
import warnings
from collections.abc import Callable

import numpy as np

from keras_vae import config as config_lib
from keras_vae import idx
from keras_vae import model_dir as model_dir_lib
from keras_vae.errors import DataError, first_line

BUNDLED_MNIST_DIR = os.path.join(os.path.dirname(__file__), "bundled_data", "mnist_sample")
# Validation and test images of binary-likelihood runs are binarized once with this
# seed, whatever the run's --seed, so that every run is scored on the same bits.
EVAL_BINARIZATION_SEED = 1234
CONNECT_TIMEOUT_SECONDS = 3.0

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


@dataclasses.dataclass
class DataSplits:
    """Images as uint8 [N, H, W] (0..255) with int64 labels, per split."""

    train_images: np.ndarray
    train_labels: np.ndarray
    validation_images: np.ndarray
    validation_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple[str, ...]
    source: dict

    @property
    def image_shape(self) -> tuple[int, int]:
        return tuple(self.train_images.shape[1:])

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(images, labels) of "train", "validation" or "test", as the model is scored on them."""
        if name == "train":
            return self.training_images_for_evaluation(), self.train_labels
        if name == "validation":
            return self.validation_images, self.validation_labels
        if name == "test":
            return self.test_images, self.test_labels
        raise ValueError(f"unknown split {name!r}: expected train, validation or test")

    def training_images_for_evaluation(self) -> np.ndarray:
        """The training images as they are scored: dynamically binarized runs train on
        fresh bits each step, so their training ELBO is reported on one fixed draw."""
        if self.source["binarize"] == "dynamic":
            return binarize(self.train_images, EVAL_BINARIZATION_SEED + 2)
        return self.train_images


def load_model_data(
    model_dir: str | None,
    dataset: str | None,
    data_dir: str | None,
    binarize: str | None,
    seed: int,
) -> DataSplits:
    """The data of a trained model: its run's data (from model_dir/config.json, with the
    run's seed), or `dataset` (overriding the run's) binarized as `binarize` says."""
    run_shape = None
    if model_dir is not None:
        run, run_source = model_dir_lib.load_run_config(model_dir)
        data_config, seed = run.data, run.train.seed
        run_shape = run_source.get("image_shape")
    else:
        data_config = config_lib.DataConfig(dataset=dataset, binarize=binarize)
    if dataset is not None:
        data_config = dataclasses.replace(data_config, dataset=dataset, data_dir=data_dir)
    splits = load_splits(data_config, seed)
    # The run records its image shape, so other data is checked before TensorFlow
    # loads the model (a bare SavedModel is checked against its signatures later).
    if run_shape is not None:
        check_image_shape(splits.image_shape, run_shape)
    return splits


def check_image_shape(data_shape, model_shape) -> None:
    """Raises DataError unless images of `data_shape` ([H, W]) fit a model of `model_shape`."""
    if tuple(data_shape) != tuple(model_shape):
        raise DataError(
            f"the data's images are {tuple(data_shape)} but the model takes {tuple(model_shape)}"
        )


def host_reachable(url: str, timeout: float = CONNECT_TIMEOUT_SECONDS) -> bool:
    """Whether a TCP connection to `url`'s host opens within `timeout` seconds.

    Name resolution can hang far longer than a connect timeout on machines without
    network, so the whole attempt runs in a daemon thread that is abandoned if late.
    Setting KERAS_VAE_OFFLINE=1 answers False without touching the network.
    """
    if os.environ.get("KERAS_VAE_OFFLINE", "") not in ("", "0"):
        return False
    parsed = urllib.parse.urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    result = []

    def attempt():
        try:
            with socket.create_connection((parsed.hostname, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def _load_tfds(
    name: str, data_dir: str | None, downloads_reachable: Callable[[str], bool]
) -> tuple[dict, tuple, dict]:
    """Loads both splits of a tfds data set, downloading it if needed and possible."""
    import tensorflow_datasets as tfds  # Slow to import; only tfds names need it.

    builder = tfds.builder(name, data_dir=data_dir)
    if not builder.is_prepared():
        url = getattr(type(builder), "URL", None) or "https://storage.googleapis.com"
        if not downloads_reachable(url):
            raise DataError(
                f"tfds data set {name} is not prepared in {builder.data_dir} and its download "
                f"host ({urllib.parse.urlparse(url).hostname}) cannot be reached"
            )
        try:
            builder.download_and_prepare()
        except Exception as e:  # tfds raises many kinds; a broken download is one problem.
            raise DataError(f"downloading tfds data set {name} failed: {first_line(e)}") from e
    arrays = {}
    for split in ("train", "test"):
        images, labels = tfds.as_numpy(
            builder.as_dataset(split=split, batch_size=-1, as_supervised=True)
        )
        images = np.asarray(images, dtype=np.uint8)
        if images.ndim != 4 or images.shape[-1] != 1:
            raise DataError(
                f"tfds data set {name} does not hold grey-scale images (shape {images.shape[1:]})"
            )
        images = images[..., 0]
        if name.startswith("emnist"):
            # tfds stores EMNIST as NIST wrote it: mirrored and rotated. Transposing
            # gives upright characters, as for MNIST.
            images = np.ascontiguousarray(images.transpose(0, 2, 1))
        arrays[split] = (images, np.asarray(labels, dtype=np.int64))
    class_names = tuple(builder.info.features["label"].names)
    source = {
        "kind": "tfds",
        "name": name,
        "data_dir": str(builder.data_dir),
        "version": str(builder.version),
    }
    return arrays, class_names, source


def _load_idx_folder(folder: str) -> dict:
    return {split: idx.load_split(folder, split) for split in ("train", "test")}


def _default_class_names(labels: np.ndarray, folder: str) -> tuple[str, ...]:
    count = int(labels.max()) + 1
    if "fashion" in os.path.basename(os.path.normpath(folder)).lower() and count == 10:
        return FASHION_MNIST_CLASSES
    return tuple(str(i) for i in range(count))


def _bundled() -> tuple[dict, tuple, dict]:
    arrays = _load_idx_folder(BUNDLED_MNIST_DIR)
    source = {
        "kind": "bundled",
        "name": config_lib.BUNDLED_DATASET,
        "path": BUNDLED_MNIST_DIR,
        "description": "5,000 MNIST training digits and the official 10,000 test digits",
    }
    return arrays, tuple(str(i) for i in range(10)), source


def load_raw(
    data: config_lib.DataConfig, downloads_reachable: Callable[[str], bool] = host_reachable
) -> tuple[dict, tuple, dict]:
    """Resolves a data set name to ({'train': (x, y), 'test': (x, y)}, class names, source)."""
    kind = config_lib.dataset_kind(data.dataset)
    if kind == "bundled":
        return _bundled()
    if kind == "idx":
        folder = data.dataset[len(config_lib.IDX_PREFIX) :]
        arrays = _load_idx_folder(folder)
        source = {"kind": "idx", "name": data.dataset, "path": os.path.abspath(folder)}
        return arrays, _default_class_names(arrays["train"][1], folder), source
    try:
        return _load_tfds(data.dataset, data.data_dir, downloads_reachable)
    except DataError as e:
        if data.dataset != "mnist":
            raise
        # MNIST is the default: a user without network still gets a run, on real digits.
        message = (
            f"{e}; using the bundled MNIST sample instead (5,000 training "
            f"digits, not 60,000: numbers are not comparable with full-MNIST results)"
        )
        warnings.warn(message, stacklevel=2)
        arrays, class_names, source = _bundled()
        return arrays, class_names, {**source, "requested": "mnist", "fallback_reason": str(e)}


def binarize(images: np.ndarray, seed: int) -> np.ndarray:
    """One stochastic binarization: pixel ~ Bernoulli(intensity / 255), returned as 0 or 255."""
    rng = np.random.default_rng(seed)
    probabilities = images.astype(np.float32) / 255.0
    return np.where(rng.random(images.shape, dtype=np.float32) < probabilities, 255, 0).astype(
        np.uint8
    )


def load_splits(
    data: config_lib.DataConfig,
    seed: int,
    downloads_reachable: Callable[[str], bool] = host_reachable,
) -> DataSplits:
    """Loads, splits and (per `data.binarize`) binarizes a data set.

    The validation split is a seeded random `validation_fraction` of the training
    set. With "static" the training images are binarized once with `seed`; with
    "dynamic" they stay grey-scale and the model draws fresh bits at every step.
    Either way validation and test images are binarized once with a fixed seed.
    """
    arrays, class_names, source = load_raw(data, downloads_reachable)
    train_images, train_labels = arrays["train"]
    test_images, test_labels = arrays["test"]
    if train_images.shape[1:] != test_images.shape[1:]:
        raise DataError(
            f"train images are {train_images.shape[1:]} but test images are {test_images.shape[1:]}"
        )
    order = np.random.default_rng(seed).permutation(len(train_images))
    num_validation = max(1, round(len(order) * data.validation_fraction))
    if num_validation >= len(order):
        raise DataError(
            f"{len(order)} training images are too few to hold out "
            f"{data.validation_fraction:.0%} for validation"
        )
    fit_index, validation_index = order[:-num_validation], order[-num_validation:]
    validation_images = train_images[validation_index]
    train_images = train_images[fit_index]
    if data.binarize in ("static", "dynamic"):
        validation_images = binarize(validation_images, EVAL_BINARIZATION_SEED)
        test_images = binarize(test_images, EVAL_BINARIZATION_SEED + 1)
    if data.binarize == "static":
        train_images = binarize(train_images, seed)
    source = {
        **source,
        "num_train": len(fit_index),
        "num_validation": len(validation_index),
        "num_test": len(test_images),
        "image_shape": list(train_images.shape[1:]),
        "binarize": data.binarize,
        "eval_binarization_seed": EVAL_BINARIZATION_SEED,
    }
    return DataSplits(
        train_images,
        train_labels[fit_index],
        validation_images,
        train_labels[validation_index],
        test_images,
        test_labels,
        class_names,
        source,
    )
