"""Keras callbacks of a training run: epoch summary, objective schedules, checkpoints, images."""

import os
import time

import keras
import numpy as np
import tensorflow as tf

from keras_vae import figures, schedules


class EpochSummary(keras.callbacks.Callback):
    """Prints one line per epoch with train and validation loss, reconstruction and KL."""

    def __init__(self, epochs: int, print_fn=print):
        super().__init__()
        self.epochs = epochs
        self.print_fn = print_fn
        self.epoch_seconds = []
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        self.epoch_seconds.append(seconds)
        logs = logs or {}

        def part(prefix):
            return (
                f"loss {logs.get(prefix + 'loss', float('nan')):.2f} "
                f"(reconstruction {logs.get(prefix + 'reconstruction', float('nan')):.2f}, "
                f"KL {logs.get(prefix + 'kl', float('nan')):.2f})"
            )

        self.print_fn(
            f"epoch {epoch + 1}/{self.epochs}: train {part('')} | "
            f"validation {part('val_')} | {seconds:.1f} s",
            flush=True,
        )


class ObjectiveSchedule(keras.callbacks.Callback):
    """Sets the model's KL weight and capacity target at the start of every epoch.

    The values come from `keras_vae.schedules`, ramping up to the model's `beta` and
    `capacity_max`. They live in non-trainable variables, which the compiled train
    step reads, so changing them does not retrace it.
    """

    def __init__(self, kl_warmup_epochs: int = 0, capacity_epochs: int = 0):
        super().__init__()
        self.kl_warmup_epochs = kl_warmup_epochs
        self.capacity_epochs = capacity_epochs

    def on_epoch_begin(self, epoch, logs=None):
        model = self.model
        model.kl_weight.assign(schedules.kl_weight_at(epoch, model.beta, self.kl_warmup_epochs))
        if model.capacity is not None:
            model.capacity.assign(
                schedules.capacity_at(epoch, model.capacity_max, self.capacity_epochs)
            )


class Checkpoints(keras.callbacks.Callback):
    """Saves `latest.keras` after every epoch and `best.keras` when validation loss improves.

    Each file is written under a temporary name and renamed, so a crash mid-save never
    leaves a truncated checkpoint in place of a good one.

    While a schedule changes the objective (KL warm-up, capacity), losses of different
    epochs measure different things and do not compare: up to and including epoch
    `settled_epoch`, the first with the final objective, `best.keras` is the latest.
    """

    def __init__(self, folder: str, monitor: str = "val_loss", settled_epoch: int = 0):
        super().__init__()
        self.folder = folder
        self.monitor = monitor
        self.settled_epoch = settled_epoch
        self.best = float("inf")

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
            self._save("best.keras")


class ImageSummaries(keras.callbacks.Callback):
    """Writes TensorBoard images every few epochs: test reconstructions and prior samples."""

    def __init__(
        self,
        log_dir: str,
        test_images: np.ndarray,
        latent_dims: int,
        every: int,
        epochs: int,
        seed: int,
        num_samples: int = 64,
        cols: int = 8,
    ):
        super().__init__()
        self.writer = tf.summary.create_file_writer(log_dir)
        self.test_images = test_images.astype(np.float32)
        # The same z every time, so the images show how the decoder changes.
        self.z = (
            np.random.default_rng(seed)
            .standard_normal((num_samples, latent_dims))
            .astype(np.float32)
        )
        self.every = every
        self.epochs = epochs
        self.cols = cols

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every and epoch + 1 != self.epochs:
            return
        mean, _ = self.model.encode(self.test_images)
        reconstructions = keras.ops.convert_to_numpy(self.model.decode_images(mean))
        samples = keras.ops.convert_to_numpy(self.model.decode_images(self.z))
        reconstruction_grid = figures.image_grid(
            figures.reconstruction_rows(self.test_images, reconstructions, self.cols), self.cols
        )
        sample_grid = figures.image_grid(samples, self.cols)
        with self.writer.as_default(step=epoch):
            tf.summary.image(
                "reconstructions",
                reconstruction_grid[None, ..., None],
                description="test images (odd rows) and reconstructions (even rows)",
            )
            tf.summary.image(
                "samples",
                sample_grid[None, ..., None],
                description="pixel means decoded from fixed z ~ N(0, I)",
            )
        self.writer.flush()

    def on_train_end(self, logs=None):
        self.writer.close()
