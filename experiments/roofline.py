"""The matmul roofline of a VAE on its own shapes, and the TensorFlow kernels that run.

A training step of a dense VAE at batch B does, for every dense layer a -> b, a forward
matmul [R, a] x [a, b], a weight gradient [a, R] x [R, b] (TensorFlow's MatMul with
transpose_a) and, except for the first encoder layer (the images need no gradient),
an input gradient [R, b] x [b, a] (transpose_b); R is B for the encoder and k * B for
the decoder when the objective draws k samples of z per example (IWAE). Evaluation
only runs the decoder forward, on the rows of one call.

The roofline time of a step is the sum over those matmuls of FLOPs / the GFLOP/s that
TensorFlow's own kernel reaches on exactly that shape and those transposes, measured
by `Probes` in the same process and run: small matmuls (batch 20) run far below a
large one's rate, so a single large probe would make the roofline unreachable at
small batches. Everything else a step does (activations, sampling, the likelihood,
the optimizer) counts as zero: the roofline fraction says how much of the time goes
to matmuls at their own best speed.

`profile_ops` runs a function under TensorFlow's profiler and returns the op types
that ran, which is how the benchmark names the matmul kernels in use (TensorFlow's
`MatMul` / `_FusedMatMul`, or oneDNN's `_MklMatMul` / `_MklNativeFusedMatMul` where
TensorFlow rewrote the graph for oneDNN): whatever name the trace holds is reported.
"""

import collections
import dataclasses
import glob
import itertools
import math
import time

# Activations that both the keras_vae model and the PyTorch rival build.
ACTIVATIONS = ("relu", "tanh")


class SpecError(ValueError):
    """A model description that cannot be parsed."""


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A dense VAE: pixels -> hidden... -> latent (encoder), mirrored by the decoder."""

    pixels: int
    hidden: tuple[int, ...]
    latent: int
    activation: str = "relu"

    @classmethod
    def parse(cls, text):
        """'784-200-200-50/tanh' (activation relu when omitted)."""
        sizes, _, activation = text.strip().partition("/")
        activation = activation or "relu"
        try:
            numbers = [int(s) for s in sizes.split("-")]
        except ValueError:
            numbers = []
        if len(numbers) < 3 or min(numbers) < 1:
            raise SpecError(
                f"model {text!r}: expected PIXELS-HIDDEN...-LATENT[/ACTIVATION], e.g. "
                "784-200-200-50/tanh"
            )
        if activation not in ACTIVATIONS:
            raise SpecError(f"model {text!r}: activation must be one of {', '.join(ACTIVATIONS)}")
        return cls(numbers[0], tuple(numbers[1:-1]), numbers[-1], activation)

    def __str__(self):
        return "-".join(map(str, [self.pixels, *self.hidden, self.latent])) + f"/{self.activation}"

    def layers(self):
        """(name, inputs, outputs, side) of every dense layer, as keras_vae builds them:
        the encoder's hidden layers, its mean and log-variance heads, then the decoder."""
        encoder = [
            (f"encoder {a}->{b}", a, b, "encoder")
            for a, b in itertools.pairwise([self.pixels, *self.hidden])
        ]
        top = self.hidden[-1]
        encoder += [
            (f"mean {top}->{self.latent}", top, self.latent, "encoder"),
            (f"log-variance {top}->{self.latent}", top, self.latent, "encoder"),
        ]
        decoder = [
            (f"decoder {a}->{b}", a, b, "decoder")
            for a, b in itertools.pairwise([self.latent, *self.hidden[::-1], self.pixels])
        ]
        return encoder + decoder

    def kernel_shapes(self):
        """Sorted (inputs, outputs) of the dense kernels, to compare with a built model."""
        return sorted((a, b) for _, a, b, _ in self.layers())

    def decoder_flops_per_sample(self):
        return sum(2 * a * b for _, a, b, side in self.layers() if side == "decoder")


