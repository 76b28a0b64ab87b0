"""Shared fixtures: tiny synthetic MNIST-format data and tiny configs, so tests take seconds."""

import gzip
import os
import struct

import numpy as np
import pytest

from keras_vae import config as config_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(os.path.dirname(REPO), "shared", "data")


# The tf.distribute tests mirror over this many logical CPU devices.
LOGICAL_CPUS = 2


def pytest_configure(config):
    # Logical devices can only be set before TensorFlow's runtime starts, so here, once
    # per session. Unless asked, TensorFlow still places every op on the first one.
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * LOGICAL_CPUS
    )


def write_idx(path, array, gz=True):
    """Writes a uint8 array as an IDX file (magic 0x0803 for 3-D, 0x0801 for 1-D)."""
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.tobytes()
    with open(path, "wb") as f:
        f.write(gzip.compress(payload) if gz else payload)


def synthetic_digits(n, seed, size=28):
    """Blurry bars whose position depends on the label: learnable, unlike noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    images = np.zeros((n, size, size), np.float32)
    for i, label in enumerate(labels):
        row = 2 + 2 * label
        images[i, row : row + 4, 4 : size - 4] = 1.0
    images += 0.2 * rng.random(images.shape)
    return (np.clip(images, 0, 1) * 255).astype(np.uint8), labels.astype(np.uint8)


def _write_synthetic_folder(folder, train=200, test=60):
    folder.mkdir()
    for split, n, seed in (("train", train, 0), ("t10k", test, 1)):
        images, labels = synthetic_digits(n, seed)
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", labels)
    return folder


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """One 3-epoch run on synthetic data, shared by the tests that inspect a model directory.

    Returns (model directory, metrics).
    """
    from keras_vae import training  # Imports TensorFlow: only for tests that need it.

    root = tmp_path_factory.mktemp("training")
    folder = _write_synthetic_folder(root / "idx")
    path = root / "run"
    metrics = training.train_and_evaluate(tiny_config(path, f"idx:{folder}", epochs=3))
    return str(path), metrics


def tiny_config(model_dir, dataset, **overrides):
    """A config that trains in about a second: a Bernoulli model (the tests of the
    literature's protocol), unless `likelihood` says otherwise."""
    model = dict(latent_dims=2, hidden_units=(16,), likelihood="bernoulli")
    train = dict(epochs=2, batch_size=50, verbose=0, image_every_epochs=1)
    for key, value in overrides.items():
        (model if key in config_lib.ModelConfig.__dataclass_fields__ else train)[key] = value
    return config_lib.Config(
        model=config_lib.ModelConfig(**model),
        data=config_lib.DataConfig(dataset=dataset),
        train=config_lib.TrainConfig(**train),
        model_dir=str(model_dir),
    )
