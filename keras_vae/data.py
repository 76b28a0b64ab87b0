"""Data sets as in-memory arrays: the bundled MNIST, IDX folders, file data sets, npz files, tfds.

`load_splits` resolves a `DataConfig` to train / validation / test arrays and a
`source` record saying where they came from (written to the run's config.json).
Everything here is numpy; TensorFlow Datasets is imported only when a tfds name
is asked for. About 400 lines: every source a run can name and how its splits are
rebuilt; the file formats are read in their own modules (idx.py).
"""

import dataclasses
import hashlib
import os
import socket
import threading
import urllib.parse
from collections.abc import Callable

import numpy as np

from keras_vae import amat, frey_face, idx, image_folder, npz, tables
from keras_vae import config as config_lib
from keras_vae import model_dir as model_dir_lib
from keras_vae.errors import ConfigError, DataError, first_line

BUNDLED_DIR = os.path.join(os.path.dirname(__file__), "bundled_data")
BUNDLED_MNIST_DIR = os.path.join(BUNDLED_DIR, "mnist_sample")
# The shipped files and their sha256, checked at every load: a damaged install is named,
# never trained on. mnist's are the official files (the sums tfds checks too).
_OFFICIAL_MNIST_TEST = {
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
BUNDLED_FILES = {
    "mnist": {
        "train-images-idx3-ubyte.gz": (
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
        ),
        "train-labels-idx1-ubyte.gz": (
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
        ),
        **_OFFICIAL_MNIST_TEST,
    },
    "mnist_sample": {
        "train-images-idx3-ubyte.gz": (
            "5eb5a55b9b127e1bbeed6e0c1dcd0cbe8e2e8ef3fffe1f6f586a9c66a10bfa27"
        ),
        "train-labels-idx1-ubyte.gz": (
            "c4212cb8cf5b3856dc6a93954d0a71e872869a3ed569561ef5993f6e5a0b3bec"
        ),
        **_OFFICIAL_MNIST_TEST,
    },
}
BUNDLED_DESCRIPTIONS = {
    "mnist": "the official MNIST: 60,000 training and 10,000 test digits",
    "mnist_sample": "5,000 MNIST training digits and the official 10,000 test digits",
}
# frey_face's test images: test_fraction of the faces drawn with this seed, whatever the
# run's --seed, so that every run is scored on the same faces.
TEST_SPLIT_SEED = 4321
UNLABELLED = ("unlabelled",)
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
    """Examples with int64 labels, per split: uint8 pixels (0..255), or float32 data from
    npz files and tables, of any shape [N, ...] (grey images [N, H, W] for the MNIST
    family). An image folder's splits are `image_folder.ImageFiles`, decoded on demand."""

    train_images: np.ndarray
    train_labels: np.ndarray
    validation_images: np.ndarray
    validation_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple[str, ...]
    source: dict
    # (mean, scale) per column for standardized tables (the model takes raw rows and
    # standardizes them itself); None for every other source.
    standardization: tuple[np.ndarray, np.ndarray] | None = None

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
    split: str = "test",
    saved_model: str | None = None,
) -> DataSplits:
    """The data of a trained model, split as its run split it.

    A run (model_dir/config.json), or a SavedModel carrying its run's record, gives its
    data source, split seed, validation fraction and binarization; `dataset` replaces
    the data (to score the model on other images) only where no split of the run's
    data has to be rebuilt, i.e. for split="test". A SavedModel without a record (an
    older keras_vae's) can only be scored on a test split: `dataset` binarized as
    `binarize` says (`seed` is then unused: test images are binarized with a fixed
    seed). Raises ConfigError or DataError with one line.
    """
    run = None
    if model_dir is not None:
        run = model_dir_lib.load_run_config(model_dir)
        where = f"model_dir {model_dir}"
    elif saved_model is not None:
        run = model_dir_lib.load_saved_model_record(saved_model)
        where = f"saved_model {saved_model}"
    run_shape = None
    if run is not None:
        config, run_source = run
        # The data the run was trained on, as it recorded it, not what its name means now.
        recorded = dataset_of_source(run_source) or config.data.dataset
        data_config = dataclasses.replace(config.data, dataset=recorded)
        seed = config.train.seed
        run_shape = run_source.get("image_shape")
        if binarize is not None and binarize != config.data.binarize:
            raise ConfigError(
                f"{where} was trained with binarize={config.data.binarize}, not {binarize}; "
                "leave --binarize out to use the run's"
            )
        if data_dir is not None:
            # The same files may live elsewhere on this machine (binarized_mnist, frey_face).
            data_config = dataclasses.replace(data_config, data_dir=data_dir)
        if dataset is not None and not _same_dataset(dataset, recorded, config.data.dataset):
            if split != "test":
                raise ConfigError(
                    f"the {split} split of {where} is part of {recorded}; it cannot be "
                    f"rebuilt from {dataset} (use --split=test to score other data)"
                )
            data_config = dataclasses.replace(data_config, dataset=dataset, data_dir=data_dir)
    else:
        if split != "test":
            raise ConfigError(
                f"saved_model {saved_model} does not record its run's split seed and "
                f"validation fraction (exported by an older keras_vae), so its {split} split "
                "cannot be rebuilt; use --model_dir of its run, or --split=test"
            )
        data_config = config_lib.DataConfig(dataset=dataset, data_dir=data_dir, binarize=binarize)
    splits = load_splits(data_config, seed)
    # The run records its image shape, so other data is checked before TensorFlow
    # loads the model (a bare SavedModel is checked against its signatures later).
    if run_shape is not None:
        check_image_shape(splits.image_shape, run_shape)
    return splits


