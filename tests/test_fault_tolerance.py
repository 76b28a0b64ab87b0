"""Fault tolerance: resuming after a crash or a SIGKILL, stopping on a NaN loss without
touching the saved models, deterministic runs, and a numerically safe log-variance."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from conftest import REPO, _write_synthetic_folder, tiny_config

from keras_vae import backup, training
from keras_vae.errors import ModelDirError, TrainingError
from keras_vae.layers import Encoder
from keras_vae.model import VAE


class Crash(Exception):
    pass


class CrashAt(keras.callbacks.Callback):
    """Raises in the middle of epoch `epoch` (counted from 0), as a kill would."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch
        self.current = -1

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch:
            raise Crash(f"crash in epoch {self.epoch}")


def checkpoint_weights(path):
    model = keras.saving.load_model(os.path.join(path, "checkpoints", "latest.keras"))
    return model.get_weights()


def files_of(path):
    """Every file under `path` with its content hash."""
    return {
        os.path.relpath(os.path.join(d, n), path): hashlib.sha256(
            open(os.path.join(d, n), "rb").read()
        ).hexdigest()
        for d, _, names in os.walk(path)
        for n in names
    }


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return _write_synthetic_folder(tmp_path_factory.mktemp("ft") / "idx", train=400)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"prior": "vamp", "num_pseudo_inputs": 5},
        {"latent_dims": 4, "top_latent_dims": 2, "top_hidden_units": (6,)},
        {"conditional": True},
        {"likelihood": "continuous_bernoulli"},
        # Patience 1 at a learning rate of 0.3: the early stop's count crosses the crash.
        {"early_stopping_epochs": 1, "learning_rate": 0.3},
    ],
    ids=["standard", "vamp", "two-layers", "conditional", "continuous-bernoulli", "early-stop"],
)
def test_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path, data, options):
    settings = dict(epochs=4, steps_per_execution=2, **options)
    whole = training.train_and_evaluate(tiny_config(tmp_path / "whole", f"idx:{data}", **settings))

    path = tmp_path / "resumed"
    config = tiny_config(path, f"idx:{data}", **settings)
    with pytest.raises(Crash):
        training.train_and_evaluate(config, callbacks=(CrashAt(2),))
    assert backup.latest_epoch(str(path / "backup")) == 2
    assert not (path / "metrics.json").exists()
    resumed = training.train_and_evaluate(config)

    assert resumed["resumed_after_epoch"] == 2
    # The same steps from the same state: bitwise the same weights and test loss.
    for a, b in zip(checkpoint_weights(tmp_path / "whole"), checkpoint_weights(path)):
        np.testing.assert_array_equal(a, b)
    assert resumed["test"] == whole["test"]
    assert not (path / "backup").exists()  # A finished run needs no backup.


def test_a_run_with_other_settings_is_not_resumed(tmp_path, data):
    path = tmp_path / "run"
    with pytest.raises(Crash):
        training.train_and_evaluate(
            tiny_config(path, f"idx:{data}", epochs=3), callbacks=(CrashAt(1),)
        )
    before = files_of(path)
    with pytest.raises(ModelDirError, match=r"other settings \(model.latent_dims: 2 there, 3 now"):
        training.train_and_evaluate(tiny_config(path, f"idx:{data}", epochs=3, latent_dims=3))
    assert files_of(path) == before


class PoisonAt(keras.callbacks.Callback):
    """Makes the decoder's output weights NaN at the start of epoch `epoch`, and records
    the checkpoint files as they were just before."""

    def __init__(self, epoch, path):
        super().__init__()
        self.epoch, self.path, self.before = epoch, path, None

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            self.before = files_of(os.path.join(self.path, "checkpoints"))
            kernel = self.model.decoder.output_head.kernel
            kernel.assign(np.full(kernel.shape, np.nan, np.float32))


def test_nan_loss_stops_training_and_keeps_the_saved_models(tmp_path, data):
    path = tmp_path / "run"
    poison = PoisonAt(2, str(path))
    config = tiny_config(path, f"idx:{data}", epochs=4, steps_per_execution=1)
    with pytest.raises(TrainingError, match=r"loss became nan in epoch 3, step 1;"):
        training.train_and_evaluate(config, callbacks=(poison,))
    assert files_of(path / "checkpoints") == poison.before
    assert poison.before.keys() == {"best.keras", "latest.keras"}
    assert not (path / "saved_model").exists() and not (path / "metrics.json").exists()
    assert backup.latest_epoch(str(path / "backup")) == 2
    best = keras.saving.load_model(str(path / "checkpoints" / "best.keras"))
    assert all(np.isfinite(w).all() for w in best.get_weights())


