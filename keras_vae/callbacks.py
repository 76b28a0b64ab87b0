"""Keras callbacks of a training run: objective schedules, checkpoints, backups, learning curve.

What a run prints is in keras_vae/progress.py; what its TensorBoard images show is
drawn in keras_vae/figures.py, and `ImageSummaries` writes them at the right epochs.
"""

import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from keras_vae import backup, figures, latent, learning_rates, model_dir, objectives, progress
from keras_vae.errors import TrainingError


class ObjectiveSchedule(keras.callbacks.Callback):
    """Sets the model's KL weight, capacity target and learning rate at the start of every epoch.

    The values come from `keras_vae.objectives` and `keras_vae.learning_rates`, ramping
    up to the model's `beta` and `capacity_max`, and (with a learning-rate schedule) down from `learning_rate`. They
    live in non-trainable variables, which the compiled train step reads, so changing
    them does not retrace it.
    """

    def __init__(
        self,
        kl_warmup_epochs: int = 0,
        capacity_epochs: int = 0,
        learning_rate: float | None = None,
        learning_rate_schedule: str = "constant",
        epochs: int | None = None,
    ):
        super().__init__()
        self.kl_warmup_epochs = kl_warmup_epochs
        self.capacity_epochs = capacity_epochs
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.epochs = epochs

    def on_epoch_begin(self, epoch, logs=None):
        model = self.model
        if self.learning_rate_schedule != "constant":
            model.optimizer.learning_rate.assign(
                learning_rates.learning_rate_at(
                    epoch, self.learning_rate, self.learning_rate_schedule, self.epochs
                )
            )
        model.kl_weight.assign(objectives.kl_weight_at(epoch, model.beta, self.kl_warmup_epochs))
        if model.capacity is not None:
            model.capacity.assign(
                objectives.capacity_at(epoch, model.capacity_max, self.capacity_epochs)
            )


class DataEpoch(keras.callbacks.Callback):
    """Sets a training dataset's epoch counter (pipeline.training_dataset's
    `epoch_counter`) at the start of each epoch, so epoch e is in epoch e's order
    whatever iterators Keras made before."""

    def __init__(self, counter):
        super().__init__()
        self.counter = counter

    def on_epoch_begin(self, epoch, logs=None):
        self.counter.assign(epoch)


class Checkpoints(keras.callbacks.Callback):
    """Saves `latest.keras` after every epoch and `best.keras` when validation loss improves.

    Each file is written under a temporary name and renamed, so a crash mid-save never
    leaves a truncated checkpoint in place of a good one.

    While a schedule changes the objective (KL warm-up, capacity), losses of different
    epochs measure different things and do not compare: up to and including epoch
    `settled_epoch`, the first with the final objective, `best.keras` is the latest.

    With `patience` > 0, training stops once `patience` epochs after the settled one have
    passed without a new best (early stopping, as in Tomczak & Welling's protocol).
    """

    def __init__(
        self,
        folder: str,
        monitor: str = "val_loss",
        settled_epoch: int = 0,
        best=float("inf"),
        patience: int = 0,
        best_epoch: int = -1,
    ):
        super().__init__()
        self.folder = folder
        self.monitor = monitor
        self.settled_epoch = settled_epoch
        # The best value so far and its epoch (from 0): a resumed run carries them over.
        self.best = best
        self.best_epoch = best_epoch
        self.patience = patience
        self.stopped_early = False

    def _save(self, name: str) -> None:
        tmp = os.path.join(self.folder, f".tmp-{name}")
        self.model.save(tmp)
        os.replace(tmp, os.path.join(self.folder, name))

    def on_epoch_end(self, epoch, logs=None):
        self._save("latest.keras")
        if epoch <= self.settled_epoch:
            self.best = float("inf")
        value = (logs or {}).get(self.monitor)
        # A NaN comparison is False, so a diverged model never becomes the best.
        if value is not None and value < self.best:
            self.best = float(value)
            self.best_epoch = epoch
            self._save("best.keras")
        if (
            self.patience
            and epoch > self.settled_epoch
            and epoch - self.best_epoch >= self.patience
        ):
            self.stopped_early = True
            self.model.stop_training = True