@dataclasses.dataclass(frozen=True)
class Matmul:
    """One matmul of a step: output [m, n], inner dimension k."""

    layer: str
    kind: str  # "forward", "weight gradient" or "input gradient"
    m: int
    k: int
    n: int
    transpose_a: bool = False
    transpose_b: bool = False

    @property
    def flops(self):
        return 2 * self.m * self.k * self.n

    @property
    def rows(self):
        """The batch rows it runs on (the inner dimension of a weight gradient)."""
        return self.k if self.kind == "weight gradient" else self.m

    @property
    def key(self):
        """What the speed depends on: the shapes and transposes, not the layer's name."""
        return (self.m, self.k, self.n, self.transpose_a, self.transpose_b)

    def operands(self):
        a = (self.k, self.m) if self.transpose_a else (self.m, self.k)
        b = (self.n, self.k) if self.transpose_b else (self.k, self.n)
        return a, b

    def __str__(self):
        a, b = self.operands()
        return (
            f"[{a[0]},{a[1]}]{'^T' if self.transpose_a else ''} x "
            f"[{b[0]},{b[1]}]{'^T' if self.transpose_b else ''}"
        )


def key_name(key):
    m, k, n, ta, tb = key
    return str(Matmul("", "", m, k, n, ta, tb))


def training_matmuls(spec, batch_size, samples=1):
    """The matmuls of one training step (see the module docstring)."""
    out = []
    first = spec.layers()[0][0]
    for name, a, b, side in spec.layers():
        rows = batch_size * samples if side == "decoder" else batch_size
        out.append(Matmul(name, "forward", rows, a, b))
        out.append(Matmul(name, "weight gradient", a, rows, b, transpose_a=True))
        if name != first:
            out.append(Matmul(name, "input gradient", rows, b, a, transpose_b=True))
    return out


def decoder_matmuls(spec, rows):
    """The decoder's forward matmuls on `rows` latent codes (one evaluation call)."""
    return [
        Matmul(name, "forward", rows, a, b)
        for name, a, b, side in spec.layers()
        if side == "decoder"
    ]


def roofline_seconds(matmuls, gflops):
    """Sum of FLOPs / rate over `matmuls`, with `gflops` {Matmul.key: GFLOP/s}."""
    return sum(m.flops / (gflops[m.key] * 1e9) for m in matmuls)


REFERENCE = Matmul("reference", "forward", 2048, 2048, 2048)


class Probes:
    """GFLOP/s of TensorFlow's fp32 matmul kernel on given shapes.

    A probe runs its matmul n times in a while loop with parallel_iterations=1, so the
    products run one after another, as in a step where each needs the last one's
    output. The loop's own cost per iteration (about 10 us: the executor's control-flow
    ops), measured in every round by the same loop without the matmul, is subtracted,
    so small shapes (batch 20) are credited with their kernel's speed, not the loop's;
    it may take at most 3/4 of a probe's time, or a noisy baseline could make a kernel
    look infinitely fast. One tf.function serves every shape (its trace turns
    shape-generic after a few shapes; a matmul kernel does not depend on static shapes),
    so a hundred shapes cost a few traces. n is set once per shape so that a
    measurement takes about `seconds`; the first calls (tracing, calibration) are not
    measurements.
    """

    # The loop alone, timed over this many iterations per round.
    BASELINE_ITERATIONS = 2000

    def __init__(self, keys, seconds=0.04):
        self.keys = list(dict.fromkeys(keys))
        self.seconds = seconds
        self.operands = {}
        self.repeats = {}
        self._run = None
        self.loop_seconds = []  # Per iteration, one figure per `measure`.

    def _function(self):
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def run(a, b, times, transpose_a, transpose_b, multiply=True):
            def body(i, total):
                if multiply:
                    product = tf.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
                else:
                    product = a
                return i + 1, total + product[0, 0]

            return tf.while_loop(
                lambda i, total: i < times,
                body,
                (tf.constant(0), tf.constant(0.0)),
                parallel_iterations=1,
            )[1]

        return run

    def call(self, key, times, multiply=True):
        """Runs the probe of `key` `times` times; returns the wall time."""
        import tensorflow as tf

        a, b = self.operands[key]
        count = tf.constant(times)
        start = time.perf_counter()
        self._run(a, b, count, key[3], key[4], multiply).numpy()
        return time.perf_counter() - start

    def _build(self, key):
        import tensorflow as tf

        if self._run is None:
            self._run = self._function()
        m, k, n, ta, tb = key
        generator = tf.random.Generator.from_seed(m + k + n)
        self.operands[key] = (
            generator.normal((k, m) if ta else (m, k)),
            generator.normal((n, k) if tb else (k, n)),
        )
        self.call(key, 2)
        per_call = max(self.call(key, 3) / 3, 1e-6)
        self.repeats[key] = max(3, min(10_000, math.ceil(self.seconds / per_call)))

    def measure(self):
        """{key: GFLOP/s of the kernel}, one timed run per shape."""
        for key in self.keys:
            if key not in self.operands:
                self._build(key)
        first = self.keys[0]
        self.call(first, 2, multiply=False)  # Traced once, before it is timed.
        loop = self.call(first, self.BASELINE_ITERATIONS, multiply=False)
        self.loop_seconds.append(loop / self.BASELINE_ITERATIONS)
        out = {}
        for key in self.keys:
            times = self.repeats[key]
            total = self.call(key, times)
            kernel = max(total - times * self.loop_seconds[-1], total / 4)
            out[key] = 2 * key[0] * key[1] * key[2] * times / kernel / 1e9
        return out

    def kernels(self, logdir):
        """{op type: count} of the matmul kernels the probes run: a profile of one call
        of the first and of the last probe (after `measure` has built them)."""
        chosen = list(dict.fromkeys([self.keys[0], self.keys[-1]]))
        profile = profile_ops(lambda: [self.call(key, 1) for key in chosen], logdir)
        return profile["matmul_kernels"]


