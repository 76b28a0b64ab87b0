"""Training speed of keras_vae, its ablations and PyTorch, for experiments/benchmark.py.

Every variant trains the same 784-512-256-2 ReLU VAE (Bernoulli likelihood, dynamic
binarization, Adam at 1e-3) on the same uint8 images. Each variant keeps its own model
and is timed one epoch at a time: first the first epoch of every variant (tracing,
compilation, warm-up), then `repeats` rounds in which the variants take turns, so a slow
minute on a shared machine hurts them all alike. Examples per second are over the
median of the steady epochs.

PyTorch (eager and torch.compile) runs when it is importable; it is a benchmark-only
extra (pip install 'keras_vae[benchmark]'), never a dependency of the package.
"""

import dataclasses
import itertools
import statistics
import time

import numpy as np

HIDDEN = (512, 256)
LATENT = 2
PIXELS = 784
LEARNING_RATE = 1e-3
ADAM_EPSILON = 1e-7  # Keras' default; PyTorch's is 1e-8, set to match.

# Each ablation turns one of keras_vae's defaults (TrainConfig's) off.
ABLATIONS = {
    "keras_vae": {},
    "jit_compile on": {"jit_compile": "on"},
    "per-example pipeline": {"input_pipeline": "per_example"},
    "Keras Adam": {"fused_optimizer": False},
    "steps_per_execution 1": {"steps_per_execution": 1},
    # What a straightforward Keras 3 fit does: XLA (Keras' "auto" on TensorFlow), a
    # per-example tf.data pipeline, one step per call and Keras' Adam.
    "plain Keras fit": {
        "jit_compile": "on",
        "input_pipeline": "per_example",
        "fused_optimizer": False,
        "steps_per_execution": 1,
    },
}


def layer_sizes():
    """(inputs, outputs) of every dense layer, encoder then decoder."""
    encoder = [*itertools.pairwise([PIXELS, *HIDDEN]), (HIDDEN[-1], LATENT), (HIDDEN[-1], LATENT)]
    decoder = list(itertools.pairwise([LATENT, *HIDDEN[::-1], PIXELS]))
    return encoder + decoder


def training_flops_per_example():
    """Matmul FLOPs of one training example: the forward pass, the weight gradients and
    the input gradients of every layer but the first (the images need none)."""
    forward = sum(2 * a * b for a, b in layer_sizes())
    return 3 * forward - 2 * PIXELS * HIDDEN[0]


@dataclasses.dataclass
class Timing:
    framework: str
    variant: str
    batch_size: int
    epoch_seconds: list

    def row(self, num_examples, flops_per_example, probe_gflops):
        steady = statistics.median(self.epoch_seconds[1:])
        examples_per_second = num_examples / steady
        return {
            "framework": self.framework,
            "variant": self.variant,
            "batch_size": self.batch_size,
            "examples_per_second": examples_per_second,
            # The fastest steady epoch: on a shared machine, the one least disturbed.
            "best_examples_per_second": num_examples / min(self.epoch_seconds[1:]),
            "first_epoch_seconds": self.epoch_seconds[0],
            "steady_epoch_seconds": steady,
            "first_epoch_ratio": self.epoch_seconds[0] / steady,
            "roofline_fraction": examples_per_second * flops_per_example / (probe_gflops * 1e9),
            "epoch_seconds": self.epoch_seconds,
        }


def keras_trainer(images, batch_size, options, seed=0):
    """A function that trains one more epoch of a fresh keras_vae model, as train does."""
    import keras

    from keras_vae import config as config_lib
    from keras_vae import pipeline, training

    train = config_lib.TrainConfig(batch_size=batch_size, seed=seed, **options)
    config = config_lib.Config(
        model=config_lib.ModelConfig(latent_dims=LATENT, hidden_units=HIDDEN, likelihood="bernoulli"),
        train=train,
        model_dir="unused",
    )
    keras.utils.set_random_seed(seed)
    model = training.build_model(config, images.shape[1:])
    model.binarize_training_inputs = True
    training.compile_model(model, train)
    dataset = pipeline.training_dataset(images, batch_size, seed, train.input_pipeline)

    def epoch():
        model.fit(dataset, epochs=1, verbose=0, shuffle=False)

    return epoch