def test_log_variance_stays_in_a_safe_range():
    model = VAE(latent_dims=2, hidden_units=(8,))
    head = model.encoder.log_variance_head
    images = np.full((3, 28, 28), 0.5, np.float32)
    for bias in (1e4, -1e4):
        head.bias.assign(np.full(2, bias, np.float32))
        _, log_variance = model.encode(images)
        assert np.all(np.abs(np.asarray(log_variance)) == Encoder.LOG_VARIANCE_LIMIT)
        terms = model.objective_terms(images)
        assert np.all(np.isfinite(np.asarray(terms["kl"])))
        assert np.all(np.isfinite(np.asarray(terms["reconstruction"])))


def _train_command(path, data, *extra):
    return [
        sys.executable,
        "-m",
        "keras_vae.train",
        f"--dataset=idx:{data}",
        f"--model_dir={path}",
        "--latent_dims=2",
        "--hidden_units=16",
        "--batch_size=50",
        "--verbose=0",
        *extra,
    ]


def _run(command):
    env = {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_sigkill_mid_epoch_then_rerun_resumes(tmp_path):
    # Enough data that an epoch lasts long enough to be killed in.
    data = _write_synthetic_folder(tmp_path / "idx", train=3000)
    path = tmp_path / "run"
    command = _train_command(path, data, "--epochs=6", "--steps_per_execution=1")
    env = {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while backup.latest_epoch(str(path / "backup")) < 2:
        assert process.poll() is None, process.stdout.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no backup of epoch 2 within 300 s"
        time.sleep(0.05)
    time.sleep(0.2)  # Into the next epoch.
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_after = backup.latest_epoch(str(path / "backup"))
    assert 2 <= killed_after < 6
    assert not (path / "metrics.json").exists()

    result = _run(command)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"resuming after epoch {killed_after}" in result.stdout
    metrics = json.loads((path / "metrics.json").read_text())
    assert metrics["resumed_after_epoch"] == killed_after
    assert len(metrics) > 0 and np.isfinite(metrics["test"]["elbo"])
    # A readable model directory: the SavedModel loads and serves, nothing half-written.
    import tensorflow as tf

    served = tf.saved_model.load(str(path / "saved_model"))
    images = tf.zeros([2, 28, 28])
    assert served.signatures["reconstruct"](images=images)["images"].shape == (2, 28, 28)
    leftovers = [n for n in files_of(path) if ".tmp" in n]
    assert leftovers == [] and not (path / "backup").exists()


@pytest.mark.slow
def test_deterministic_runs_give_bitwise_identical_weights(tmp_path):
    data = _write_synthetic_folder(tmp_path / "idx")
    weights = []
    for name in ("a", "b"):
        result = _run(_train_command(tmp_path / name, data, "--epochs=2", "--deterministic"))
        assert result.returncode == 0, result.stderr[-2000:]
        assert json.loads((tmp_path / name / "config.json").read_text())["train"]["deterministic"]
        weights.append(checkpoint_weights(tmp_path / name))
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_checkpoints_load_in_safe_mode(tmp_path):
    import keras_vae

    model = VAE(latent_dims=2, hidden_units=(8,))
    model.save(tmp_path / "vae.keras")
    loaded = keras_vae.load_checkpoint(str(tmp_path / "vae.keras"))
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)

    # A Lambda layer's Python code would be unpickled to load it: safe mode refuses.
    inputs = keras.Input((2,))
    unsafe = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    unsafe.save(tmp_path / "lambda.keras")
    with pytest.raises(ModelDirError, match="cannot load checkpoint .*unsafe"):
        keras_vae.load_checkpoint(str(tmp_path / "lambda.keras"))
    (tmp_path / "text.keras").write_text("not a zip")
    with pytest.raises(ModelDirError, match="not a .keras file"):
        keras_vae.load_checkpoint(str(tmp_path / "text.keras"))


def test_the_newest_backup_is_never_one_being_written(tmp_path):
    for name in ("epoch-0002", "epoch-0010", "epoch-0011.tmp", "notes"):
        (tmp_path / name).mkdir()
    assert backup.newest(str(tmp_path)) == str(tmp_path / "epoch-0010")
    assert backup.latest_epoch(str(tmp_path)) == 10
    assert backup.newest(str(tmp_path / "absent")) is None
