"""Speed of keras_vae against PyTorch and the machine's matmul roofline, measured in one run.

The full measurement, from the repository's root on a quiet machine (about 15 minutes
on a 2-core AVX-512 machine, about twice that on a 2-core AVX2 one):

    .venv/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu  # once
    .venv/bin/python experiments/benchmark.py --out=/tmp/benchmark.json | tee /tmp/benchmark.md

Nothing else may run meanwhile, not even nice-19 jobs: PyTorch's OpenMP threads
spin-wait, and with two nice-19 processes on the same 2 cores a PyTorch epoch at batch
20 took 200 times as long (TensorFlow's far less). The "Quiet check" line at the end
says how much CPU other processes took during the timed work, and whether the figures
are valid.

With every default, it covers:
- training at batch 20 (the IWAE protocol's 784-200-200-50 tanh model) and at batch 128
  and 1024 (keras_vae's default 784-512-256-2 relu model) on all 60,000 Fashion-MNIST
  training images: keras_vae's defaults, four ablations (tf.data's autotuner on, Keras'
  Adam, the per-example pipeline, one step per call; --variants adds "jit_compile on"
  and "plain Keras fit", each about five times slower) and PyTorch eager and
  torch.compile;
- IWAE training with k = 5 and 50 at batch 20 on 784-200-200-50 tanh (10,000 images);
- evaluation: the importance-weighted NLL with k = 5000 through the evaluate command's
  code path, timed on 300 images and projected to the 10,000 test images.
--batch_sizes / --batch_models, --iwae_k / --iwae_model, --eval_*, --rounds and the
--*_examples flags change them; --part=train or --part=eval runs one half.

What it prints (markdown for results/benchmark.md; --out writes all of it as JSON,
every epoch included):
- the machine: CPU model, cores, instruction sets (AVX2, AVX-512 F, AVX-512 BF16,
  AVX-512 VNNI, AMX) from /proc/cpuinfo, TensorFlow's and PyTorch's versions, the
  cgroup's CPU quota, and the TensorFlow matmul kernels seen in profiler traces of
  keras_vae's steps, an evaluation call and the roofline probes (`_MklMatMul` and
  `_MklNativeFusedMatMul` where TensorFlow rewrites its graphs for oneDNN, `MatMul` and
  `_FusedMatMul` where it does not: whatever the trace holds is reported);
- per contender, the median steady epoch with its minimum and maximum over rounds in
  which the contenders take turns, the first epoch against that median, and the
  fraction of the matmul roofline (roofline.py: the sum over the model's own matmuls,
  forward, weight gradient and input gradient of each layer at that batch size, of
  FLOPs / the GFLOP/s TensorFlow's kernel reaches on that exact shape, probed in every
  round);
- keras_vae against the faster of PyTorch eager and torch.compile: the ratio of the
  medians and the range of the per-round ratios, with the issue's targets;
- per contender and for each slow epoch: the CPU time of other processes, steal, cgroup
  throttling and CPU pressure, and for keras_vae how long fit() took to return after
  the epoch ended (the tf.data wait behind the old "fixed-length" epochs; see
  benchmark_training.py).

Bad flags are answered in one line, before TensorFlow is imported.
"""

import json
import math
import os
import sys
import tempfile
import time

import benchmark_training
import machine
import roofline
import script_flags
from absl import app, flags
from absl import logging as absl_logging

HERE = os.path.dirname(os.path.abspath(__file__))
# The target for the k = 5000 evaluation: this share of its decoder-matmul roofline.
EVAL_ROOFLINE_TARGET = 0.7
PROGRAM = "benchmark.py"

