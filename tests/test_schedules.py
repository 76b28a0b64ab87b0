"""KL warm-up and capacity schedules: the pure functions, the callback in a fit, checkpoints, logs."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import _write_synthetic_folder, synthetic_digits, tiny_config
from tensorboard.backend.event_processing import event_accumulator

from keras_vae import callbacks, learning_rates, objectives, training
from keras_vae.model import VAE


def _bits(n=64):
    return (synthetic_digits(n, seed=0)[0] > 127).astype(np.float32)


def test_kl_weight_ramps_from_zero_to_beta_over_the_warmup_epochs():
    # beta_e = beta * min(1, e / N): epoch 0 trains without the KL, epoch N is the first at beta.
    assert [objectives.kl_weight_at(e, 2.0, 4) for e in range(6)] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0]


def test_no_warmup_is_beta_from_the_start():
    assert [objectives.kl_weight_at(e, 0.7, 0) for e in range(3)] == [0.7, 0.7, 0.7]


def test_capacity_ramps_from_zero_to_its_maximum():
    assert [objectives.capacity_at(e, 25.0, 5) for e in range(7)] == [0, 5, 10, 15, 20, 25, 25]
    assert objectives.capacity_at(0, 25.0, 0) == 25.0


def test_first_settled_epoch():
    assert objectives.first_settled_epoch() == 0
    assert objectives.first_settled_epoch(0, 0) == 0
    assert objectives.first_settled_epoch(4, 0) == 4
    assert objectives.first_settled_epoch(3, 7) == 7


def test_negative_epoch_is_an_error():
    with pytest.raises(ValueError, match="epoch"):
        objectives.kl_weight_at(-1, 1.0, 4)


def test_warmup_in_a_fit_raises_beta_once_per_epoch():
    keras.utils.set_random_seed(0)
    model = VAE(latent_dims=2, hidden_units=(16,), beta=2.0, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(
        _bits(),
        batch_size=32,
        epochs=6,
        verbose=0,
        shuffle=False,
        callbacks=[callbacks.ObjectiveSchedule(kl_warmup_epochs=4)],
    ).history
    assert history["beta"] == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.0])
    # Each epoch's loss is weighted by that epoch's beta (means are linear in the terms).
    expected = np.array(history["reconstruction"]) + np.array(history["beta"]) * history["kl"]
    np.testing.assert_allclose(history["loss"], expected, rtol=1e-4)


def test_capacity_in_a_fit_rises_once_per_epoch():
    keras.utils.set_random_seed(0)
    model = VAE(latent_dims=2, hidden_units=(16,), capacity_max=6.0, capacity_gamma=2.0, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(
        _bits(),
        batch_size=64,
        epochs=4,
        verbose=0,
        callbacks=[callbacks.ObjectiveSchedule(capacity_epochs=2)],
    ).history
    assert history["capacity"] == pytest.approx([0.0, 3.0, 6.0, 6.0])
    assert "beta" not in history  # The capacity objective has no KL weight to report.


class _RecordingCheckpoints(callbacks.Checkpoints):
    def __init__(self, **kwargs):
        super().__init__("unused", **kwargs)
        self.saved = []

    def _save(self, name):
        self.saved.append(name)


@pytest.mark.parametrize(
    "settled_epoch, best_epochs", [(0, [0, 1, 4]), (2, [0, 1, 2, 4]), (3, [0, 1, 2, 3, 4])]
)
def test_best_checkpoint_ignores_losses_of_a_changing_objective(settled_epoch, best_epochs):
    checkpoints = _RecordingCheckpoints(settled_epoch=settled_epoch)
    saved_best = []
    for epoch, val_loss in enumerate([5.0, 3.0, 4.0, 6.0, 2.0]):
        checkpoints.saved.clear()
        checkpoints.on_epoch_end(epoch, {"val_loss": val_loss})
        if "best.keras" in checkpoints.saved:
            saved_best.append(epoch)
    assert saved_best == best_epochs


def test_training_run_logs_the_schedule_and_records_it(tmp_path):
    folder = _write_synthetic_folder(tmp_path / "idx")
    path = tmp_path / "run"
    config = tiny_config(
        path,
        f"idx:{folder}",
        epochs=3,
        num_samples=2,
        capacity_max=6.0,
        capacity_gamma=10.0,
        capacity_epochs=2,
    )
    metrics = training.train_and_evaluate(config)
    with open(path / "config.json") as f:
        written = json.load(f)
    assert written["model"]["capacity_max"] == 6.0 and written["model"]["num_samples"] == 2
    assert written["train"]["capacity_epochs"] == 2
    assert written["train"]["kl_warmup_epochs"] == 0
    acc = event_accumulator.EventAccumulator(
        os.path.join(path, "logs", "train"), size_guidance={"tensors": 0}
    )
    acc.Reload()
    capacity = [float(tf.make_ndarray(e.tensor_proto)) for e in acc.Tensors("epoch_capacity")]
    assert capacity == pytest.approx([0.0, 3.0, 6.0])
    m = metrics["test"]
    assert m["elbo"] == pytest.approx(-(m["reconstruction"] + m["kl"]), rel=1e-4)
    loaded = keras.saving.load_model(os.path.join(path, "checkpoints", "latest.keras"))
    assert loaded.num_samples == 2 and float(loaded.capacity) == 6.0


# --- the learning rate ------------------------------------------------------------------


def test_burda_schedule_is_3_to_the_i_epochs_at_ten_to_the_minus_i_over_7():
    assert learning_rates.burda_epochs() == 3280
    expected, epoch = [], 0
    for i in range(8):
        expected += [1e-3 * 10 ** (-i / 7)] * 3**i
        epoch += 3**i
    got = [learning_rates.learning_rate_at(e, 1e-3, "burda") for e in range(3280)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert learning_rates.learning_rate_at(5000, 1e-3, "burda") == pytest.approx(1e-4)
    assert learning_rates.learning_rate_at(17, 3e-4, "constant") == 3e-4


def test_cosine_schedule_falls_from_the_base_rate_to_zero_over_the_run():
    rates = [learning_rates.learning_rate_at(e, 2e-3, "cosine", 4) for e in range(6)]
    # cos(pi * e / 4) for e = 0..4: 1, 1/sqrt 2, 0, -1/sqrt 2, -1; past the run it stays 0.
    half = 0.5**0.5
    expected = [2e-3, 1e-3 * (1 + half), 1e-3, 1e-3 * (1 - half), 0.0, 0.0]
    np.testing.assert_allclose(rates, expected, rtol=1e-12, atol=1e-18)
    with pytest.raises(ValueError, match="needs the run's epochs"):
        learning_rates.learning_rate_at(0, 1e-3, "cosine")


@pytest.mark.parametrize("schedule", ["burda", "cosine"])
def test_the_training_callback_sets_the_scheduled_learning_rate(tmp_path, schedule):
    folder = _write_synthetic_folder(tmp_path / "idx")
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(float(self.model.optimizer.learning_rate.numpy()))

    config = tiny_config(
        tmp_path / "run",
        f"idx:{folder}",
        epochs=5,
        learning_rate_schedule=schedule,
        curve_every_epochs=2,
        curve_importance_samples=7,
        curve_examples=10,
    )
    training.train_and_evaluate(config, callbacks=(Record(),))
    np.testing.assert_allclose(
        seen, [learning_rates.learning_rate_at(e, 1e-3, schedule, 5) for e in range(5)], rtol=1e-6
    )
    curve = json.loads((tmp_path / "run" / "nll_curve.json").read_text())
    assert [p["epoch"] for p in curve] == [2, 4, 5]
    assert all(np.isfinite(p["nll"]) and p["num_examples"] == 10 for p in curve)


def test_early_stopping_stops_after_patience_and_keeps_the_best_epoch(tmp_path):
    # A learning rate so high that the validation loss stops improving early.
    folder = _write_synthetic_folder(tmp_path / "idx")
    config = tiny_config(
        tmp_path / "run", f"idx:{folder}", epochs=40, early_stopping_epochs=2, learning_rate=0.5
    )
    metrics = training.train_and_evaluate(config)
    assert metrics["stopped_early"]
    best = metrics["best_epoch"]
    assert len(metrics["epoch_seconds"]) == best + 2 < 40  # Two epochs without a new best.
    kept = keras.saving.load_model(str(tmp_path / "run" / "checkpoints" / "best.keras"))
    z = np.zeros((1, 2), np.float32)
    served = tf.saved_model.load(str(tmp_path / "run" / "saved_model"))
    np.testing.assert_allclose(
        served.signatures["decode"](z=tf.constant(z))["images"].numpy(),
        np.asarray(kept.decode_images(z)),
        rtol=1e-5,
        atol=1e-6,
    )


def test_a_curve_samples_the_test_set_rather_than_taking_its_first_images():
    # Larochelle's static MNIST test file is sorted by class: its first 2,000 images are
    # zeros and ones, on which one model scored 75 nats where its first 500 alone (zeros)
    # scored 104. A fixed-seed sample spread over the file does not depend on its order.
    picked = training.curve_indices(10_000, 2_000)
    assert len(set(picked)) == 2_000 and np.all(np.diff(picked) > 0)
    assert picked.min() < 50 and picked.max() > 9_950  # From all over the file.
    np.testing.assert_array_equal(picked, training.curve_indices(10_000, 2_000))
    np.testing.assert_array_equal(training.curve_indices(30, 0), np.arange(30))
    np.testing.assert_array_equal(training.curve_indices(30, 50), np.arange(30))