def _same_dataset(name: str, *recorded: str) -> bool:
    def normal(n):
        for prefix in config_lib.PATH_PREFIXES.values():
            if n.startswith(prefix):
                return prefix + os.path.abspath(n[len(prefix) :])
        return n

    return normal(name) in {normal(r) for r in recorded}


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
        # Batches of 10,000 rather than batch_size=-1, which tfds' mock_data (the
        # offline tests) cannot serve.
        batches = list(
            tfds.as_numpy(builder.as_dataset(split=split, as_supervised=True).batch(10_000))
        )
        images = np.concatenate([x for x, _ in batches]).astype(np.uint8, copy=False)
        labels = np.concatenate([y for _, y in batches])
        if images.ndim != 4 or images.shape[-1] not in (1, 3):
            raise DataError(
                f"tfds data set {name} does not hold grey or RGB images of one size (shape "
                f"{images.shape[1:]})"
            )
        if images.shape[-1] == 1:
            images = images[..., 0]  # Grey images are [H, W], as the MNIST family.
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


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _bundled(name: str) -> tuple[dict, tuple, dict]:
    folder = os.path.join(BUNDLED_DIR, name)
    for file_name, expected in BUNDLED_FILES[name].items():
        path = os.path.join(folder, file_name)
        try:
            actual = sha256_of(path)
        except OSError as e:
            raise DataError(f"cannot read bundled file {path}: {e.strerror}") from None
        if actual != expected:
            raise DataError(
                f"bundled file {path} is damaged (sha256 {actual[:12]}..., expected "
                f"{expected[:12]}...); reinstall keras_vae"
            )
    arrays = _load_idx_folder(folder)
    source = {
        "kind": "bundled",
        "name": name,
        "path": folder,
        "description": BUNDLED_DESCRIPTIONS[name],
        "sha256": dict(BUNDLED_FILES[name]),
    }
    return arrays, tuple(str(i) for i in range(10)), source


