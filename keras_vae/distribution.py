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

How the model divides its work among replicas is here too: the loss as a mean over
the global batch (`replica_mean`), independent random draws per replica
(`replica_seed`), and the logs of a multi-worker step (`as_step_logs`).
"""

import functools
import os

import tensorflow as tf
from keras import ops

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
    """Whether `strategy` is TensorFlow's default, no-distribution strategy.

    TensorFlow has no public type for it; of the strategies `make_strategy` makes, it is
    the one that is neither mirrored kind.
    """
    return not isinstance(
        strategy, (tf.distribute.MirroredStrategy, tf.distribute.MultiWorkerMirroredStrategy)
    )


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


def replica_seed(seed_generator):
    """The generator's next seed [2], folded with the replica's number when there are several.

    Under a tf.distribute strategy the generator's state is mirrored, so every replica
    would otherwise draw the same noise for its part of the batch; folding in the replica
    id (global across workers) makes the draws independent. With one replica the seed is
    the generator's own, so single-device runs keep their numbers.
    """
    seed = seed_generator.next()
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        seed = tf.random.experimental.stateless_fold_in(seed, context.replica_id_in_sync_group)
    # As keras.random does: TensorFlow's stateless ops want int32 seeds under XLA.
    return tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)


def standard_normal(shape, dtype, seed_generator):
    """N(0, 1) draws from `seed_generator`, independent per replica (see `replica_seed`)."""
    return tf.random.stateless_normal(shape, seed=replica_seed(seed_generator), dtype=dtype)


def replica_mean(values):
    """The mean of per-example `values` over the global batch, as this replica's share.

    Keras' optimizer sums the replicas' gradients, so each replica contributes the sum of
    its examples' values divided by the number of examples in the whole step; that is
    exact even when the last batch splits unevenly among replicas.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return ops.mean(values)
    count = context.all_reduce(
        tf.distribute.ReduceOp.SUM, tf.cast(tf.shape(values)[0], values.dtype)
    )
    return ops.sum(values) / count


def _in_multi_worker_mode(strategy) -> bool:
    resolver = strategy.cluster_resolver
    if resolver is None:
        return False
    spec = resolver.cluster_spec()
    return sum(spec.num_tasks(job) for job in spec.jobs) > 1


def as_step_logs(values):
    """A train or test step's logs, as Keras can reduce them under the current strategy.

    Keras 3 (3.15) reduces a multi-worker step's logs with strategy.reduce("MEAN",
    axis=0), which fails on scalars; as [1] vectors they reduce to the same scalars.
    """
    strategy = tf.distribute.get_strategy()
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and (
        _in_multi_worker_mode(strategy)
    ):
        return {name: ops.reshape(value, (1,)) for name, value in values.items()}
    return values
