"""Training speed of keras_vae, its ablations and PyTorch, for experiments/benchmark.py.

A case is a model, a batch size and an objective (the ELBO, or IWAE with k samples);
the contenders of a case are keras_vae's defaults, the ablations asked for (each turns
one default off) and PyTorch eager and torch.compile, all training the same model on
the same uint8 images with dynamic binarization and Adam at 1e-3. Each contender keeps
its own model and is timed one epoch at a time: round 0 times the first epoch of every
contender (tracing, compilation, warm-up), then `rounds` rounds time one steady epoch
each, the contenders taking turns (in an order that rotates from round to round), so
a slow minute on a shared machine hurts them all alike. Every round also measures
the matmul probes of every case's shapes (roofline.py); a figure is the median over
the steady rounds, with its minimum and maximum, and each ratio is between figures of
this one run (per round, and of the medians).

PyTorch runs in a worker process (benchmark_torch.py) that takes its turn within the
rounds like every other contender; it is a benchmark-only extra (pip install
'keras_vae[benchmark]'), never a dependency of the package.

Each epoch also records what else the machine did meanwhile (machine.Counters: cgroup
throttling, steal, other processes' CPU time, CPU pressure) and, for keras_vae, how
long `fit` took to return after the epoch's end (its callbacks' on_epoch_end). On
TensorFlow 2.21, deleting an epoch's tf.data iterator waits for tf.data's autotuning
thread to wake, and that thread sleeps in periods that double from 10 ms: it wakes
10, 30, 70, ..., 5110, 10230 ms after the iterator's first batch. With the autotuner
on, epochs therefore ended on those instants: the epochs of exactly 5.13 s and 10.26 s
in the old results/benchmark.md. keras_vae's pipelines now turn the autotuner off;
the "tf.data autotune on" ablation turns it back on, to show the stall and its cost.
"""

import dataclasses
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

import benchmark_torch
import machine
import numpy as np
import roofline

TORCH_SCRIPT = os.path.abspath(benchmark_torch.__file__)
# The target: keras_vae's first epoch at most this many steady ones.
FIRST_EPOCH_TARGET = 1.5
# Steady epochs this much slower than their contender's median are listed one by one.
SLOW_EPOCH = 1.2
# fit() returning later than this after its epoch ended is reported as a stall.
LAG_REPORTED_SECONDS = 0.05


@dataclasses.dataclass(frozen=True)
class Variant:
    """A keras_vae training variant: TrainConfig fields that differ from the defaults,
    and tf.data's autotuner forced on or off in the training dataset (None: as
    keras_vae's pipeline sets it)."""

    train: dict = dataclasses.field(default_factory=dict)
    autotune: bool | None = None


# Each ablation turns one of keras_vae's defaults (TrainConfig's) off.
ABLATIONS = {
    "keras_vae": Variant(),
    "tf.data autotune on": Variant(autotune=True),
    "jit_compile on": Variant({"jit_compile": "on"}),
    "per-example pipeline": Variant({"input_pipeline": "per_example"}),
    "Keras Adam": Variant({"fused_optimizer": False}),
    "steps_per_execution 1": Variant({"steps_per_execution": 1}),
    "softplus likelihood": Variant({"product_likelihood": False}),
    # What a straightforward Keras 3 fit does: XLA (Keras' "auto" on TensorFlow), a
    # per-example tf.data pipeline, one step per call and Keras' Adam.
    "plain Keras fit": Variant(
        {
            "jit_compile": "on",
            "input_pipeline": "per_example",
            "fused_optimizer": False,
            "steps_per_execution": 1,
        }
    ),
}
TORCH_VARIANTS = ("eager", "torch.compile")


@dataclasses.dataclass(frozen=True)
class Case:
    """What is trained: a model at a batch size with an objective, on `examples` images."""

    name: str
    spec: roofline.ModelSpec
    batch_size: int
    objective: str = "elbo"
    samples: int = 1
    examples: int = 0
    # The targets: keras_vae against the faster PyTorch, and of the roofline.
    torch_target: float | None = None
    roofline_target: float | None = None

    def matmuls(self):
        return roofline.training_matmuls(self.spec, self.batch_size, self.samples)

    def roofline_epoch_seconds(self, gflops):
        # Steps of a full batch; the last, smaller batch is counted pro rata.
        return self.examples / self.batch_size * roofline.roofline_seconds(self.matmuls(), gflops)

    def matmul_flops_per_example(self):
        return sum(m.flops for m in self.matmuls()) / self.batch_size