def torch_trainer(images, batch_size, compiled, seed=0):
    """The same model, data handling and optimizer in PyTorch; one epoch per call."""
    import torch
    from torch import nn

    torch.manual_seed(seed)

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(
                nn.Linear(PIXELS, HIDDEN[0]), nn.ReLU(), nn.Linear(*HIDDEN), nn.ReLU()
            )
            self.mean = nn.Linear(HIDDEN[-1], LATENT)
            self.log_variance = nn.Linear(HIDDEN[-1], LATENT)
            self.decoder = nn.Sequential(
                nn.Linear(LATENT, HIDDEN[1]),
                nn.ReLU(),
                nn.Linear(HIDDEN[1], HIDDEN[0]),
                nn.ReLU(),
                nn.Linear(HIDDEN[0], PIXELS),
            )

        def forward(self, x):
            h = self.encoder(x)
            mean, log_variance = self.mean(h), self.log_variance(h)
            z = mean + torch.exp(0.5 * log_variance) * torch.randn_like(mean)
            logits = self.decoder(z)
            reconstruction = nn.functional.binary_cross_entropy_with_logits(
                logits, x, reduction="none"
            ).sum(-1)
            kl = -0.5 * (1 + log_variance - mean.square() - log_variance.exp()).sum(-1)
            return (reconstruction + kl).mean()

    model = VAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, eps=ADAM_EPSILON)

    def step(x):
        optimizer.zero_grad(set_to_none=True)
        loss = model(x)
        loss.backward()
        optimizer.step()
        return loss

    step_fn = torch.compile(step) if compiled else step
    stored = torch.from_numpy(images.reshape(len(images), -1))
    generator = torch.Generator().manual_seed(seed)

    def epoch():
        order = torch.randperm(len(stored), generator=generator)
        for start in range(0, len(stored), batch_size):
            x = stored[order[start : start + batch_size]].float() / 255.0
            step_fn(torch.bernoulli(x))

    return epoch


def torch_available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def matmul_gflops(m, k, n, repeats):
    """GFLOP/s of an fp32 [m, k] x [k, n] matmul, one tf.function call per product."""
    import tensorflow as tf

    a, b = tf.random.normal([m, k]), tf.random.normal([k, n])
    product = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    product().numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        product().numpy()
    return 2 * m * k * n * repeats / (time.perf_counter() - start) / 1e9


def matmul_probes(repeats=10):
    """GFLOP/s of large fp32 matmuls: the biggest layer at batch 1024, and 2048^3."""
    shapes = {"layer [1024,784]x[784,512]": (1024, PIXELS, HIDDEN[0]), "square 2048": (2048,) * 3}
    return {name: matmul_gflops(*shape, repeats) for name, shape in shapes.items()}


def small_batch_matmul_probes(batch_size, repeats=50):
    """GFLOP/s of the biggest layer's matmuls at `batch_size` rows: the forward product
    and the weight gradient, whose inner dimension is the batch."""
    import tensorflow as tf

    shapes = {
        f"forward [{batch_size},784]x[784,512]": (batch_size, PIXELS, HIDDEN[0]),
        f"weight gradient [784,{batch_size}]x[{batch_size},512]": (PIXELS, batch_size, HIDDEN[0]),
    }
    results = {}
    for name, (m, k, n) in shapes.items():
        a, b = tf.random.normal([m, k]), tf.random.normal([k, n])

        @tf.function
        def products(a=a, b=b):
            total = tf.constant(0.0)
            for _ in tf.range(repeats):
                total += tf.reduce_sum(tf.matmul(a, b))
            return total

        products().numpy()
        start = time.perf_counter()
        products().numpy()
        results[name] = 2 * m * k * n * repeats / (time.perf_counter() - start) / 1e9
    return results


# Op types by where their time goes, for the profile of one keras_vae epoch. The
# names depend on the machine: oneDNN's kernels are _MklMatMul, _MklNativeFusedMatMul
# and the like on AVX-512 CPUs, TensorFlow's MatMul and _FusedMatMul elsewhere; any
# op type with "MatMul" in its name is a matmul.
OPTIMIZER_OPS = ("ResourceApplyAdam",)
GROUPS = ("matmul", "optimizer", "other")


def op_group(op: str) -> str:
    """'matmul', 'optimizer' or 'other' for a TensorFlow op type."""
    if "matmul" in op.lower():
        return "matmul"
    return "optimizer" if op in OPTIMIZER_OPS else "other"


def profile_epoch(epoch, logdir):
    """Runs `epoch` under TensorFlow's profiler; the time per op type, summed over
    TensorFlow's compute threads (ops on the two threads overlap, so the sum exceeds
    the wall time), grouped into matmuls, the optimizer update and everything else."""
    import collections
    import glob

    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    tf.profiler.experimental.start(logdir)
    start = time.perf_counter()
    epoch()
    wall = time.perf_counter() - start
    tf.profiler.experimental.stop()
    space = xplane_pb2.XSpace()
    with open(sorted(glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True))[-1], "rb") as f:
        space.ParseFromString(f.read())
    seconds = collections.Counter()
    for plane in space.planes:
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                op = names.get(event.metadata_id, "").split(":")[-1]
                if op and op != "Process":  # "Process" spans a whole function call.
                    seconds[op] += event.duration_ps / 1e12
    # Every group is listed, with 0.0 where no op of it ran.
    groups = dict.fromkeys(GROUPS, 0.0)
    for op, t in seconds.items():
        groups[op_group(op)] += t
    return {
        "wall_seconds": wall,
        "thread_seconds": groups,
        "top_ops": dict(seconds.most_common(12)),
    }


