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

import json
import os

import tensorflow as tf

from keras_vae.errors import ConfigError


def resolve(name: str) -> str:
    """'auto' -> 'mirrored' with several GPUs, else 'none'; other names unchanged."""
    if name == "auto":
        return "mirrored" if len(tf.config.list_physical_devices("GPU")) > 1 else "none"
    return name


def cluster_task() -> tuple[str, int, int]:
    """(task type, task index, number of workers) from TF_CONFIG.

    Raises ConfigError if TF_CONFIG is missing or does not describe this task.
    """
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise ConfigError(
            "distribution=multi_worker needs the TF_CONFIG environment variable "
            '(e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, '
            '"task": {"type": "worker", "index": 0}})'
        )
    try:
        spec = json.loads(text)
        workers = spec["cluster"].get("worker", []) + spec["cluster"].get("chief", [])
        task_type, index = spec["task"]["type"], int(spec["task"]["index"])
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ConfigError(f"TF_CONFIG is not a valid cluster description: {e}") from None
    if task_type not in ("worker", "chief") or not 0 <= index < len(
        spec["cluster"].get(task_type, [])
    ):
        raise ConfigError(
            f"TF_CONFIG's task {task_type}:{index} is not one of its cluster's workers"
        )
    return task_type, index, len(workers)


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The strategy for a resolved `name` (see the module docstring)."""
    if name == "none":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multi_worker":
        cluster_task()  # A missing or malformed TF_CONFIG is reported in one line.
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ConfigError(f"unknown distribution {name!r}")


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