def with_autotune(dataset, enabled):
    import tensorflow as tf
    from absl import logging

    options = tf.data.Options()
    options.autotune.enabled = enabled
    # Overriding keras_vae's own setting is the point: not worth tf.data's warning.
    verbosity = logging.get_verbosity()
    logging.set_verbosity(logging.ERROR)
    try:
        return dataset.with_options(options)
    finally:
        logging.set_verbosity(verbosity)


class KerasContender:
    """A keras_vae model trained as the train command trains it, one fit() per epoch."""

    framework = "keras_vae"

    def __init__(self, images, case, variant_name, seed=0):
        import keras

        from keras_vae import config as config_lib
        from keras_vae import pipeline, training

        self.case, self.variant = case, variant_name
        variant = ABLATIONS[variant_name]
        spec = case.spec
        train = config_lib.TrainConfig(batch_size=case.batch_size, seed=seed, **variant.train)
        config = config_lib.Config(
            model=config_lib.ModelConfig(
                latent_dims=spec.latent,
                hidden_units=spec.hidden,
                activation=spec.activation,
                likelihood="bernoulli",
                objective=case.objective,
                num_samples=case.samples,
            ),
            train=train,
            model_dir="unused",
        )
        keras.utils.set_random_seed(seed)
        self.model = training.build_model(config, images.shape[1:])
        self.model.binarize_training_inputs = True
        training.compile_model(self.model, train)
        self.dataset = pipeline.training_dataset(
            images, case.batch_size, seed, train.input_pipeline
        )
        if variant.autotune is not None:
            self.dataset = with_autotune(self.dataset, variant.autotune)
        ended = {}

        class EpochEnd(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                ended["at"] = time.perf_counter()

        self._callbacks = [EpochEnd()]
        self._ended = ended

    def epoch(self):
        """Trains one epoch; {"fit_return_seconds": time from the epoch's end to fit's return}."""
        self.model.fit(self.dataset, epochs=1, verbose=0, shuffle=False, callbacks=self._callbacks)
        return {"fit_return_seconds": time.perf_counter() - self._ended["at"]}

    def kernel_shapes(self):
        """Sorted (inputs, outputs) of the model's dense kernels (after the first epoch)."""
        return sorted(
            tuple(int(d) for d in v.shape)
            for v in self.model.trainable_variables
            if len(v.shape) == 2
        )

    def profile(self, logdir, steps):
        """The ops of `steps` training steps of this model under TensorFlow's profiler."""
        short = self.dataset.take(steps)
        return roofline.profile_ops(
            lambda: self.model.fit(short, epochs=1, verbose=0, shuffle=False), logdir
        )


class TorchWorker:
    """The PyTorch process (benchmark_torch.py): one request, one reply at a time."""

    def __init__(self, images, folder):
        path = os.path.join(folder, "images.npy")
        np.save(path, images)
        self.log_path = os.path.join(folder, "torch_stderr.log")
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, TORCH_SCRIPT, path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )

    @property
    def pid(self):
        return self.process.pid

    def request(self, **message):
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        for line in self.process.stdout:
            if line.startswith(benchmark_torch.REPLY):
                return json.loads(line[len(benchmark_torch.REPLY) :])
        self._log.flush()
        with open(self.log_path) as f:
            tail = f.read()[-2000:]
        raise RuntimeError(f"the PyTorch worker stopped; its last words:\n{tail}")

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=60)
        self._log.close()


class TorchContender:
    framework = "torch"

    def __init__(self, worker, case, variant_name):
        self.case, self.variant, self.worker = case, variant_name, worker
        self.key = f"{case.name}/{variant_name}"
        worker.request(
            build=self.key,
            spec=str(case.spec),
            batch_size=case.batch_size,
            objective=case.objective,
            samples=case.samples,
            examples=case.examples,
            compiled=variant_name == "torch.compile",
        )

    def epoch(self):
        return {"worker_seconds": self.worker.request(epoch=self.key)["seconds"]}


def torch_available():
    return machine.package_version("torch") is not None