class LikelihoodCurve(keras.callbacks.Callback):
    """Every `every` epochs (and after the last), the importance-weighted NLL of `images`.

    The learning curve of a long run in the literature's terms (k samples of z per
    image, Burda et al. 2015), so an unfinished run shows where it was heading. Each
    point is appended to the JSON list at `path` (written atomically, so a resumed run
    keeps the points of its earlier epochs) and put into the epoch's logs as
    `test_nll`, which the TensorBoard callback after this one records.
    """

    def __init__(
        self, path: str, images, every: int, num_samples: int, epochs: int, seed=0, labels=None
    ):
        super().__init__()
        self.path = path
        self.images = images
        # A conditional model's curve is of log p(x|y): the labels go with the images.
        self.labels = labels
        self.every = every
        self.num_samples = num_samples
        self.epochs = epochs
        self.seed = seed
        self.points = model_dir.read_json(path) if os.path.exists(path) else []
        self._handle = None

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done % self.every and done != self.epochs:
            return
        from keras_vae import evaluation, handles  # Only runs with a curve need them.

        if self._handle is None:
            self._handle = handles.as_handle(self.model)
        start = time.perf_counter()
        labels = self.labels if self._handle.num_classes else None
        bounds, _ = evaluation.per_example_bounds(
            self._handle, self.images, self.num_samples, self.seed, labels=labels
        )
        nll = -float(np.mean(bounds))
        self.points = [p for p in self.points if p["epoch"] < done] + [
            {
                "epoch": done,
                "nll": nll,
                "num_importance_samples": self.num_samples,
                "num_examples": len(self.images),
                "seconds": time.perf_counter() - start,
            }
        ]
        model_dir.write_json(self.path, self.points)
        if logs is not None:
            logs["test_nll"] = nll


class StopOnNonFinite(keras.callbacks.Callback):
    """Stops training with a TrainingError when the loss becomes NaN or infinite.

    The error is raised inside the batch or epoch callback, before any callback saves
    that epoch, so checkpoints, backups and the SavedModel keep the last finite model.
    Keras reports the loss every `steps_per_execution` steps; its value is the epoch's
    running mean, which stays non-finite once any step was, so the first report that
    is not finite names the step by which it happened.
    """

    def __init__(self, steps_per_execution: int = 1):
        super().__init__()
        self.steps_per_execution = steps_per_execution
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def _check(self, logs, where):
        for name in ("loss", "val_loss"):
            value = (logs or {}).get(name)
            if value is not None and not math.isfinite(float(value)):
                raise TrainingError(
                    f"training stopped: the {'validation ' if name == 'val_loss' else ''}"
                    f"loss became {float(value)} in epoch {self._epoch + 1}{where}; "
                    "the checkpoints and backup of the last finite epoch are kept "
                    "(a lower --learning_rate may help)"
                )

    def on_train_batch_end(self, batch, logs=None):
        steps = self.steps_per_execution
        where = f", step {batch + 1}"
        if steps > 1:
            where += f" (one of steps {max(1, batch + 2 - steps)}-{batch + 1})"
        self._check(logs, where)

    def on_epoch_end(self, epoch, logs=None):
        self._check(logs, ", at its end")


class Backup(keras.callbacks.Callback):
    """Saves the training state after every epoch (keras_vae/backup.py), for resuming.

    Listed after the callbacks whose state it saves (`Checkpoints`' best loss and
    `EpochSummary`'s times), so the backup of an epoch includes their updates.
    """

    def __init__(self, folder: str, checkpoints: "Checkpoints", summary: progress.EpochSummary):
        super().__init__()
        self.folder = folder
        self.checkpoints = checkpoints
        self.summary = summary

    def on_epoch_end(self, epoch, logs=None):
        best = self.checkpoints.best
        backup.save(
            self.model,
            self.folder,
            epoch + 1,
            {
                # JSON has no infinity: None stands for "no best yet".
                "best": best if math.isfinite(best) else None,
                "best_epoch": self.checkpoints.best_epoch,
                "epoch_seconds": self.summary.epoch_seconds,
            },
        )