flags.DEFINE_list("part", ["train", "eval"], "What to measure: train and/or eval.")
flags.DEFINE_list("batch_sizes", ["20", "128", "1024"], "Batch sizes of the training sweep.")
flags.DEFINE_list(
    "batch_models",
    ["784-200-200-50/tanh", "784-512-256-2/relu", "784-512-256-2/relu"],
    "The model of each batch size (PIXELS-HIDDEN...-LATENT/ACTIVATION), one per batch size "
    "or one for all.",
)
flags.DEFINE_list(
    "variants",
    [
        "keras_vae",
        "tf.data autotune on",
        "Keras Adam",
        "per-example pipeline",
        "steps_per_execution 1",
    ],
    "keras_vae variants of the sweep: " + ", ".join(benchmark_training.ABLATIONS),
)
flags.DEFINE_list("iwae_k", ["5", "50"], "IWAE training cases: samples k (empty: none).")
flags.DEFINE_integer("iwae_batch_size", 20, "Batch size of the IWAE cases.")
flags.DEFINE_string("iwae_model", "784-200-200-50/tanh", "The IWAE cases' model.")
flags.DEFINE_list(
    "iwae_variants",
    ["keras_vae", "softplus likelihood"],
    "keras_vae variants of the IWAE cases.",
)
flags.DEFINE_list("frameworks", ["keras_vae", "torch"], "keras_vae and/or torch.")
flags.DEFINE_list(
    "torch_variants", list(benchmark_training.TORCH_VARIANTS), "eager, torch.compile."
)
flags.DEFINE_string(
    "train_data",
    os.path.join(HERE, "..", "..", "shared", "data", "fashion_mnist"),
    "Folder of MNIST-format IDX files whose training images are used.",
)
flags.DEFINE_integer("train_examples", 0, "Images of the batch sweep: the first N; 0: all.")
flags.DEFINE_integer("iwae_examples", 10000, "Images of the IWAE cases: the first N; 0: all.")
flags.DEFINE_integer("rounds", 5, "Steady rounds after the first epochs; figures are medians.")
flags.DEFINE_float("probe_seconds", 0.04, "Time of one matmul probe measurement.")
flags.DEFINE_string(
    "profile_dir", None, "Keep the profiler traces (TensorBoard's profile plugin) here."
)
flags.DEFINE_integer("intra_op_threads", 0, "TensorFlow threads per op; 0: its choice.")
flags.DEFINE_integer("inter_op_threads", 0, "TensorFlow ops at once; 0: its choice.")
flags.DEFINE_string("eval_model", "784-200-200-50/tanh", "The evaluated model.")
flags.DEFINE_integer("eval_k", 5000, "Importance samples per image.")
flags.DEFINE_integer("eval_images", 300, "Images timed per round.")
flags.DEFINE_integer("eval_total_images", 10000, "Images the projected time is for.")
flags.DEFINE_list("eval_rows_per_call", ["5000"], "Decoder rows per call to compare.")
flags.DEFINE_list("eval_paths", ["graph"], "graph (the evaluate command's) and/or xla.")
flags.DEFINE_list("eval_workers", ["2"], "Batches in flight at once, to compare.")
flags.DEFINE_string("out", None, "Write the results as JSON here too.")

FLAGS = flags.FLAGS


class UsageError(Exception):
    """A bad flag value; its message is the one line the user sees."""


def _integers(name, values, minimum=1):
    try:
        numbers = [int(v) for v in values]
    except ValueError:
        raise UsageError(f"--{name} takes integers, got {','.join(values)}") from None
    if any(n < minimum for n in numbers):
        raise UsageError(f"--{name} values must be at least {minimum}, got {','.join(values)}")
    return numbers


def _known(name, values, allowed):
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise UsageError(f"unknown --{name} {unknown}: expected {', '.join(allowed)}")
    return values


def _spec(name, text):
    try:
        return roofline.ModelSpec.parse(text)
    except roofline.SpecError as e:
        raise UsageError(f"--{name}: {e}") from None


