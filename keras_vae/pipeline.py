"""The tf.data pipelines that feed uint8 images to the model, and the checks of images it is given.

Training batches follow one shuffled order per epoch, `epoch_order(n, seed, epoch)`,
whichever pipeline builds them, so the two give the same batches:
- "batched" (the default): one gather per batch from the stored uint8 array. The model
  converts the bytes to floats in its own graph (`to_unit_float`), so the pipeline
  does one small op per batch and moves a quarter of the bytes.
- "per_example": the textbook pipeline, which reads example by example, batches and
  converts to float32 in tf.data. It is kept to measure against (experiments/benchmark.py).
An image folder (`image_folder.ImageFiles`) is streamed: the same order picks file
names, which are read and decoded in parallel, batch by batch, so only the batches in
flight are in memory.
"""

import math
import os

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_vae.config import PIPELINES
from keras_vae.image_folder import ImageFiles


def to_unit_float(images):
    """uint8 pixels -> float32 in [0, 1]; float data (npz files) -> float32 as it is. The
    one conversion that every path uses."""
    if keras.backend.standardize_dtype(images.dtype) == "uint8":
        return ops.cast(images, "float32") / 255.0
    return ops.cast(images, "float32")


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    """Batches per epoch; the last one may be smaller."""
    return math.ceil(num_examples / batch_size)


def epoch_order(num_examples, seed, epoch):
    """The order in which epoch `epoch` visits the examples: a permutation, a function of
    (seed, epoch) only, so a run's batches do not depend on the pipeline or the process."""
    keys = tf.random.stateless_uniform(
        [num_examples], seed=tf.stack([tf.cast(seed, tf.int64), tf.cast(epoch, tf.int64)])
    )
    return tf.argsort(keys, stable=True)


# Batches ready ahead of the model, and image files decoded at once: fixed numbers
# (see `_fixed_buffers`).
PREFETCH_BATCHES = 4
READERS = max(2, os.cpu_count() or 2)