def _unlabelled(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return images, np.zeros(len(images), np.int64)


def _load_files(data: config_lib.DataConfig) -> tuple[dict, tuple, dict]:
    """binarized_mnist or frey_face from the files in data.data_dir (no labels either)."""
    folder = os.path.abspath(data.data_dir)
    if data.dataset == "binarized_mnist":
        paths = {split: amat.split_path(folder, split) for split in amat.SPLIT_STEMS}
        arrays = {split: _unlabelled(amat.read(path)) for split, path in paths.items()}
        extra = {"validation": "the data set's own (binarized_mnist_valid.amat)"}
    else:
        paths = {"all": frey_face.file_path(folder)}
        faces = frey_face.read(paths["all"])
        # Both splits keep the file's order (the faces come from a video).
        train, test = _held_out_test(len(faces), data.test_fraction, "faces")
        arrays = {"train": _unlabelled(faces[train]), "test": _unlabelled(faces[test])}
        extra = {"test_split": {"fraction": data.test_fraction, "seed": TEST_SPLIT_SEED}}
    source = {
        "kind": "files",
        "name": data.dataset,
        "path": folder,
        "sha256": {os.path.basename(p): sha256_of(p) for p in paths.values()},
        **extra,
    }
    return arrays, UNLABELLED, source


def _load_npz(path: str) -> tuple[dict, tuple, dict]:
    splits = npz.read(path)
    labelled = splits["train"][1] is not None
    arrays = {
        split: (x, y if y is not None else np.zeros(len(x), np.int64))
        for split, (x, y) in splits.items()
    }
    if labelled:
        count = int(max(y.max() for _, y in arrays.values())) + 1
        class_names = tuple(str(i) for i in range(count))
    else:
        class_names = UNLABELLED
    source = {
        "kind": "npz",
        "name": config_lib.NPZ_PREFIX + os.path.abspath(path),
        "path": os.path.abspath(path),
        "sha256": {os.path.basename(path): sha256_of(path)},
        "dtype": str(arrays["train"][0].dtype),
    }
    if "validation" in arrays:
        source["validation"] = "the file's own (x_validation)"
    return arrays, class_names, source


def _held_out_test(count: int, fraction: float, what: str):
    """(train indices, test indices): `fraction` of `count` examples drawn with the fixed
    TEST_SPLIT_SEED, each split in file order."""
    order = np.random.default_rng(TEST_SPLIT_SEED).permutation(count)
    num_test = max(1, round(count * fraction))
    if num_test >= count:
        raise DataError(f"{count} {what} are too few to hold out a test split")
    return np.sort(order[num_test:]), np.sort(order[:num_test])


def _load_csv(data: config_lib.DataConfig) -> tuple[dict, tuple, dict]:
    path = data.dataset[len(config_lib.CSV_PREFIX) :]
    rows, labels, columns = tables.read(path, data.label_column)
    train, test = _held_out_test(len(rows), data.test_fraction, f"rows of {path}")
    labels = np.zeros(len(rows), np.int64) if labels is None else labels
    arrays = {"train": (rows[train], labels[train]), "test": (rows[test], labels[test])}
    class_names = UNLABELLED
    if data.label_column is not None:
        class_names = tuple(str(i) for i in range(int(labels.max()) + 1))
    source = {
        "kind": "csv",
        "name": config_lib.CSV_PREFIX + os.path.abspath(path),
        "path": os.path.abspath(path),
        "sha256": {os.path.basename(path): sha256_of(path)},
        "columns": columns,
        "label_column": data.label_column,
        "test_split": {"fraction": data.test_fraction, "seed": TEST_SPLIT_SEED},
    }
    return arrays, class_names, source


def _load_images(data: config_lib.DataConfig) -> tuple[dict, tuple, dict]:
    folder = os.path.abspath(data.dataset[len(config_lib.IMAGES_PREFIX) :])
    files, labels, classes, record = image_folder.read(folder, data.image_size or None)
    train, test = _held_out_test(len(files), data.test_fraction, f"images in {folder}")
    labels = np.zeros(len(files), np.int64) if labels is None else labels
    arrays = {
        "train": (files.take(train), labels[train]),
        "test": (files.take(test), labels[test]),
    }
    source = {
        "kind": "images",
        "name": config_lib.IMAGES_PREFIX + folder,
        "path": folder,
        **record,
        "test_split": {"fraction": data.test_fraction, "seed": TEST_SPLIT_SEED},
    }
    return arrays, classes or UNLABELLED, source


def data_values(data: config_lib.DataConfig) -> str:
    """What the data hold, for likelihood=auto: "binary" (only 0 and 1), "unit" (grey
    levels or colours in [0, 1], as pixels are) or "real". Reads the file of npz: and
    csv: data; the other sources hold pixels (idx: files are MNIST-format images)."""
    kind = config_lib.dataset_kind(data.dataset)
    if data.dataset in config_lib.BINARY_DATASETS:
        return "binary"
    if kind == "csv":
        rows, _, _ = tables.read(data.dataset[len(config_lib.CSV_PREFIX) :], data.label_column)
        return "binary" if is_binary(rows) else "real"
    if kind == "npz":
        train = npz.read(data.dataset[len(config_lib.NPZ_PREFIX) :])["train"][0]
        if is_binary(train):
            return "binary"
        if train.dtype == np.uint8 or (train.min() >= 0 and train.max() <= 1):
            return "unit"
        return "real"
    return "unit"  # Pixels: the MNIST family, frey_face, tfds images, image folders.


def load_raw(
    data: config_lib.DataConfig, downloads_reachable: Callable[[str], bool] = host_reachable
) -> tuple[dict, tuple, dict]:
    """Resolves a data set name to ({'train': (x, y), 'test': (x, y)}, class names, source);
    data sets with their own validation split add 'validation': (x, y)."""
    kind = config_lib.dataset_kind(data.dataset)
    if kind == "bundled":
        return _bundled(data.dataset)
    if kind == "files":
        return _load_files(data)
    if kind == "npz":
        return _load_npz(data.dataset[len(config_lib.NPZ_PREFIX) :])
    if kind == "csv":
        return _load_csv(data)
    if kind == "images":
        return _load_images(data)
    if kind == "idx":
        folder = data.dataset[len(config_lib.IDX_PREFIX) :]
        arrays = _load_idx_folder(folder)
        source = {"kind": "idx", "name": data.dataset, "path": os.path.abspath(folder)}
        return arrays, _default_class_names(arrays["train"][1], folder), source
    name = data.dataset.removeprefix(config_lib.TFDS_PREFIX)
    return _load_tfds(name, data.data_dir, downloads_reachable)


def dataset_of_source(source: dict) -> str | None:
    """The dataset name that loads exactly the data a run recorded in config.json's
    `data_source`, or None if the record does not say.

    A run keeps its data: one that fell back to the bundled sample is scored on the
    sample, and one trained on tfds' MNIST on tfds' MNIST (whose training images come
    in another order than the embedded files, so its validation split differs).
    """
    kind = source.get("kind")
    if kind == "bundled" and source.get("name") in config_lib.BUNDLED_DATASETS:
        return source["name"]
    if kind == "files" and source.get("name") in config_lib.FILE_DATASETS:
        return source["name"]
    if kind in ("npz", "csv", "images") and source.get("path"):
        return config_lib.PATH_PREFIXES[kind] + source["path"]
    if kind == "idx" and source.get("path"):
        return config_lib.IDX_PREFIX + source["path"]
    if kind == "tfds" and source.get("name"):
        return config_lib.TFDS_PREFIX + source["name"]
    return None


def unit_floats(images: np.ndarray) -> np.ndarray:
    """Stored examples as the model takes them: uint8 pixels / 255, float data as it is
    (an image folder's files are decoded: pass a few)."""
    if isinstance(images, image_folder.ImageFiles):
        images = images[:]
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    return images.astype(np.float32, copy=False)


def pixel_means(images, chunk: int = 4096) -> np.ndarray:
    """Per-pixel mean of `images` as the model takes them (`unit_floats`), float32 of one
    image's shape, read `chunk` examples at a time (an image folder streams from disk).
    For dynamically binarized training images it is also the mean of their bits."""
    total = np.zeros(images.shape[1:], np.float64)
    for start in range(0, len(images), chunk):
        total += unit_floats(images[start : start + chunk]).sum(axis=0, dtype=np.float64)
    return (total / max(len(images), 1)).astype(np.float32)


def is_binary(images: np.ndarray, one: float | None = None) -> bool:
    """Whether `images` hold only values 0 and 1: 0 and 255 for uint8 images, 0 and 1.0
    for floats (or 0 and `one`)."""
    one = (255 if images.dtype == np.uint8 else 1.0) if one is None else one
    return bool(np.all((images == 0) | (images == one)))


def binarize(images: np.ndarray, seed: int) -> np.ndarray:
    """One stochastic binarization: value ~ Bernoulli(intensity), returned as 0 or 255 for
    uint8 pixels (intensity = pixel / 255) and as 0.0 or 1.0 for float data in [0, 1]."""
    rng = np.random.default_rng(seed)
    on = rng.random(images.shape, dtype=np.float32) < unit_floats(images)
    if images.dtype == np.uint8:
        return np.where(on, 255, 0).astype(np.uint8)
    return on.astype(np.float32)


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
    if data.binarize == "auto":
        raise ConfigError(
            "load_splits needs binarize resolved: 'dynamic' (or 'static') for a Bernoulli "
            "model, 'none' for a Gaussian one (config.resolve does it for a whole Config)"
        )
    arrays, class_names, source = load_raw(data, downloads_reachable)
    train_images, train_labels = arrays["train"]
    test_images, test_labels = arrays["test"]
    if train_images.shape[1:] != test_images.shape[1:]:
        raise DataError(
            f"{data.dataset}: its training examples are {tuple(train_images.shape[1:])} but its "
            f"test examples are {tuple(test_images.shape[1:])}"
        )
    if "validation" in arrays:
        validation_images, validation_labels = arrays["validation"]
        fit_labels = train_labels
        num_train, num_validation = len(train_images), len(validation_images)
    else:
        order = np.random.default_rng(seed).permutation(len(train_images))
        num_validation = max(1, round(len(order) * data.validation_fraction))
        if num_validation >= len(order):
            raise DataError(
                f"{len(order)} training images are too few to hold out "
                f"{data.validation_fraction:.0%} for validation"
            )
        fit_index, validation_index = order[:-num_validation], order[-num_validation:]
        validation_images = _take(train_images, validation_index)
        validation_labels = train_labels[validation_index]
        train_images, fit_labels = _take(train_images, fit_index), train_labels[fit_index]
        num_train = len(fit_index)
    if data.binarize in ("static", "dynamic"):
        validation_images = binarize(validation_images, EVAL_BINARIZATION_SEED)
        test_images = binarize(test_images, EVAL_BINARIZATION_SEED + 1)
    if data.binarize == "static":
        train_images = binarize(train_images, seed)
    standardization = None
    if source["kind"] == "csv" and not is_binary(train_images):
        # The training split's statistics: the validation and test rows are scaled as
        # new rows would be. The model applies them (it takes raw rows).
        standardization = tables.standardization(train_images)
    source = {
        **source,
        "standardized": standardization is not None,
        "num_train": num_train,
        "num_validation": num_validation,
        "num_test": len(test_images),
        "image_shape": list(train_images.shape[1:]),
        # False where the data set has no labels (its labels are all 0, class "unlabelled").
        "labelled": class_names != UNLABELLED,
        "binarize": data.binarize,
        "eval_binarization_seed": EVAL_BINARIZATION_SEED,
    }
    return DataSplits(
        train_images,
        fit_labels,
        validation_images,
        validation_labels,
        test_images,
        test_labels,
        class_names,
        source,
        standardization,
    )


def _take(examples, indices):
    """examples[indices], staying on disk for an image folder."""
    if isinstance(examples, image_folder.ImageFiles):
        return examples.take(indices)
    return examples[indices]