def plan():
    """The flags checked and turned into {"parts", "cases", "variants", ...}; raises
    UsageError for the first bad one. Imports nothing heavy."""
    parts = _known("part", FLAGS.part, ("train", "eval"))
    if not parts:
        raise UsageError("--part is empty: expected train and/or eval")
    for name in ("rounds", "eval_k", "eval_images", "eval_total_images", "iwae_batch_size"):
        _integers(name, [str(getattr(FLAGS, name))])
    for name in ("train_examples", "iwae_examples", "intra_op_threads", "inter_op_threads"):
        _integers(name, [str(getattr(FLAGS, name))], minimum=0)
    if not FLAGS.probe_seconds > 0:
        raise UsageError(f"--probe_seconds must be positive, got {FLAGS.probe_seconds}")
    frameworks = _known("frameworks", FLAGS.frameworks, ("keras_vae", "torch"))
    torch_variants = _known(
        "torch_variants", FLAGS.torch_variants, benchmark_training.TORCH_VARIANTS
    )
    variants = _known("variants", FLAGS.variants, list(benchmark_training.ABLATIONS))
    iwae_variants = _known("iwae_variants", FLAGS.iwae_variants, list(benchmark_training.ABLATIONS))
    batch_sizes = _integers("batch_sizes", FLAGS.batch_sizes)
    models = [_spec("batch_models", m) for m in FLAGS.batch_models]
    if len(models) == 1 or not batch_sizes:
        models = models[:1] * len(batch_sizes)
    if len(models) != len(batch_sizes):
        raise UsageError(
            f"--batch_models lists {len(models)} models for {len(batch_sizes)} batch sizes: "
            "give one per batch size, or one for all"
        )
    iwae_k = _integers("iwae_k", FLAGS.iwae_k)
    iwae_model = _spec("iwae_model", FLAGS.iwae_model)
    eval_model = _spec("eval_model", FLAGS.eval_model)
    eval_rows = _integers("eval_rows_per_call", FLAGS.eval_rows_per_call)
    eval_workers = _integers("eval_workers", FLAGS.eval_workers)
    eval_paths = _known("eval_paths", FLAGS.eval_paths, ("graph", "xla"))
    if FLAGS.out and not os.path.isdir(os.path.dirname(os.path.abspath(FLAGS.out))):
        raise UsageError(f"--out {FLAGS.out}: its folder does not exist")
    torch_note = None
    if "torch" in frameworks and not benchmark_training.torch_available():
        torch_note = (
            "PyTorch is not installed: no PyTorch rows (pip install torch --index-url "
            "https://download.pytorch.org/whl/cpu)"
        )
        frameworks = [f for f in frameworks if f != "torch"]
    p = {
        "parts": parts,
        "frameworks": frameworks,
        "torch_variants": torch_variants if "torch" in frameworks else [],
        "variants": variants if "keras_vae" in frameworks else [],
        "iwae_variants": iwae_variants if "keras_vae" in frameworks else [],
        "sweep": list(zip(batch_sizes, models)),
        "iwae_k": iwae_k,
        "iwae_model": iwae_model,
        "eval_model": eval_model,
        "eval_variants": [(p, r, w) for p in eval_paths for r in eval_rows for w in eval_workers],
        "torch_note": torch_note,
    }
    rivals = len(p["torch_variants"])
    contenders = len(batch_sizes) * (len(p["variants"]) + rivals) + len(iwae_k) * (
        len(p["iwae_variants"]) + rivals
    )
    if "train" in parts:
        if not contenders:
            raise UsageError(
                "--part=train has nothing to time: no batch sizes or IWAE cases, or no "
                f"variants of the frameworks that can run ({', '.join(frameworks) or 'none'})"
            )
        if not os.path.isdir(FLAGS.train_data):
            raise UsageError(f"--train_data {FLAGS.train_data} is not a folder")
    if "eval" in parts and not p["eval_variants"]:
        raise UsageError("--part=eval has nothing to time: give --eval_paths and --eval_workers")
    return p