def spread(values):
    """{"median", "min", "max", "q1", "q3"} of a list of numbers."""
    values = sorted(values)
    if len(values) >= 2:
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    else:
        q1 = q3 = values[0]
    return {
        "median": statistics.median(values),
        "min": values[0],
        "max": values[-1],
        "q1": q1,
        "q3": q3,
    }


def run(
    images_by_examples,
    cases,
    variants_by_case,
    torch_variants,
    rounds,
    probe_seconds=0.04,
    profile_dir=None,
    log=print,
):
    """Times every contender of every case; returns {"cases", "rows", "probes", ...}.

    images_by_examples: {number of examples: uint8 images}, one entry per distinct
    `Case.examples`. variants_by_case: {case name: keras_vae variant names}.
    torch_variants: PyTorch variants to run (empty: none).
    """
    with tempfile.TemporaryDirectory(prefix="keras_vae_benchmark_") as folder:
        worker = None
        try:
            if torch_variants:
                worker = TorchWorker(images_by_examples[max(images_by_examples)], folder)
                torch_versions = worker.request(versions=True)
            else:
                torch_versions = None
            return _run(
                images_by_examples,
                cases,
                variants_by_case,
                torch_variants,
                rounds,
                probe_seconds,
                profile_dir or os.path.join(folder, "profile"),
                worker,
                torch_versions,
                log,
            )
        finally:
            if worker is not None:
                worker.close()


def _run(
    images_by_examples,
    cases,
    variants_by_case,
    torch_variants,
    rounds,
    probe_seconds,
    profile_dir,
    worker,
    torch_versions,
    log,
):
    contenders = []
    for case in cases:
        images = images_by_examples[case.examples]
        for name in variants_by_case[case.name]:
            contenders.append(KerasContender(images, case, name))
        for name in torch_variants:
            contenders.append(TorchContender(worker, case, name))
    probes = roofline.Probes(
        [m.key for case in cases for m in case.matmuls()] + [roofline.REFERENCE.key],
        seconds=probe_seconds,
    )
    counters = machine.Counters([worker.pid] if worker is not None else [])
    epochs = {id(c): [] for c in contenders}
    probe_rounds = []
    # torch.compile's builds leave its compile workers warming up in the background,
    # which took 10 to 15 CPU-s from the first keras_vae epochs (the AVX2 run of
    # 2026-12-01): the first epochs start on a quiet machine.
    waited, quiet = machine.wait_until_quiet(counters)
    log(f"  waited {waited:.0f} s for a quiet machine" + ("" if quiet else ": it never was"))
    total = 1 + rounds
    for r in range(total):
        started = time.perf_counter()
        if r == 0:
            probes.measure()  # Builds and calibrates every probe: not a measurement.
        else:
            probe_rounds.append(probes.measure())
        shift = r % len(contenders)
        for c in contenders[shift:] + contenders[:shift]:
            a = counters.snapshot()
            extra = c.epoch()
            b = counters.snapshot()
            epochs[id(c)].append({**counters.between(a, b), **extra})
        label = "first epochs" if r == 0 else f"round {r} of {rounds}"
        log(f"  {label}: {time.perf_counter() - started:.0f} s")
    gflops = roofline.medians(probe_rounds)
    rates = {key: v[0] for key, v in gflops.items()}
    probe_kernels = probes.kernels(os.path.join(profile_dir, "probes"))
    rows = [_row(c, epochs[id(c)], rates) for c in contenders]
    summaries = [_case_summary(case, rows, gflops, rates) for case in cases]
    for summary, case in zip(summaries, cases):
        defaults = [c for c in contenders if c.case is case and c.variant == "keras_vae"]
        if defaults:
            c = defaults[0]
            # A few steps: enough to see every kernel of a step, little to parse.
            steps = min(math.ceil(case.examples / case.batch_size), 64)
            summary["profile"] = c.profile(os.path.join(profile_dir, _slug(case.name)), steps)
            kernels = c.kernel_shapes()
            if kernels != case.spec.kernel_shapes():
                summary["warning"] = (
                    f"keras_vae's dense kernels {kernels} differ from the roofline's "
                    f"{case.spec.kernel_shapes()}: the roofline counts other matmuls"
                )
    return {
        "rounds": rounds,
        "cases": summaries,
        "rows": rows,
        "reference_gflops": gflops[roofline.REFERENCE.key],
        "probe_kernels": probe_kernels,
        "probe_rounds": [
            {roofline.key_name(k): v for k, v in measured.items()} for measured in probe_rounds
        ],
        "torch": torch_versions,
    }


