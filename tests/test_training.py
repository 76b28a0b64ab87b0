"""One short training run writes a complete model directory; an existing run is never touched."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

from conftest import tiny_config
from keras_vae import model_dir, training
from keras_vae.errors import ModelDirError


@pytest.fixture(scope="module")
def run(tmp_path_factory, request):
    # Module-scoped: one run (a few seconds) serves every test here and in test_export.
    from conftest import synthetic_digits, write_idx

    root = tmp_path_factory.mktemp("training")
    folder = root / "idx"
    folder.mkdir()
    for split, n, seed in (("train", 200, 0), ("t10k", 60, 1)):
        images, labels = synthetic_digits(n, seed)
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", labels)
    path = root / "run"
    metrics = training.train_and_evaluate(tiny_config(path, f"idx:{folder}", epochs=3))
    return str(path), metrics


def _scalars(folder):
    acc = event_accumulator.EventAccumulator(folder, size_guidance={"tensors": 0, "images": 0})
    acc.Reload()
    return acc


def test_model_directory_layout(run):
    path, _ = run
    for name in ("config.json", "metrics.json", "checkpoints/latest.keras",
                 "checkpoints/best.keras", "saved_model/saved_model.pb",
                 "figures/reconstruction.png", "figures/samples.png",
                 "figures/encodings.png", "figures/manifold.png"):
        assert os.path.isfile(os.path.join(path, name)), name
    leftovers = [n for _, _, files in os.walk(path) for n in files if n.startswith(".tmp")]
    assert not leftovers and not os.path.exists(os.path.join(path, "saved_model.tmp"))


def test_config_records_the_resolved_config_and_data_source(run):
    path, _ = run
    with open(os.path.join(path, "config.json")) as f:
        written = json.load(f)
    assert written["data"]["binarize"] == "dynamic"  # "auto", resolved for a Bernoulli model
    assert written["data_source"]["kind"] == "idx"
    assert written["data_source"]["num_train"] == 180
    assert written["data_source"]["num_validation"] == 20
    assert written["model"]["hidden_units"] == [16]
    assert "tensorflow" in written["versions"]


def test_metrics_hold_each_split(run):
    path, metrics = run
    with open(os.path.join(path, "metrics.json")) as f:
        assert json.load(f) == metrics
    for split in ("train", "validation", "test"):
        m = metrics[split]
        assert m["elbo"] == pytest.approx(-(m["reconstruction"] + m["kl"]), rel=1e-4)
        assert 0 < m["reconstruction"] < 784 * np.log(2) + 1
        assert m["kl"] >= 0
    assert metrics["epochs"] == 3


def test_tensorboard_logs_scalars_and_images(run):
    path, _ = run
    logs = os.path.join(path, "logs")
    train = _scalars(os.path.join(logs, "train")).Tags()["tensors"]
    validation = _scalars(os.path.join(logs, "validation")).Tags()["tensors"]
    for tag in ("loss", "reconstruction", "kl", "elbo"):
        assert f"epoch_{tag}" in train and f"epoch_{tag}" in validation
    assert "epoch_beta" in train and "epoch_learning_rate" in train
    images = _scalars(os.path.join(logs, "images"))
    tags = images.Tags()["tensors"]
    assert {"reconstructions", "samples"} <= set(tags)
    # image_every_epochs=1: one image per epoch.
    assert len(images.Tensors("samples")) == 3


def test_best_checkpoint_loads(run):
    import keras

    path, _ = run
    model = keras.saving.load_model(os.path.join(path, "checkpoints", "best.keras"))
    assert model.latent_dims == 2


def test_existing_run_is_refused_and_left_intact(run):
    path, _ = run
    before = {n: os.path.getmtime(os.path.join(d, n)) for d, _, fs in os.walk(path) for n in fs}
    with pytest.raises(ModelDirError, match="already holds a keras_vae run"):
        training.train_and_evaluate(tiny_config(path, "mnist_sample"))
    after = {n: os.path.getmtime(os.path.join(d, n)) for d, _, fs in os.walk(path) for n in fs}
    assert before == after


def test_model_dir_under_a_file_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ModelDirError, match="not a directory"):
        model_dir.check_writable(str(blocker / "run"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only folders")
def test_read_only_parent_is_refused(tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    with pytest.raises(ModelDirError, match="not writable"):
        model_dir.check_writable(str(parent / "run"))


def test_reuses_run_fixture_for_export(run):
    assert tf.saved_model.contains_saved_model(os.path.join(run[0], "saved_model"))