def medians(measurements):
    """{key: (median, min, max)} over a list of `Probes.measure` results."""
    import statistics

    return {
        key: (
            statistics.median(m[key] for m in measurements),
            min(m[key] for m in measurements),
            max(m[key] for m in measurements),
        )
        for key in measurements[0]
    }


# Op types by where their time goes. The names depend on the machine: oneDNN's kernels
# are _MklMatMul, _MklNativeFusedMatMul and the like where TensorFlow enables oneDNN,
# TensorFlow's MatMul and _FusedMatMul elsewhere; any op type with "MatMul" in its
# name is a matmul.
OPTIMIZER_OPS = ("ResourceApplyAdam",)
GROUPS = ("matmul", "optimizer", "other")


def op_group(op):
    """'matmul', 'optimizer' or 'other' for a TensorFlow op type."""
    if "matmul" in op.lower():
        return "matmul"
    return "optimizer" if op in OPTIMIZER_OPS else "other"


def profile_ops(run, logdir):
    """Runs `run()` under TensorFlow's profiler.

    Returns {"wall_seconds", "thread_seconds": {group: seconds of op time on
    TensorFlow's compute threads}, "top_ops": {op type: seconds}, "matmul_kernels":
    {op type: count}}. Thread seconds are summed over threads (ops on two threads
    overlap, so the sum can exceed the wall time). The kernel counts come from every
    thread of the trace, since a function's first ops may run on the calling thread.
    """
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    tf.profiler.experimental.start(logdir)
    start = time.perf_counter()
    try:
        run()
    finally:
        wall = time.perf_counter() - start
        tf.profiler.experimental.stop()
    space = xplane_pb2.XSpace()
    with open(sorted(glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True))[-1], "rb") as f:
        space.ParseFromString(f.read())
    seconds = collections.Counter()
    kernels = collections.Counter()
    for plane in space.planes:
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        for line in plane.lines:
            compute = line.name.startswith("tf_Compute")
            for event in line.events:
                name = names.get(event.metadata_id, "")
                if ":" not in name:
                    continue  # Op events are "node name:op type".
                op = name.rsplit(":", 1)[-1]
                if "matmul" in op.lower():
                    kernels[op] += 1
                if compute and op and op != "Process":  # "Process" spans a whole call.
                    seconds[op] += event.duration_ps / 1e12
    groups = dict.fromkeys(GROUPS, 0.0)  # Every group listed, 0.0 where none ran.
    for op, t in seconds.items():
        groups[op_group(op)] += t
    return {
        "wall_seconds": wall,
        "thread_seconds": groups,
        "top_ops": dict(seconds.most_common(12)),
        "matmul_kernels": dict(kernels.most_common()),
    }


def runtime_facts():
    """TensorFlow's version, thread pools and whether its oneDNN rewrites are on."""
    import os

    import tensorflow as tf

    facts = {
        "tensorflow": tf.__version__,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "gpus": len(tf.config.list_physical_devices("GPU")),
    }
    try:  # Private, so it may move; the profile's kernel names are the evidence anyway.
        from tensorflow.python.util import _pywrap_util_port

        facts["onednn_enabled"] = bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        facts["onednn_enabled"] = None
    return facts