def _slug(name):
    return "".join(ch if ch.isalnum() else "_" for ch in name)


def _row(contender, epochs, rates):
    case = contender.case
    seconds = [e["seconds"] for e in epochs]
    steady = seconds[1:]
    roofline_s = case.roofline_epoch_seconds(rates)
    s = spread(steady)
    lags = [e["fit_return_seconds"] for e in epochs if "fit_return_seconds" in e]
    return {
        "case": case.name,
        "model": str(case.spec),
        "batch_size": case.batch_size,
        "objective": case.objective,
        "samples": case.samples,
        "examples": case.examples,
        "framework": contender.framework,
        "variant": contender.variant,
        "epoch_seconds": seconds,
        "first_epoch_seconds": seconds[0],
        "steady_epoch_seconds": s,
        "first_epoch_ratio": seconds[0] / s["median"],
        "examples_per_second": {
            "median": case.examples / s["median"],
            "min": case.examples / s["max"],
            "max": case.examples / s["min"],
        },
        "roofline_epoch_seconds": roofline_s,
        "roofline_fraction": {
            "median": roofline_s / s["median"],
            "min": roofline_s / s["max"],
            "max": roofline_s / s["min"],
        },
        "matmul_gflops_achieved": (
            case.matmul_flops_per_example() * case.examples / s["median"] / 1e9
        ),
        "steady_disturbance": machine.summed(epochs[1:]),
        "fit_return_seconds_max": max(lags[1:]) if len(lags) > 1 else None,
        "stalled_epochs": sum(lag > LAG_REPORTED_SECONDS for lag in lags[1:]),
        "epochs": epochs,
    }


def _case_summary(case, rows, gflops, rates):
    matmuls = case.matmuls()
    step = roofline.roofline_seconds(matmuls, rates)
    summary = {
        "case": case.name,
        "model": str(case.spec),
        "batch_size": case.batch_size,
        "objective": case.objective,
        "samples": case.samples,
        "examples": case.examples,
        "matmul_flops_per_example": case.matmul_flops_per_example(),
        "roofline_step_seconds": step,
        "roofline_examples_per_second": case.batch_size / step,
        "roofline_target": case.roofline_target,
        "torch_target": case.torch_target,
        "matmuls": [
            {
                "layer": m.layer,
                "kind": m.kind,
                "shape": str(m),
                "flops": m.flops,
                "rows": m.rows,
                "gflops": gflops[m.key][0],
                "gflops_min": gflops[m.key][1],
                "gflops_max": gflops[m.key][2],
                "roofline_share": m.flops / (rates[m.key] * 1e9) / step,
            }
            for m in matmuls
        ],
    }
    ours = defaults_row(rows, case.name)
    rivals = [r for r in rows if r["case"] == case.name and r["framework"] == "torch"]
    if ours and rivals:
        against = {}
        for rival in rivals:
            # Paired by round: the two epochs of a round ran minutes apart at most.
            per_round = [
                t / k for k, t in zip(ours["epoch_seconds"][1:], rival["epoch_seconds"][1:])
            ]
            against[rival["variant"]] = {
                "examples_per_second": rival["examples_per_second"]["median"],
                "ratio_of_medians": rival["steady_epoch_seconds"]["median"]
                / ours["steady_epoch_seconds"]["median"],
                "per_round": per_round,
                "per_round_min": min(per_round),
                "per_round_max": max(per_round),
            }
        best = max(rivals, key=lambda r: r["examples_per_second"]["median"])["variant"]
        summary["against_torch"] = {"faster_torch": best, "by_variant": against}
    return summary


# --- Tables.


def fmt_range(v, fmt):
    return f"{fmt(v['median'])} [{fmt(v['min'])}-{fmt(v['max'])}]"


def fmt_thousands(x):
    return f"{x:,.0f}"


def fmt_seconds(x):
    # Three significant figures or so, whether an epoch takes 0.05 s or 300 s.
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def fmt_percent(x):
    return f"{x:.0%}"


def _is_defaults(row):
    return row["framework"] == "keras_vae" and row["variant"] == "keras_vae"


def defaults_row(rows, case_name):
    """The row of keras_vae's defaults in case `case_name`, or None."""
    return next((r for r in rows if r["case"] == case_name and _is_defaults(r)), None)