def import_tensorflow_quietly():
    """Imports TensorFlow and keras_vae as the commands do (cli.import_module_quietly:
    the C++ start-up chatter filtered out of stderr)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from keras_vae import cli

    cli.import_module_quietly("keras_vae.training")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # The probes' many one-off traces warn otherwise.


def log(message):
    print(message, file=sys.stderr, flush=True)


# --- Training.


def training_cases(p, num_images):
    cases = []
    sweep_examples = min(FLAGS.train_examples or num_images, num_images)
    iwae_examples = min(FLAGS.iwae_examples or num_images, num_images)
    for batch_size, spec in p["sweep"]:
        cases.append(
            benchmark_training.Case(
                f"batch {batch_size}",
                spec,
                batch_size,
                examples=sweep_examples,
                torch_target=1.5,
                roofline_target=0.8 if batch_size >= 1024 else None,
            )
        )
    for k in p["iwae_k"]:
        cases.append(
            benchmark_training.Case(
                f"IWAE k={k}",
                p["iwae_model"],
                FLAGS.iwae_batch_size,
                objective="iwae",
                samples=k,
                examples=iwae_examples,
                roofline_target=0.8,
            )
        )
    return cases


def benchmark_train(p):
    from keras_vae import idx

    images, _ = idx.load_split(FLAGS.train_data, "train")
    cases = training_cases(p, len(images))
    largest = max(c.examples for c in cases)
    images = images[:largest]
    for c in cases:
        if c.spec.pixels != images[0].size:
            raise UsageError(
                f"model {c.spec} takes {c.spec.pixels} pixels; the images of "
                f"{FLAGS.train_data} have {images[0].size}"
            )
    by_examples = {c.examples: images[: c.examples] for c in cases}
    variants = {
        c.name: (p["iwae_variants"] if c.objective == "iwae" else p["variants"]) for c in cases
    }
    log(
        f"training: {len(cases)} cases, "
        f"{sum(len(v) for v in variants.values()) + len(cases) * len(p['torch_variants'])} "
        f"contenders, {FLAGS.rounds} rounds after the first epochs"
    )
    return benchmark_training.run(
        by_examples,
        cases,
        variants,
        p["torch_variants"],
        FLAGS.rounds,
        probe_seconds=FLAGS.probe_seconds,
        profile_dir=FLAGS.profile_dir and os.path.join(FLAGS.profile_dir, "train"),
        log=log,
    )


# --- Evaluation.


def decoder_rows(k, rows_per_call, pixels):
    """Rows of one decoder call of `evaluation.per_example_bounds`, and images per call:
    the same arithmetic (k split into equal chunks, then whole images per call)."""
    from keras_vae import handles

    rows_per_call = max(1, min(rows_per_call, handles.MAX_OUTPUT_FLOATS // max(pixels, 1)))
    chunks = math.ceil(k / rows_per_call)
    samples_per_call = math.ceil(k / chunks)
    images_per_call = max(1, rows_per_call // samples_per_call)
    return samples_per_call * images_per_call, images_per_call, samples_per_call


def eval_scorers(model, paths, folder):
    """{path name: scorer} for the evaluate command's path and the all-XLA alternative."""
    from keras_vae import export, handles

    scorers = {}
    if "graph" in paths:
        export.export_saved_model(model, os.path.join(folder, "saved_model"))
        scorers["graph"] = handles.load_saved_model(os.path.join(folder, "saved_model"))
    if "xla" in paths:
        scorers["xla"] = handles.KerasHandle(model, jit_compile=True)
    return scorers


def image_shape(pixels):
    side = math.isqrt(pixels)
    return (side, side) if side * side == pixels else (1, pixels)