class ImageSummaries(keras.callbacks.Callback):
    """Writes TensorBoard images every few epochs: test reconstructions, prior samples, the
    decoded latent manifold and, given labels, a scatter plot of the test encodings."""

    def __init__(
        self,
        log_dir: str,
        test_images: np.ndarray,
        every: int,
        epochs: int,
        seed: int,
        num_samples: int = 64,
        cols: int = 8,
        test_labels: np.ndarray | None = None,
        class_names: tuple[str, ...] = (),
        num_reconstructions: int = 32,
        manifold_size: int = figures.MANIFOLD_SIZE,
    ):
        super().__init__()
        if test_labels is not None and len(test_labels) != len(test_images):
            raise ValueError(f"{len(test_labels)} test labels for {len(test_images)} test images")
        self.writer = tf.summary.create_file_writer(log_dir)
        self.test_images = test_images.astype(np.float32)
        self.test_labels = None if test_labels is None else np.asarray(test_labels, np.int64)
        self.class_names = tuple(class_names)
        # The same draws from p(z) every time (the same seed), so the images show how
        # the decoder (and a learned prior) change.
        self.num_samples = num_samples
        self.seed = seed
        self.every = every
        self.epochs = epochs
        self.cols = cols
        self.num_reconstructions = num_reconstructions
        self.manifold_size = manifold_size

    def _decode(self, z: np.ndarray, labels=None) -> np.ndarray:
        if self.model.conditional and labels is None:
            # A conditional model's manifold: the codes of the first class.
            labels = np.zeros(len(z), np.int64)
        return keras.ops.convert_to_numpy(self.model.decode_images(z, labels))

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every and epoch + 1 != self.epochs:
            return
        # A conditional model encodes and decodes each image with its label; its samples
        # cycle through the classes.
        labels = self.test_labels if self.model.conditional else None
        mean, log_variance = (
            keras.ops.convert_to_numpy(t) for t in self.model.encode(self.test_images, labels)
        )
        shown = slice(0, self.num_reconstructions)
        reconstructions = self._decode(mean[shown], None if labels is None else labels[shown])
        reconstruction_grid = figures.image_grid(
            figures.reconstruction_rows(self.test_images[shown], reconstructions, self.cols),
            self.cols,
        )
        z = keras.ops.convert_to_numpy(self.model.sample_prior(self.num_samples, [self.seed, 0]))
        classes = np.arange(self.num_samples) % max(self.model.num_classes, 1)
        sample_grid = figures.image_grid(
            self._decode(z, classes if self.model.conditional else None), self.cols
        )
        n = self.manifold_size
        z, dims, manifold_cols = figures.manifold_latents(
            n, latent.kl_per_dimension(mean, log_variance)
        )
        manifold_grid = figures.image_grid(self._decode(z), manifold_cols, pad=0)
        with self.writer.as_default(step=epoch):
            tf.summary.image(
                "reconstructions",
                reconstruction_grid[None, ..., None],
                description="test images (odd rows) and reconstructions (even rows)",
            )
            tf.summary.image(
                "samples",
                sample_grid[None, ..., None],
                description="pixel means decoded from fixed draws of z ~ p(z)",
            )
            tf.summary.image(
                "manifold",
                manifold_grid[None, ..., None],
                description=figures.manifold_description(n, dims, mean.shape[1]),
            )
            if self.test_labels is not None:
                tf.summary.image(
                    "encodings",
                    figures.encodings_image(mean, self.test_labels, self.class_names)[None],
                    description=f"posterior means of {len(mean)} test images, by class",
                )
        self.writer.flush()

    def on_train_end(self, logs=None):
        self.writer.close()