def first_epoch_disturbed(row):
    """The CPU-s other processes took during the row's first epoch, if over a tenth of it."""
    others = row["epochs"][0].get("others_cpu_seconds")
    return others if others is not None and others > 0.1 * row["first_epoch_seconds"] else None


def _first_epoch_verdict(row):
    disturbed = first_epoch_disturbed(row)
    note = f", others took {disturbed:.1f} CPU-s" if disturbed is not None else ""
    if not _is_defaults(row):
        return f" ({note[2:]})" if note else ""
    met = row["first_epoch_ratio"] <= FIRST_EPOCH_TARGET
    return f" ({'met' if met else 'not met'}{note})"


def target_verdict(value, target):
    if value >= target:
        return "met"
    return f"not met (short by {1 - value / target:.0%})"


def print_tables(result, out=print):
    """Markdown tables of a `run` result, ready for results/benchmark.md."""
    rows = result["rows"]
    out(f"\n### Training: median [min-max] over {result['rounds']} alternating rounds\n")
    out(
        "| case | model | framework | variant | examples/s | steady epoch (s) | first epoch "
        "| first / steady | roofline fraction |"
    )
    out("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        out(
            f"| {r['case']} | {r['model']} | {r['framework']} | {r['variant']} | "
            f"{fmt_range(r['examples_per_second'], fmt_thousands)} | "
            f"{fmt_range(r['steady_epoch_seconds'], fmt_seconds)} | "
            f"{fmt_seconds(r['first_epoch_seconds'])} s | "
            f"{r['first_epoch_ratio']:.2f}x{_first_epoch_verdict(r)} | "
            f"{fmt_range(r['roofline_fraction'], fmt_percent)} |"
        )
    out(
        f"\nTarget: keras_vae's first epoch <= {FIRST_EPOCH_TARGET}x its steady median "
        "(marked on its rows). The roofline of the PyTorch rows is TensorFlow's too."
    )
    compared = [c for c in result["cases"] if "against_torch" in c]
    if compared:
        out("\n### keras_vae (defaults) against PyTorch, same run\n")
        out(
            "| case | model | keras_vae examples/s | PyTorch eager | torch.compile | ratio to the "
            "faster (of medians) | per-round ratios [min-max] | target |"
        )
        out("|---|---|---|---|---|---|---|---|")
        for c in compared:
            ours = defaults_row(rows, c["case"])
            by = c["against_torch"]["by_variant"]
            faster = c["against_torch"]["faster_torch"]
            best = by[faster]
            cells = [
                fmt_thousands(by[v]["examples_per_second"]) if v in by else "-"
                for v in TORCH_VARIANTS
            ]
            target = c["torch_target"]
            status = ""
            if target:
                status = f">= {target}x: {target_verdict(best['ratio_of_medians'], target)}"
            out(
                f"| {c['case']} | {c['model']} | "
                f"{fmt_thousands(ours['examples_per_second']['median'])} | "
                f"{cells[0]} | {cells[1]} | "
                f"{best['ratio_of_medians']:.2f}x ({faster}) | "
                f"{best['per_round_min']:.2f}x-{best['per_round_max']:.2f}x | {status} |"
            )
    out("\n### Matmul roofline on each case's own shapes (TensorFlow's kernels, this run)\n")
    reference = dict(zip(("median", "min", "max"), result["reference_gflops"]))
    out(
        f"The probes ran {', '.join(result['probe_kernels']) or 'no kernel seen'}; for "
        f"reference, [2048,2048] x [2048,2048] ran at {fmt_range(reference, fmt_thousands)} "
        "GFLOP/s.\n"
    )
    out(
        "| case | model | matmul MFLOP per example | roofline examples/s | keras_vae (defaults) "
        "fraction | target |"
    )
    out("|---|---|---|---|---|---|")
    for c in result["cases"]:
        ours = defaults_row(rows, c["case"])
        target = c["roofline_target"]
        status = ""
        if target and ours:
            fraction = ours["roofline_fraction"]["median"]
            status = f">= {target:.0%}: {target_verdict(fraction, target)}"
        out(
            f"| {c['case']} | {c['model']} | {c['matmul_flops_per_example'] / 1e6:.2f} | "
            f"{fmt_thousands(c['roofline_examples_per_second'])} | "
            f"{fmt_range(ours['roofline_fraction'], fmt_percent) if ours else '-'} | {status} |"
        )
    out("\nGFLOP/s of each matmul (median over the rounds) and its share of the roofline time:\n")
    out("| case | layer | rows | forward | weight gradient | input gradient | share |")
    out("|---|---|---|---|---|---|---|")
    for c in result["cases"]:
        layers = {}
        for m in c["matmuls"]:
            layers.setdefault(m["layer"], {})[m["kind"]] = m
        for layer, kinds in layers.items():
            cells = [
                f"{kinds[k]['gflops']:.0f}" if k in kinds else "-"
                for k in ("forward", "weight gradient", "input gradient")
            ]
            share = sum(m["roofline_share"] for m in kinds.values())
            out(
                f"| {c['case']} | {layer} | {kinds['forward']['rows']} | {' | '.join(cells)} "
                f"| {share:.0%} |"
            )
    print_disturbances(result, out)
    profiled = [c for c in result["cases"] if "profile" in c]
    if profiled:
        out("\n### TensorFlow kernels in a profile of a few keras_vae steps\n")
    for c in profiled:
        p = c["profile"]
        busy = sum(p["thread_seconds"].values()) or 1.0
        shares = ", ".join(f"{k} {v / busy:.0%}" for k, v in p["thread_seconds"].items())
        kernels = ", ".join(f"{k} ({n})" for k, n in p["matmul_kernels"].items()) or "none seen"
        out(f"- {c['case']}: {kernels}; op time on TensorFlow's threads: {shares}")
    for c in result["cases"]:
        if "warning" in c:
            out(f"\nWARNING {c['case']}: {c['warning']}")