def run(images, batch_sizes, variants, frameworks, repeats, profile_dir=None):
    """Times every (framework, variant, batch size); returns rows and the probes."""
    trainers = {}
    for batch_size in batch_sizes:
        if "keras_vae" in frameworks:
            for name in variants:
                trainers[("keras_vae", name, batch_size)] = keras_trainer(
                    images, batch_size, ABLATIONS[name]
                )
        if "torch" in frameworks and torch_available():
            trainers[("torch", "eager", batch_size)] = torch_trainer(images, batch_size, False)
            trainers[("torch", "torch.compile", batch_size)] = torch_trainer(
                images, batch_size, True
            )
    timings = {key: Timing(*key, epoch_seconds=[]) for key in trainers}
    rounds = 1 + repeats  # The first epoch, then the steady ones.
    probes = []
    for _ in range(rounds):
        probes.append(matmul_probes())
        for key, epoch in trainers.items():
            start = time.perf_counter()
            epoch()
            timings[key].epoch_seconds.append(time.perf_counter() - start)
    probe = {name: statistics.median(p[name] for p in probes) for name in probes[0]}
    gflops = max(probe.values())
    flops = training_flops_per_example()
    rows = [t.row(len(images), flops, gflops) for t in timings.values()]
    small_batch = {b: small_batch_matmul_probes(b) for b in batch_sizes}
    profiles = {}
    if profile_dir and "keras_vae" in frameworks and "keras_vae" in variants:
        for b in batch_sizes:
            profiles[b] = profile_epoch(
                trainers[("keras_vae", "keras_vae", b)], f"{profile_dir}/{b}"
            )
    return {
        "part": "train",
        "model": f"{PIXELS}-{'-'.join(map(str, HIDDEN))}-{LATENT}",
        "examples": len(images),
        "repeats": repeats,
        "flops_per_example": flops,
        "matmul_probe_gflops": probe,
        "roofline_gflops": gflops,
        "roofline_examples_per_second": gflops * 1e9 / flops,
        "rows": rows,
        "batch_matmul_probe_gflops": small_batch,
        "profiles": profiles,
    }


def print_table(result):
    print(
        f"training: {result['model']}, {result['examples']} examples, median of "
        f"{result['repeats']} steady epochs; {result['flops_per_example'] / 1e6:.2f} MFLOP "
        f"per example"
    )
    probes = ", ".join(f"{k} {v:.0f}" for k, v in result["matmul_probe_gflops"].items())
    print(
        f"matmul probes (GFLOP/s): {probes} -> roofline "
        f"{result['roofline_examples_per_second']:,.0f} examples/s"
    )
    for b, p in result["batch_matmul_probe_gflops"].items():
        print(f"batch {b} matmuls (GFLOP/s): " + ", ".join(f"{k} {v:.0f}" for k, v in p.items()))
    for b, p in result["profiles"].items():
        busy = sum(p["thread_seconds"].values()) or 1.0
        shares = ", ".join(f"{k} {v / busy:.0%}" for k, v in sorted(p["thread_seconds"].items()))
        print(
            f"profile of a keras_vae epoch at batch {b}: {p['wall_seconds']:.1f} s wall, "
            f"{busy:.1f} s of op time on TensorFlow's threads: {shares}"
        )
    print(
        "| framework | variant | batch | examples/s (median epoch) | best epoch | roofline "
        "| first epoch / steady |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in result["rows"]:
        print(
            f"| {r['framework']} | {r['variant']} | {r['batch_size']} | "
            f"{r['examples_per_second']:,.0f} | {r['best_examples_per_second']:,.0f} | "
            f"{r['roofline_fraction']:.0%} | "
            f"{r['first_epoch_seconds']:.1f} s / {r['steady_epoch_seconds']:.1f} s "
            f"= {r['first_epoch_ratio']:.1f}x |"
        )


def load_images(folder, limit):
    """Fashion-MNIST's training images as uint8 [N, 28, 28], the first `limit` if > 0."""
    from keras_vae import idx

    images, _ = idx.load_split(folder, "train")
    return np.ascontiguousarray(images[:limit] if limit > 0 else images)
