"""Speed of keras_vae against the machine's matmul roofline, measured in one run.

    python experiments/benchmark.py --part=train --out=results/benchmark_train.json
    python experiments/benchmark.py --part=eval --eval_k=5000 --eval_images=300 \
        --out=results/benchmark_eval.json

Training (--part=train, experiments/benchmark_training.py): examples per second of the
784-512-256-2 VAE on binarized Fashion-MNIST at each batch size, for keras_vae's
defaults, each of its optimizations turned off in turn, a plain Keras fit and, when
PyTorch is importable, PyTorch eager and torch.compile; with the first-epoch overhead
and the fraction of the roofline (the model's matmul FLOPs at the rate of a large
matmul probe in the same process).

Evaluation (--part=eval): the importance-weighted NLL of the IWAE protocol's
784-200-200-50 model (random weights: the time does not depend on them) with k samples
per image, through the evaluate command's own code path (`evaluation.per_example_bounds`
on the SavedModel that training exports). It times --eval_images images and projects
the time for --eval_total_images (10,000, the test set), next to the roofline: the
decoder's matmul FLOPs at the GFLOP/s that a matmul probe of the decoder's largest
layer reaches in the same process. `--eval_paths=graph,xla` also times the whole
signature under XLA (the obvious choice, slower on CPU) for the ratio.

Timings on a shared 2-core machine move by up to +-40% from minute to minute, so each
figure is the median of --repeats rounds, and variants alternate within each round.
"""

import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import benchmark_training
from absl import app, flags

flags.DEFINE_list("part", ["train", "eval"], "What to measure: train and/or eval.")
flags.DEFINE_list("train_batch_sizes", ["128", "1024"], "Training batch sizes.")
flags.DEFINE_list(
    "train_variants",
    list(benchmark_training.ABLATIONS),
    "keras_vae variants: " + ", ".join(benchmark_training.ABLATIONS),
)
flags.DEFINE_list("train_frameworks", ["keras_vae", "torch"], "keras_vae and/or torch.")
flags.DEFINE_string(
    "train_data",
    os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "fashion_mnist"),
    "Folder of MNIST-format IDX files whose training images are used.",
)
flags.DEFINE_integer("train_examples", 0, "Use the first this many images; 0: all.")
flags.DEFINE_string(
    "train_profile_dir", None, "Also profile one keras_vae epoch per batch size, here."
)
flags.DEFINE_integer("intra_op_threads", 0, "TensorFlow threads per op; 0: its choice.")
flags.DEFINE_integer("inter_op_threads", 0, "TensorFlow ops at once; 0: its choice.")
flags.DEFINE_integer("eval_k", 5000, "Importance samples per image.")
flags.DEFINE_integer("eval_images", 300, "Images timed per round.")
flags.DEFINE_integer("eval_total_images", 10000, "Images the projected time is for.")
flags.DEFINE_list("eval_rows_per_call", ["5000"], "Decoder rows per call to compare.")
flags.DEFINE_list("eval_paths", ["graph"], "graph (the evaluate command's) and/or xla.")
flags.DEFINE_list("eval_workers", ["2"], "Batches in flight at once, to compare.")
flags.DEFINE_integer("repeats", 3, "Rounds; each figure is the median over them.")
flags.DEFINE_string("out", None, "Write the results as JSON here too.")

FLAGS = flags.FLAGS

# The IWAE protocol's decoder (Burda et al. 2015): latent 50 -> 200 -> 200 -> 784.
LATENT, HIDDEN, PIXELS = 50, (200, 200), 784


def decoder_flops_per_sample():
    sizes = [LATENT, *HIDDEN, PIXELS]
    return 2 * sum(a * b for a, b in itertools.pairwise(sizes))


def matmul_probe(rows=4096, repeats=20):
    """GFLOP/s of the decoder's largest matmul, [rows, 200] x [200, 784], in a tf.function."""
    return benchmark_training.matmul_gflops(rows, HIDDEN[-1], PIXELS, repeats)


def eval_scorers(model, paths):
    """{path name: scorer} for the evaluate command's path and the all-XLA alternative."""
    from keras_vae import export, handles

    scorers = {}
    if "graph" in paths:
        directory = tempfile.mkdtemp(prefix="keras_vae_benchmark_")
        export.export_saved_model(model, os.path.join(directory, "saved_model"))
        scorers["graph"] = handles.load_saved_model(os.path.join(directory, "saved_model"))
    if "xla" in paths:
        scorers["xla"] = handles.KerasHandle(model, jit_compile=True)
    return scorers