def benchmark_eval(p):
    import numpy as np

    from keras_vae import evaluation
    from keras_vae.model import VAE

    spec = p["eval_model"]
    k = FLAGS.eval_k
    shape = image_shape(spec.pixels)
    model = VAE(
        image_shape=shape,
        latent_dims=spec.latent,
        hidden_units=spec.hidden,
        activation=spec.activation,
        likelihood="bernoulli",
    )
    model(np.zeros((1, *shape), np.float32))
    # Random weights and images: the time does not depend on them.
    images = (np.random.default_rng(0).random((FLAGS.eval_images, *shape)) < 0.13).astype(
        np.float32
    )
    variants = p["eval_variants"]
    paths = sorted({v[0] for v in variants}, key=["graph", "xla"].index)
    rows = {r: decoder_rows(k, r, spec.pixels) for r in {v[1] for v in variants}}
    matmuls = {r: roofline.decoder_matmuls(spec, rows[r][0]) for r in rows}
    probes = roofline.Probes(
        [m.key for ms in matmuls.values() for m in ms] + [roofline.REFERENCE.key],
        seconds=FLAGS.probe_seconds,
    )
    counters = machine.Counters()
    with tempfile.TemporaryDirectory(prefix="keras_vae_benchmark_") as folder:
        scorers = eval_scorers(model, paths, folder)
        log(f"evaluation: {len(variants)} variants, {FLAGS.rounds} rounds after the first calls")
        first = {}
        for v in variants:  # Tracing and compilation: timed, but not part of the median.
            path, r, workers = v
            start = time.perf_counter()
            evaluation.per_example_bounds(scorers[path], images[:4], k, 0, r, workers=workers)
            first[v] = time.perf_counter() - start
        probes.measure()  # Builds and calibrates the probes.
        probe_kernels = probes.kernels(os.path.join(FLAGS.profile_dir or folder, "eval_probes"))
        seconds = {v: [] for v in variants}
        disturbances = {v: [] for v in variants}
        probe_rounds = []
        for r in range(FLAGS.rounds):
            probe_rounds.append(probes.measure())
            shift = r % len(variants)
            for v in variants[shift:] + variants[:shift]:
                path, rows_per_call, workers = v
                a = counters.snapshot()
                evaluation.per_example_bounds(
                    scorers[path], images, k, 0, rows_per_call, workers=workers
                )
                b = counters.snapshot()
                seconds[v].append(b.wall - a.wall)
                disturbances[v].append(counters.between(a, b))
            log(f"  round {r + 1} of {FLAGS.rounds}")
        profile = None
        if "graph" in scorers:
            r, images_per_call, samples_per_call = rows[variants[0][1]]
            profile = roofline.profile_ops(
                lambda: scorers["graph"].log_weights(
                    images[:images_per_call], samples_per_call, [0, 0]
                ),
                os.path.join(FLAGS.profile_dir or folder, "eval"),
            )
    gflops = roofline.medians(probe_rounds)
    rates = {key: v[0] for key, v in gflops.items()}
    total_samples = k * FLAGS.eval_total_images
    scale = FLAGS.eval_total_images / FLAGS.eval_images
    flop = spec.decoder_flops_per_sample() * total_samples
    out_rows = []
    for v in variants:
        path, r, workers = v
        decoder_rows_per_call = rows[r][0]
        roofline_s = (
            total_samples / decoder_rows_per_call * roofline.roofline_seconds(matmuls[r], rates)
        )
        projected = benchmark_training.spread([s * scale for s in seconds[v]])
        out_rows.append(
            {
                "path": path,
                "rows_per_call": r,
                "decoder_rows_per_call": decoder_rows_per_call,
                "workers": workers,
                "first_call_seconds": first[v],
                "projected_seconds": projected,
                "timed_seconds": seconds[v],
                "roofline_seconds": roofline_s,
                "roofline_fraction": {
                    "median": roofline_s / projected["median"],
                    "min": roofline_s / projected["max"],
                    "max": roofline_s / projected["min"],
                },
                "achieved_gflops": flop / projected["median"] / 1e9,
                "disturbance": machine.summed(disturbances[v]),
                "rounds": disturbances[v],
            }
        )
    return {
        "model": str(spec),
        "k": k,
        "timed_images": FLAGS.eval_images,
        "projected_images": FLAGS.eval_total_images,
        "rounds": FLAGS.rounds,
        "decoder_flop": flop,
        "matmuls": {
            str(r): [
                {
                    "layer": m.layer,
                    "shape": str(m),
                    "flops": m.flops,
                    "gflops": gflops[m.key][0],
                    "gflops_min": gflops[m.key][1],
                    "gflops_max": gflops[m.key][2],
                }
                for m in ms
            ]
            for r, ms in matmuls.items()
        },
        "reference_gflops": gflops[roofline.REFERENCE.key],
        "probe_kernels": probe_kernels,
        "rows": out_rows,
        "profile": profile,
    }


