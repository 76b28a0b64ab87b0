"""Times the VampPrior's log p(z) at the k = 5000 evaluation's shape: keras_vae's
matmul form (objectives.mixture_log_density) against the per-component form it replaced.

    python experiments/microbench_vamp_prior.py [--samples=5000 --components=500 --latent=40]

Prints the median of --rounds alternating rounds of each form (milliseconds per image,
i.e. per [samples, latent] block of codes) and the largest difference between them.
"""

import math
import statistics
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from keras_vae import objectives

flags.DEFINE_integer("samples", 5000, "Codes per image (the evaluation's k).")
flags.DEFINE_integer("components", 500, "Mixture components K (pseudo-inputs).")
flags.DEFINE_integer("latent", 40, "Latent dimensions L.")
flags.DEFINE_integer("rounds", 5, "Alternating rounds; the median is reported.")
FLAGS = flags.FLAGS


def per_component(z, means, log_variances):
    """The earlier form: an [N, K, L] tensor of squared distances, in float32."""
    z = tf.expand_dims(z, -2)
    terms = -0.5 * tf.reduce_sum(
        math.log(2 * math.pi) + log_variances + tf.square(z - means) * tf.exp(-log_variances),
        axis=-1,
    )
    return tf.reduce_logsumexp(terms, axis=-1) - math.log(means.shape[0])


def main(argv):
    del argv
    rng = np.random.default_rng(0)
    z = tf.constant(rng.normal(size=(FLAGS.samples, FLAGS.latent)), tf.float32)
    means = tf.constant(rng.normal(size=(FLAGS.components, FLAGS.latent)), tf.float32)
    log_variances = tf.constant(rng.uniform(-4, 0, (FLAGS.components, FLAGS.latent)), tf.float32)
    forms = {
        "matmul (keras_vae)": tf.function(objectives.mixture_log_density),
        "per component": tf.function(per_component),
    }
    results = {name: form(z, means, log_variances).numpy() for name, form in forms.items()}
    times = {name: [] for name in forms}
    for _ in range(FLAGS.rounds):
        for name, form in forms.items():
            start = time.perf_counter()
            form(z, means, log_variances).numpy()
            times[name].append(1e3 * (time.perf_counter() - start))
    for name in forms:
        print(
            f"{name:>20}: {statistics.median(times[name]):8.2f} ms per image (median of "
            f"{FLAGS.rounds})"
        )
    a, b = results.values()
    print(f"largest difference: {np.max(np.abs(a - b)):.2e} nats")


if __name__ == "__main__":
    app.run(main)
