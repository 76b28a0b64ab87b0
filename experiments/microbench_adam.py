"""The Adam update alone, per step, for the 784-200-200-50 model (425,284 parameters).

    python experiments/microbench_adam.py

Four ways, 32 steps per call, medians of 7 alternating rounds: TensorFlow's fused
ResourceApplyAdam once per variable with constant scalars (the kernels alone), once
over all the parameters in one contiguous buffer, keras_vae's FusedAdam (those kernels
and the step's scalars, beta^t and the casts, computed once per step), and Keras' own
Adam. Run it on a quiet machine.
"""

import statistics
import time

import numpy as np
import tensorflow as tf

from keras_vae import optimizers

shapes = [
    (784, 200),
    (200,),
    (200, 200),
    (200,),
    (200, 50),
    (50,),
    (200, 50),
    (50,),
    (50, 200),
    (200,),
    (200, 200),
    (200,),
    (200, 784),
    (784,),
]
rng = np.random.default_rng(0)


def mk(s):
    return tf.Variable(rng.standard_normal(s).astype(np.float32) * 0.01)


vs = [mk(s) for s in shapes]
ms = [mk(s) for s in shapes]
vv = [tf.Variable(tf.abs(mk(s))) for s in shapes]
gs = [tf.constant(rng.standard_normal(s).astype(np.float32) * 0.01) for s in shapes]
n = sum(int(np.prod(s)) for s in shapes)
flat = [mk((n,)), mk((n,)), tf.Variable(tf.abs(mk((n,))))]
gflat = tf.constant(rng.standard_normal(n).astype(np.float32))


def apply(v, m, u, g):
    tf.raw_ops.ResourceApplyAdam(
        var=v.handle,
        m=m.handle,
        v=u.handle,
        beta1_power=0.9,
        beta2_power=0.999,
        lr=1e-3,
        beta1=0.9,
        beta2=0.999,
        epsilon=1e-4,
        grad=g,
    )


@tf.function
def per_var(steps=32):
    for _ in tf.range(steps):
        for v, m, u, g in zip(vs, ms, vv, gs):
            apply(v, m, u, g)


@tf.function
def one_flat(steps=32):
    for _ in tf.range(steps):
        apply(*flat, gflat)


opt = tf.keras.optimizers.Adam(1e-3, epsilon=1e-4)
opt.build(vs)


@tf.function
def keras_adam(steps=32):
    for _ in tf.range(steps):
        opt.apply(gs, vs)


fused_vs = [tf.Variable(v) for v in vs]
fused = optimizers.FusedAdam(1e-3, epsilon=1e-4)
fused.build(fused_vs)


@tf.function
def keras_vae_fused(steps=32):
    for _ in tf.range(steps):
        fused.apply(gs, fused_vs)


fns = {
    "per_var_fused": per_var,
    "one_flat_fused": one_flat,
    "FusedAdam": keras_vae_fused,
    "keras_adam": keras_adam,
}
for f in fns.values():
    f()
t = {k: [] for k in fns}
for r in range(7):
    for k, f in fns.items():
        s = time.perf_counter()
        f()
        t[k].append((time.perf_counter() - s) / 32)
print(f"{n} parameters")
for k, v in t.items():
    print(
        f"{k:16s} {statistics.median(v) * 1e6:7.1f} us/step [{min(v) * 1e6:.1f}-{max(v) * 1e6:.1f}]"
    )