def _number(x, fmt="{:.1f}"):
    return "n/a" if x is None else fmt.format(x)


def _disturbance_cells(d):
    return (
        f"{_number(d.get('others_cpu_seconds'))} | {_number(d.get('niced_cpu_seconds'))} | "
        f"{_number(d.get('steal_seconds'))} | "
        f"{_number(d.get('throttled_periods'), '{:.0f}')}, "
        f"{_number(d.get('throttled_seconds'))} | {_number(d.get('cpu_wait_seconds'))}"
    )


def print_disturbances(result, out=print):
    """What else happened during the steady epochs, per contender, and each slow epoch
    on its own: the evidence that a slow epoch was the machine's doing (throttling,
    steal, other processes) or ours (fit() returning late, nothing else running)."""
    out("\n### Disturbances during the steady epochs (sums over the rounds)\n")
    out(
        "| case | framework | variant | other processes' CPU-s | of which niced | steal s "
        "| cgroup throttled (periods, s) | CPU wait s | fit() return after epoch end, max |"
    )
    out("|---|---|---|---|---|---|---|---|---|")
    for r in result["rows"]:
        lag = r["fit_return_seconds_max"]
        lag_text = "-" if lag is None else f"{lag:.2f} s"
        if r["stalled_epochs"]:
            lag_text += (
                f" ({r['stalled_epochs']} of {len(r['epochs']) - 1} over {LAG_REPORTED_SECONDS} s)"
            )
        out(
            f"| {r['case']} | {r['framework']} | {r['variant']} | "
            f"{_disturbance_cells(r['steady_disturbance'])} | {lag_text} |"
        )
    slow = [
        (r, i, e)
        for r in result["rows"]
        for i, e in enumerate(r["epochs"][1:], start=1)
        if e["seconds"] > SLOW_EPOCH * r["steady_epoch_seconds"]["median"]
    ]
    if not slow:
        return
    out(
        f"\nSteady epochs slower than {SLOW_EPOCH}x their contender's median, with what ran "
        "meanwhile:\n"
    )
    out(
        "| case | framework | variant | round | epoch (s) | median (s) | other processes' CPU-s "
        "| of which niced | steal s | cgroup throttled (periods, s) | CPU wait s "
        "| fit() return after epoch end |"
    )
    out("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r, i, e in slow:
        lag = e.get("fit_return_seconds")
        out(
            f"| {r['case']} | {r['framework']} | {r['variant']} | {i} | "
            f"{fmt_seconds(e['seconds'])} | {fmt_seconds(r['steady_epoch_seconds']['median'])} | "
            f"{_disturbance_cells(e)} | {'-' if lag is None else f'{lag:.2f} s'} |"
        )