def print_eval(result, out=print):
    seconds = benchmark_training.fmt_seconds
    out(
        f"\n### Evaluation: k={result['k']}, {result['model']}, {result['timed_images']} "
        f"images a round, projected to {result['projected_images']}; median [min-max] of "
        f"{result['rounds']} alternating rounds\n"
    )
    out("Decoder matmuls (GFLOP/s, median [min-max] over the rounds):\n")
    for r, ms in result["matmuls"].items():
        cells = "; ".join(
            f"{m['shape']} {m['gflops']:.0f} [{m['gflops_min']:.0f}-{m['gflops_max']:.0f}]"
            for m in ms
        )
        out(f"- {r} rows per call: {cells}")
    ref = result["reference_gflops"]
    out(f"- reference [2048,2048] x [2048,2048]: {ref[0]:.0f} [{ref[1]:.0f}-{ref[2]:.0f}]")
    out(f"- the probes ran {', '.join(result['probe_kernels']) or 'no matmul kernel seen'}\n")
    out(
        "| path | rows per call | workers | time | decoder GFLOP/s | decoder-matmul roofline "
        "| roofline fraction | target | first call (4 images) | other processes' CPU-s |"
    )
    out("|---|---|---|---|---|---|---|---|---|---|")
    for r in result["rows"]:
        p = {k: seconds(v) for k, v in r["projected_seconds"].items()}
        fraction = r["roofline_fraction"]
        verdict = benchmark_training.target_verdict(fraction["median"], EVAL_ROOFLINE_TARGET)
        others = r["disturbance"].get("others_cpu_seconds")
        out(
            f"| {r['path']} | {r['rows_per_call']} | {r['workers']} | "
            f"{p['median']} s [{p['min']}-{p['max']}] | {r['achieved_gflops']:.0f} | "
            f"{seconds(r['roofline_seconds'])} s | "
            f"{benchmark_training.fmt_range(fraction, benchmark_training.fmt_percent)} | "
            f">= {EVAL_ROOFLINE_TARGET:.0%}: {verdict} | {r['first_call_seconds']:.1f} s | "
            f"{'n/a' if others is None else f'{others:.1f}'} |"
        )
    if result["profile"]:
        kernels = ", ".join(f"{k} ({n})" for k, n in result["profile"]["matmul_kernels"].items())
        out(f"\nTensorFlow matmul kernels in an evaluation call: {kernels or 'none seen'}")


# --- The machine.


def machine_facts():
    return {
        "cpu": machine.cpu(),
        "cpu_quota": machine.cpu_quota(),
        "load_average_at_start": machine.load_average(),
        **roofline.runtime_facts(),
        "keras": machine.package_version("keras"),
        "torch": machine.package_version("torch"),
    }


def print_machine(facts, out=print):
    out("### Machine\n")
    out(f"- CPU: {machine.describe_cpu(facts['cpu'])}")
    onednn = {True: "on", False: "off", None: "unknown"}[facts["onednn_enabled"]]
    torch = facts["torch"] or "not installed"
    runtime = facts.get("torch_runtime")
    if runtime:
        torch += f" ({runtime['threads']} threads, CPU capability {runtime['cpu_capability']})"
    intra = facts["intra_op_threads"] or "default"
    inter = facts["inter_op_threads"] or "default"
    out(
        f"- software: TensorFlow {facts['tensorflow']} (oneDNN {onednn}; intra-op threads "
        f"{intra}, inter-op {inter}), Keras {facts['keras']}, PyTorch {torch}; "
        f"{facts['gpus']} GPUs"
    )
    quota = facts["cpu_quota"]
    quota_text = "none" if quota["cpus"] is None else f"{quota['cpus']:g} CPUs"
    source = quota["source"] or "no cgroup CPU controller found"
    load = facts["load_average_at_start"]
    out(
        f"- cgroup CPU quota: {quota_text} ({source}); load average at the start: "
        f"{'n/a' if load is None else f'{load:.1f}'}"
    )
    kernels = facts.get("tensorflow_matmul_kernels")
    if kernels is not None:
        out(
            "- TensorFlow matmul kernels in a profile of keras_vae's steps and evaluation: "
            f"{', '.join(kernels) or 'none seen'}; in the roofline probes: "
            f"{', '.join(facts.get('probe_matmul_kernels') or []) or 'none seen'}"
        )


