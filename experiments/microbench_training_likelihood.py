"""What the per-pixel Bernoulli log-likelihood costs an IWAE training step, and whether fusing it helps.

    python experiments/microbench_training_likelihood.py --num_samples=50
    python experiments/microbench_training_likelihood.py --num_samples=5

The IWAE step of Burda et al.'s 784-200-200-50 model decodes k x 20 codes, and its
likelihood, sum(x * l - softplus(l)), and that sum's gradient, x - sigmoid(l), run over
[k, 20, 784] logits. Each variant trains the same model (keras_vae's defaults: the
plain graph, FusedAdam, 32 steps per call) with another likelihood:

- products (the default): `objectives.bernoulli_log_likelihood_by_products`, one log
  per 112 pixels and a gradient that reuses the forward's exps;
- softplus (--noproduct_likelihood): `objectives.bernoulli_log_likelihood`, TensorFlow's
  elementwise kernels, several passes;
- softplus, xla: the same function compiled by XLA, one fusion forward and one backward;
- fused gradient, xla: a `tf.custom_gradient` that computes e^-|l| once forward,
  recomputes it backward, and gives x - sigmoid(l) in one expression, compiled by XLA;
- no softplus: sum(x * l) alone, a lower bound on any likelihood's cost (wrong maths:
  its step time says how much of the step the likelihood is, nothing more).

After an untimed epoch each, medians [min-max] of one epoch of `--examples` random binary images per variant, the
variants taking turns in each round. Run it on a quiet machine (pause other runs).
"""

import statistics
import time

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags

from keras_vae import config as config_lib
from keras_vae import model as model_lib
from keras_vae import objectives, training

flags.DEFINE_integer("num_samples", 50, "k, the IWAE's samples per image.", lower_bound=1)
flags.DEFINE_integer("batch_size", 20, "Images per step (Burda et al.: 20).", lower_bound=1)
flags.DEFINE_integer("examples", 2000, "Images per timed epoch.", lower_bound=20)
flags.DEFINE_integer("rounds", 5, "Alternating rounds.", lower_bound=1)
FLAGS = flags.FLAGS


def _fused_gradient(x, logits):
    @tf.custom_gradient
    def log_likelihood(logits):
        e = tf.exp(-tf.abs(logits))
        value = tf.reduce_sum(x * logits - tf.nn.relu(logits) - tf.math.log1p(e), -1)

        def grad(upstream):
            # sigmoid(l) = 1 / (1 + e^-l) for l >= 0 and e^l / (1 + e^l) below: one exp.
            e_again = tf.exp(-tf.abs(logits))
            sigmoid = tf.where(logits >= 0, 1.0, e_again) / (1.0 + e_again)
            return upstream[..., None] * (x - sigmoid)

        return value, grad

    return log_likelihood(logits)


def _no_softplus(x, logits):
    return tf.reduce_sum(x * logits, -1)


# name: (the per-pixel function swapped in for objectives.bernoulli_log_likelihood, or
# None for the library's own; the model's product_likelihood).
VARIANTS = {
    "products (default)": (None, True),
    "softplus (--noproduct_likelihood)": (None, False),
    "softplus, xla": (tf.function(objectives.bernoulli_log_likelihood, jit_compile=True), False),
    "fused gradient, xla": (tf.function(_fused_gradient, jit_compile=True), False),
    "no softplus (not a likelihood)": (_no_softplus, False),
}


def _trained_model(likelihood, products, images):
    """A fresh VAE whose train step was traced with `likelihood` in place."""
    library = objectives.bernoulli_log_likelihood
    objectives.bernoulli_log_likelihood = likelihood or library
    try:
        model = model_lib.VAE(
            image_shape=(28, 28),
            latent_dims=50,
            hidden_units=(200, 200),
            activation="tanh",
            likelihood="bernoulli",
            objective="iwae",
            num_samples=FLAGS.num_samples,
            binarize_training_inputs=False,
            seed=0,
            product_likelihood=products,
        )
        training.compile_model(model, config_lib.TrainConfig())
        model.fit(images[: 32 * FLAGS.batch_size], batch_size=FLAGS.batch_size, verbose=0)
    finally:
        objectives.bernoulli_log_likelihood = library
    return model


def main(argv):
    del argv
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = (rng.random((FLAGS.examples, 28, 28)) < 0.13).astype(np.float32)
    models = {name: _trained_model(*variant, images) for name, variant in VARIANTS.items()}
    seconds = {name: [] for name in VARIANTS}
    for model in models.values():  # An untimed epoch first: the timed ones are steady.
        model.fit(images, batch_size=FLAGS.batch_size, epochs=1, verbose=0)
    for _ in range(FLAGS.rounds):
        for name, model in models.items():
            start = time.perf_counter()
            model.fit(images, batch_size=FLAGS.batch_size, epochs=1, verbose=0)
            seconds[name].append(time.perf_counter() - start)
    steps = FLAGS.examples / FLAGS.batch_size
    library = statistics.median(seconds["products (default)"])
    print(f"IWAE k={FLAGS.num_samples}, batch {FLAGS.batch_size}, 784-200-200-50/tanh")
    print("| variant | ms per step, median [min-max] | against the default |")
    print("|---|---|---|")
    for name, times in seconds.items():
        ms = [t / steps * 1e3 for t in times]
        print(
            f"| {name} | {statistics.median(ms):.2f} [{min(ms):.2f}-{max(ms):.2f}] | "
            f"{statistics.median(times) / library:.2f}x |"
        )


if __name__ == "__main__":
    app.run(main)