def _fixed_buffers(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """`dataset` with tf.data's autotuner off.

    The autotuner's thread wakes 10 * (2^n - 1) ms after an iterator's first batch, and
    deleting an iterator (Keras releases one per epoch) waited for its next wake-up:
    epochs ended at 0.31, 0.63, ..., 2.55, 5.11 or 10.23 s (the fixed-length epochs of
    results/benchmark.md, where the "tf.data autotune on" ablation still shows them:
    2 epochs in 5 at batch 20, fit() returning up to 4.6 s after the last batch). Our
    pipelines are a gather per batch, or a file read, and need no tuning.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def _stored(images: np.ndarray) -> tf.Variable:
    # A variable, not a constant: tf.data would copy a constant into every function's
    # graph, which is slow for 50 MB and fails beyond 2 GB.
    return tf.Variable(images, trainable=False, name="images")


def training_dataset(
    images: np.ndarray,
    batch_size: int,
    seed: int,
    pipeline: str = "batched",
    first_epoch: int = 0,
    epoch_counter: tf.Variable | None = None,
    labels: np.ndarray | None = None,
) -> tf.data.Dataset:
    """One epoch of batches per pass; pass e (from `first_epoch`) is in `epoch_order`.

    The dataset counts its passes: each new iterator (Keras makes one per epoch) takes
    the next epoch's order. An epoch is a finite dataset, not a slice of an endless one,
    because Keras rounds steps_per_epoch up to a multiple of steps_per_execution.

    `epoch_counter` (an int64 variable) replaces the internal count, so that a caller
    can set the epoch itself (`callbacks.DataEpoch`); needed under a tf.distribute
    strategy, where Keras draws one batch from an extra iterator before training.
    With `labels` (a conditional model) the batches are (images, labels).
    """
    if pipeline not in PIPELINES:
        raise ValueError(f"pipeline must be one of {PIPELINES}, got {pipeline!r}")
    if images.dtype not in (np.uint8, np.float32):
        raise ValueError(f"images must be uint8 or float32, got {images.dtype}")
    n = len(images)
    stored_labels = None if labels is None else tf.constant(np.asarray(labels, np.int64))
    streamed = isinstance(images, ImageFiles)
    if streamed:
        paths = tf.constant(list(images.paths))
        decode = images.decode_fn()

        def read_batch(indices):
            batch = tf.map_fn(
                decode,
                tf.gather(paths, indices),
                fn_output_signature=tf.uint8,
                parallel_iterations=16,
            )
            return batch if stored_labels is None else (batch, tf.gather(stored_labels, indices))

        gather = read_batch
        pipeline = "batched"  # One map per batch; the files are read in parallel.
    else:
        stored = _stored(images)

        def gather(indices):
            batch = tf.gather(stored, indices)
            return batch if stored_labels is None else (batch, tf.gather(stored_labels, indices))

    steps = steps_per_epoch(n, batch_size)
    passes = epoch_counter
    if passes is None:
        passes = tf.Variable(tf.constant(first_epoch, tf.int64), trainable=False, name="epoch")

    def batches_of_next_epoch(_):
        order = epoch_order(n, seed, passes.assign_add(1) - 1)
        if pipeline == "per_example":
            batches = tf.data.Dataset.from_tensor_slices(order).map(gather).batch(batch_size)
            if stored_labels is None:
                return batches.map(to_unit_float)
            return batches.map(lambda x, y: (to_unit_float(x), y))
        # Files: several batches are read at once (in order); a gather needs no help.
        parallel = {"num_parallel_calls": READERS, "deterministic": True}
        return tf.data.Dataset.range(steps).map(
            lambda step: gather(order[step * batch_size : (step + 1) * batch_size]),
            **(parallel if streamed else {}),
        )

    return _fixed_buffers(
        tf.data.Dataset.from_tensors(0)
        .flat_map(batches_of_next_epoch)
        # Keras needs the length: without it, it learns of an epoch's end by one more
        # train-step call that fails, and that call still advances the step counter and
        # the model's random-number state.
        .apply(tf.data.experimental.assert_cardinality(steps))
        .prefetch(PREFETCH_BATCHES)
    )


def evaluation_dataset(
    images: np.ndarray, batch_size: int, labels: np.ndarray | None = None
) -> tf.data.Dataset:
    """uint8 batches of images in their stored order (the model converts them); with
    `labels`, (images, labels) batches."""
    if images.dtype not in (np.uint8, np.float32):
        raise ValueError(f"images must be uint8 or float32, got {images.dtype}")
    if isinstance(images, ImageFiles):  # Streamed: decoded as the batches are read.
        dataset = tf.data.Dataset.from_tensor_slices(list(images.paths)).map(
            images.decode_fn(), num_parallel_calls=READERS, deterministic=True
        )
        if labels is not None:
            labels = tf.data.Dataset.from_tensor_slices(np.asarray(labels, np.int64))
            dataset = tf.data.Dataset.zip(dataset, labels)
        return _fixed_buffers(dataset.batch(batch_size).prefetch(PREFETCH_BATCHES))
    elements = images if labels is None else (images, np.asarray(labels, np.int64))
    dataset = tf.data.Dataset.from_tensor_slices(elements).batch(batch_size)
    return _fixed_buffers(dataset.prefetch(PREFETCH_BATCHES))


def check_labels(labels, num_images, num_classes, where):
    """Raises ValueError unless `labels` are `num_images` integers in [0, num_classes)."""
    labels = np.asarray(labels)
    if labels.shape != (num_images,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{where}: a conditional VAE takes one integer label per image, got "
            f"{labels.dtype} labels of shape {labels.shape} for {num_images} images"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"{where}: labels must be from 0 to {num_classes - 1}, got values from "
            f"{labels.min()} to {labels.max()}"
        )


def check_images_input(x, y, image_shape, where, num_classes=0, unit_interval=True):
    """Raises ValueError unless `x` holds images of `image_shape` and the labels fit the
    model: none for an unconditional VAE (num_classes 0), y in [0, num_classes) else.
    Float inputs must lie in [0, 1], or (unit_interval False: a Gaussian model) be finite."""
    if num_classes:
        if isinstance(x, tf.data.Dataset):
            spec = x.element_spec
            if not (isinstance(spec, tuple) and len(spec) == 2):
                raise ValueError(
                    f"{where}: a conditional VAE takes a dataset of (images, labels) batches, "
                    f"got elements {spec}"
                )
            return
        if y is None:
            raise ValueError(
                f"{where}: this conditional VAE needs the labels of its images: "
                f"{where}(images, labels)"
            )
        check_images_input(x, None, image_shape, where, unit_interval=unit_interval)
        check_labels(y, len(x), num_classes, where)
        return
    if y is not None or isinstance(x, (tuple, list)):
        raise ValueError(
            f"{where} takes images only (a VAE reconstructs its input); it got labels or "
            "(x, y) pairs, which an unconditional VAE would ignore: pass the images alone, "
            "e.g. dataset.map(lambda x, y: x)"
        )
    if isinstance(x, tf.data.Dataset):
        spec = x.element_spec
        if not isinstance(spec, tf.TensorSpec):
            raise ValueError(
                f"{where} takes a dataset of image batches; its elements are {spec}: "
                "map them to the images alone, e.g. dataset.map(lambda x, y: x)"
            )
        if not spec.shape[1:].is_compatible_with(image_shape):
            raise ValueError(
                f"{where}: the dataset's batches are {spec.shape}, the model takes "
                f"[batch, {', '.join(map(str, image_shape))}] images"
            )
        return
    if x is None or not hasattr(x, "shape"):
        return  # Keras' own checks name what is missing or of an unknown kind.
    if tuple(x.shape[1:]) != tuple(image_shape):
        raise ValueError(
            f"{where}: images are {tuple(x.shape)}, the model takes "
            f"[N, {', '.join(map(str, image_shape))}]"
        )
    if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating) and x.size:
        if not unit_interval:
            if not np.all(np.isfinite(x)):
                raise ValueError(f"{where}: inputs must be finite")
            return
        low, high = float(np.min(x)), float(np.max(x))
        if not (0.0 <= low and high <= 1.0):
            raise ValueError(
                f"{where}: float images must be finite and in [0, 1], got values from {low} "
                f"to {high}; divide 0..255 pixels by 255, or pass them as uint8"
            )