def quiet_check(result, out=print):
    """One line on whether the timed work had the machine to itself."""
    deltas = [r["steady_disturbance"] for r in result.get("train", {}).get("rows", [])]
    deltas += [r["disturbance"] for r in result.get("eval", {}).get("rows", [])]
    deltas = [d for d in deltas if d]
    if not deltas:
        return
    total = machine.summed(deltas)
    wall = total["seconds"]
    cpus = result["machine"]["cpu"]["usable_cpus"] or 1
    others = total.get("others_cpu_seconds")
    if others is None:
        out("\nQuiet check: this machine does not report other processes' CPU time.")
        return
    share = others / (wall * cpus)
    steal = total.get("steal_seconds") or 0.0
    throttled = total.get("throttled_seconds") or 0.0
    verdict = (
        "the timings are valid"
        if share < 0.05 and steal < 0.01 * wall and throttled < 0.01 * wall
        else "NOT a quiet machine: the timings are not valid figures"
    )
    out(
        f"\nQuiet check: over {wall:.0f} s of timed work, other processes used {others:.1f} "
        f"CPU-s ({share:.0%} of the machine), steal {steal:.1f} s, cgroup throttling "
        f"{throttled:.1f} s: {verdict}."
    )


def main(argv):
    del argv
    try:
        p = plan()
    except UsageError as e:
        sys.stderr.write(f"{PROGRAM}: error: {e}\n")
        return 2
    if p["torch_note"]:
        log(p["torch_note"])
    import_tensorflow_quietly()
    if not FLAGS["verbosity"].present:
        # TensorFlow's savers log each file of the evaluation's SavedModel at INFO.
        absl_logging.set_verbosity(absl_logging.WARNING)
    from keras_vae import config as config_lib
    from keras_vae import training

    # Before TensorFlow's runtime starts: afterwards the pools cannot be resized.
    training.configure_threads(
        config_lib.TrainConfig(
            intra_op_threads=FLAGS.intra_op_threads, inter_op_threads=FLAGS.inter_op_threads
        )
    )
    result = {"command": " ".join(["python", "experiments/benchmark.py", *sys.argv[1:]])}
    result["date"] = time.strftime("%Y-%m-%d %H:%M %Z")
    result["machine"] = machine_facts()
    started = time.perf_counter()
    try:
        if "train" in p["parts"]:
            result["train"] = benchmark_train(p)
            if result["train"]["torch"]:
                result["machine"]["torch_runtime"] = result["train"]["torch"]
        if "eval" in p["parts"]:
            result["eval"] = benchmark_eval(p)
    except UsageError as e:
        sys.stderr.write(f"{PROGRAM}: error: {e}\n")
        return 2
    result["seconds"] = time.perf_counter() - started
    kernels = set()
    for c in result.get("train", {}).get("cases", []):
        kernels |= set(c.get("profile", {}).get("matmul_kernels", {}))
    if result.get("eval", {}).get("profile"):
        kernels |= set(result["eval"]["profile"]["matmul_kernels"])
    result["machine"]["tensorflow_matmul_kernels"] = sorted(kernels)
    probed = set(result.get("train", {}).get("probe_kernels", {}))
    probed |= set(result.get("eval", {}).get("probe_kernels", {}))
    result["machine"]["probe_matmul_kernels"] = sorted(probed)
    print(f"## Benchmark, {result['date']}\n\n```bash\n{result['command']}\n```\n")
    print_machine(result["machine"])
    if "train" in result:
        benchmark_training.print_tables(result["train"])
    if "eval" in result:
        print_eval(result["eval"])
    quiet_check(result)
    print(f"\nThe run took {result['seconds'] / 60:.1f} minutes.")
    if FLAGS.out:
        with open(FLAGS.out, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    app.run(main, flags_parser=script_flags.flags_parser(PROGRAM))