def benchmark_eval():
    import numpy as np

    from keras_vae import evaluation
    from keras_vae.model import VAE

    model = VAE(
        image_shape=(28, 28),
        latent_dims=LATENT,
        hidden_units=HIDDEN,
        activation="tanh",
        likelihood="bernoulli",
    )
    model(np.zeros((1, 28, 28), np.float32))
    images = (np.random.default_rng(0).random((FLAGS.eval_images, 28, 28)) < 0.13).astype(
        np.float32
    )
    scorers = eval_scorers(model, FLAGS.eval_paths)
    variants = [
        (p, int(r), int(w))
        for p in scorers
        for r in FLAGS.eval_rows_per_call
        for w in FLAGS.eval_workers
    ]
    for path, rows, workers in variants:  # Warm-up: tracing and compilation are not timed.
        evaluation.per_example_bounds(
            scorers[path], images[:4], FLAGS.eval_k, 0, rows, workers=workers
        )
    seconds = {v: [] for v in variants}
    probes = []
    for _ in range(FLAGS.repeats):
        probes.append(matmul_probe())
        for path, rows, workers in variants:
            start = time.perf_counter()
            evaluation.per_example_bounds(
                scorers[path], images, FLAGS.eval_k, 0, rows, workers=workers
            )
            seconds[(path, rows, workers)].append(time.perf_counter() - start)
    gflops = statistics.median(probes)
    total_flop = decoder_flops_per_sample() * FLAGS.eval_k * FLAGS.eval_total_images
    roofline_s = total_flop / (gflops * 1e9)
    rows_out = []
    for (path, rows, workers), times in seconds.items():
        projected = statistics.median(times) / FLAGS.eval_images * FLAGS.eval_total_images
        rows_out.append(
            {
                "path": path,
                "rows_per_call": rows,
                "workers": workers,
                "projected_seconds": projected,
                "roofline_fraction": roofline_s / projected,
                "achieved_gflops": total_flop / projected / 1e9,
            }
        )
    return {
        "part": "eval",
        "model": f"{PIXELS}-{'-'.join(map(str, HIDDEN))}-{LATENT}",
        "k": FLAGS.eval_k,
        "timed_images": FLAGS.eval_images,
        "projected_images": FLAGS.eval_total_images,
        "repeats": FLAGS.repeats,
        "matmul_probe_gflops": gflops,
        "matmul_probes_gflops": probes,
        "roofline_seconds": roofline_s,
        "rows": rows_out,
    }


def machine():
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.read().splitlines()
        cpu = next(s.split(":", 1)[1].strip() for s in lines if s.startswith("model name"))
        flags_line = next(s for s in lines if s.startswith("flags"))
        vector = "avx512f" if " avx512f" in flags_line else "avx2" if " avx2" in flags_line else ""
        cpu = f"{cpu} ({vector})" if vector else cpu
    except (OSError, StopIteration):
        pass
    import tensorflow as tf

    facts = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "tensorflow": tf.__version__,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "gpus": len(tf.config.list_physical_devices("GPU")),
    }
    if benchmark_training.torch_available():
        import torch

        facts["torch"] = torch.__version__
        facts["torch_threads"] = torch.get_num_threads()
    return facts


def print_eval(result):
    print(
        f"evaluation: k={result['k']}, {result['model']}, projected to "
        f"{result['projected_images']} images from {result['timed_images']} "
        f"(median of {result['repeats']})"
    )
    print(
        f"matmul probe {result['matmul_probe_gflops']:.0f} GFLOP/s -> roofline "
        f"{result['roofline_seconds']:.0f} s"
    )
    print("| path | rows per call | workers | time | GFLOP/s | roofline fraction |")
    print("|---|---|---|---|---|---|")
    for r in result["rows"]:
        print(
            f"| {r['path']} | {r['rows_per_call']} | {r['workers']} | "
            f"{r['projected_seconds']:.0f} s | "
            f"{r['achieved_gflops']:.0f} | {r['roofline_fraction']:.0%} |"
        )


def torch_rows_from_own_process():
    """The PyTorch rows, measured by this script in a process of their own.

    In one process, PyTorch's OpenMP threads slowed TensorFlow's epochs at batch 1024
    from 3.8 s to 5.1 s (run after run), so the frameworks do not share a process.
    """
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "torch.json")
        command = [
            sys.executable,
            os.path.abspath(__file__),
            "--part=train",
            "--train_frameworks=torch",
            f"--train_batch_sizes={','.join(FLAGS.train_batch_sizes)}",
            f"--train_data={FLAGS.train_data}",
            f"--train_examples={FLAGS.train_examples}",
            f"--repeats={FLAGS.repeats}",
            f"--out={out}",
        ]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        with open(out) as f:
            return json.load(f)["train"]["rows"]


def benchmark_train():
    unknown = set(FLAGS.train_variants) - set(benchmark_training.ABLATIONS)
    if unknown:
        raise app.UsageError(f"unknown --train_variants {sorted(unknown)}")
    images = benchmark_training.load_images(FLAGS.train_data, FLAGS.train_examples)
    frameworks = FLAGS.train_frameworks
    torch_rows = []
    if "torch" in frameworks and len(frameworks) > 1 and benchmark_training.torch_available():
        torch_rows = torch_rows_from_own_process()
        frameworks = [f for f in frameworks if f != "torch"]
    result = benchmark_training.run(
        images,
        [int(b) for b in FLAGS.train_batch_sizes],
        FLAGS.train_variants,
        frameworks,
        FLAGS.repeats,
        profile_dir=FLAGS.train_profile_dir,
    )
    for row in torch_rows:  # Against this process's roofline, like the other rows.
        row["roofline_fraction"] = (
            row["examples_per_second"] / result["roofline_examples_per_second"]
        )
    result["rows"] += torch_rows
    return result


def main(argv):
    del argv
    unknown = set(FLAGS.part) - {"train", "eval"}
    if unknown:
        raise app.UsageError(f"unknown --part {sorted(unknown)}: expected train and/or eval")
    from keras_vae import cli

    cli.quiet_start("benchmark")
    from keras_vae import config as config_lib
    from keras_vae import training

    # Before TensorFlow's runtime starts: afterwards the pools cannot be resized.
    training.configure_threads(
        config_lib.TrainConfig(
            intra_op_threads=FLAGS.intra_op_threads, inter_op_threads=FLAGS.inter_op_threads
        )
    )
    result = {"machine": machine(), "command": " ".join(sys.argv)}
    print(f"machine: {result['machine']}")
    if "train" in FLAGS.part:
        result["train"] = benchmark_train()
        benchmark_training.print_table(result["train"])
    if "eval" in FLAGS.part:
        result["eval"] = benchmark_eval()
        print_eval(result["eval"])
    if FLAGS.out:
        with open(FLAGS.out, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    app.run(main)
