"""tf.data pipelines that feed in-memory uint8 images to the model as float32 in [0, 1]."""

import numpy as np
import tensorflow as tf


def _to_unit_float(images):
    return tf.cast(images, tf.float32) / 255.0


def training_dataset(images: np.ndarray, batch_size: int, seed: int) -> tf.data.Dataset:
    """Shuffled (differently each epoch, reproducibly for `seed`) batches of images."""
    # The arrays already sit in memory as uint8, so there is nothing for .cache() to
    # save; converting to float after batching keeps the shuffle buffer 4x smaller.
    return (
        tf.data.Dataset.from_tensor_slices(images)
        .shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .map(_to_unit_float, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def evaluation_dataset(images: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """Batches of images in their stored order."""
    return (
        tf.data.Dataset.from_tensor_slices(images)
        .batch(batch_size)
        .map(_to_unit_float, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
