"""tf.distribute strategies for training, and which worker of a cluster this process is.

    strategy = distribution.make_strategy("mirrored")
    with strategy.scope():
        model = ...  # variables mirrored on every replica

- "none": the default strategy, one device.
- "mirrored": `tf.distribute.MirroredStrategy` over every GPU, or, without GPUs, every
  logical CPU device (one, unless the process split the CPU with
  `tf.config.set_logical_device_configuration`, as the tests do).
- "multi_worker": `tf.distribute.MultiWorkerMirroredStrategy`, the cluster described by
  the standard `TF_CONFIG` environment variable; every worker runs the same command.
- "auto": "mirrored" when more than one GPU is visible, else "none".

How the model divides its work among replicas (loss over the global batch, independent
random draws) is in keras_vae/model.py.
"""

import functools
import os

import tensorflow as tf

from keras_vae.config import cluster_task
from keras_vae.errors import ConfigError


def resolve(name: str) -> str:
    """'auto' -> 'mirrored' with several GPUs, else 'none'; other names unchanged."""
    if name == "auto":
        return "mirrored" if len(tf.config.list_physical_devices("GPU")) > 1 else "none"
    return name


@functools.cache
def make_strategy(name: str) -> tf.distribute.Strategy:
    """The strategy for a resolved `name` (see the module docstring); one per process.

    Strategies are cached because two MirroredStrategy objects over the same devices
    number their collective ops alike, and one's ops can then meet the other's in a
    step ("Shape mismatch in the collective instance").
    """
    if name == "none":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multi_worker":
        cluster_task(os.environ)  # A missing or malformed TF_CONFIG is reported in one line.
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ConfigError(f"unknown distribution {name!r}")


def is_default(strategy: tf.distribute.Strategy) -> bool:
    """Whether `strategy` is TensorFlow's default, no-distribution strategy."""
    return type(strategy).__name__ == "_DefaultDistributionStrategy"


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files: always, except on non-chief workers.

    In a cluster the chief is task "chief", or worker 0 when there is none (TensorFlow's
    convention); the other workers run the same steps but keep their files private.
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    resolver = strategy.cluster_resolver
    task_type, index = resolver.task_type, resolver.task_id
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "chief" or (not has_chief and task_type == "worker" and index == 0)
