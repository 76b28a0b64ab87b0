"""The per-pixel Bernoulli log-likelihood of the k = 5000 evaluation alone: 5,000 x 784 logits.

    python experiments/microbench_likelihood.py

XLA-compiled, as the SavedModel runs it: the per-pixel form (one log1p per pixel), the
product form (keras_vae.objectives.bernoulli_log_likelihood_by_products, one log per
112 pixels), an exp pass alone and a read pass alone, medians of 9 alternating rounds.
Run it on a quiet machine.
"""

import statistics
import time

import numpy as np
import tensorflow as tf

from keras_vae import objectives

rows, pix = 5000, 784
rng = np.random.default_rng(0)
L = tf.constant(rng.standard_normal((1, rows, pix)).astype(np.float32) * 4)
x = tf.constant((rng.random((1, 1, pix)) < 0.13).astype(np.float32))
cur = tf.function(lambda x, l: objectives.log_likelihood(x, {"logits": l}, 0.0), jit_compile=True)


def prod_form(x, l, chunk=112):  # The same maths as the library's, inline.
    # sum x*l - softplus(l); softplus = relu(l) + log1p(exp(-|l|)); log1p summed as log of products.
    lin = tf.reduce_sum(x * l - tf.nn.relu(l), -1)
    e = 1.0 + tf.exp(-tf.abs(l))
    shape = tf.shape(l)
    e = tf.reshape(e, tf.concat([shape[:-1], [pix // chunk, chunk]], 0))
    return lin - tf.reduce_sum(tf.math.log(tf.reduce_prod(e, -1)), -1)


prod = tf.function(prod_form, jit_compile=True)


@tf.function(jit_compile=True)
def exp_only(l):
    return tf.reduce_sum(tf.exp(-tf.abs(l)), -1)


@tf.function(jit_compile=True)
def read_only(l):
    return tf.reduce_sum(l, -1)


a = cur(x, L).numpy()
b = prod(x, L).numpy()
print("max abs diff", np.abs(a - b).max(), "mean", a.mean())
vs = {
    "current": lambda: cur(x, L),
    "prod": lambda: prod(x, L),
    "exp_only": lambda: exp_only(L),
    "read_only": lambda: read_only(L),
}
for f in vs.values():
    f()
    f()
t = {k: [] for k in vs}
for r in range(9):
    for k, f in vs.items():
        s = time.perf_counter()
        for _ in range(10):
            o = f()
        o.numpy()
        t[k].append((time.perf_counter() - s) / 10)
for k, v in t.items():
    print(f"{k:10s} {statistics.median(v) * 1e3:6.2f} ms [{min(v) * 1e3:.2f}-{max(v) * 1e3:.2f}]")
