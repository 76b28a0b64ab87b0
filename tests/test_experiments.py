"""Each experiment script runs end to end in --quick mode and writes its table."""

import dataclasses
import importlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, _write_synthetic_folder


def _run_script(name, *args):
    """Runs experiments/NAME with `args`; the completed process, output as text."""
    return subprocess.run(
        [sys.executable, os.path.join(REPO, "experiments", name), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_iwae_protocol_quick(tmp_path):
    folder = _write_synthetic_folder(tmp_path / "idx", train=120, test=40)
    out = tmp_path / "out"
    result = _run_script(
        "iwae_protocol.py",
        "--quick",
        f"--dataset=idx:{folder}",
        "--variants=vae_k1,iwae_k5",
        "--epochs=1",
        f"--out={out}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads((out / "rows.json").read_text())["rows"]
    assert [r["variant"] for r in rows] == ["vae_k1", "iwae_k5"]
    for r in rows:
        assert r["test_elbo"] <= -r["test_nll"] + 1e-6  # the ELBO never beats the IW bound
        assert r["eval_k"] == 10 and r["eval_images"] == 40
    assert "| vae_k1 | elbo | 1 |" in (out / "table.md").read_text()


def _benchmark_module(name):
    """experiments/NAME imported (the benchmark's modules import each other by name)."""
    sys.path.insert(0, os.path.join(REPO, "experiments"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def test_benchmark_eval_tiny(tmp_path):
    out = tmp_path / "bench.json"
    result = _run_script(
        "benchmark.py",
        "--part=eval",
        "--eval_model=784-32-16-4/tanh",
        "--eval_k=10",
        "--eval_images=3",
        "--eval_total_images=30",
        "--eval_rows_per_call=10",
        "--eval_paths=graph,xla",
        "--eval_workers=1,2",
        "--rounds=1",
        "--probe_seconds=0.002",
        f"--out={out}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    evaluation = report["eval"]
    assert [(r["path"], r["workers"]) for r in evaluation["rows"]] == [
        ("graph", 1),
        ("graph", 2),
        ("xla", 1),
        ("xla", 2),
    ]
    # One image of 10 samples per call: the decoder's three layers on 10 rows.
    assert [m["shape"] for m in evaluation["matmuls"]["10"]] == [
        "[10,4] x [4,16]",
        "[10,16] x [16,32]",
        "[10,32] x [32,784]",
    ]
    assert evaluation["decoder_flop"] == 2 * (4 * 16 + 16 * 32 + 32 * 784) * 10 * 30
    for r in evaluation["rows"]:
        assert r["decoder_rows_per_call"] == 10 and len(r["timed_seconds"]) == 1
        assert r["roofline_seconds"] > 0 and r["projected_seconds"]["median"] > 0
        assert set(r["disturbance"]) >= {"others_cpu_seconds", "steal_seconds"}
    # Whatever the CPU, the trace names the kernels it ran, and they are matmuls.
    kernels = evaluation["profile"]["matmul_kernels"]
    assert kernels and all("MatMul" in k for k in kernels)
    assert set(report["machine"]["cpu"]["instruction_sets"]) == {
        "AVX2",
        "AVX-512 F",
        "AVX-512 BF16",
        "AVX-512 VNNI",
        "AMX",
    }
    assert "| graph | 10 | 2 |" in result.stdout
    assert "### Machine" in result.stdout and "Quiet check:" in result.stdout


def test_benchmark_train_tiny(tmp_path):
    out = tmp_path / "bench.json"
    folder = _write_synthetic_folder(tmp_path / "idx", train=96)
    result = _run_script(
        "benchmark.py",
        "--part=train",
        f"--train_data={folder}",
        "--batch_sizes=32",
        "--batch_models=784-32-16-2/relu",
        "--variants=keras_vae,tf.data autotune on",
        "--iwae_k=3",
        "--iwae_batch_size=16",
        "--iwae_model=784-16-4/tanh",
        "--iwae_examples=48",
        "--frameworks=keras_vae",
        "--rounds=2",
        "--probe_seconds=0.002",
        f"--profile_dir={tmp_path / 'profile'}",
        f"--out={out}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())["train"]
    batch, iwae = report["cases"]
    assert (batch["case"], batch["model"], batch["examples"]) == (
        "batch 32",
        "784-32-16-2/relu",
        96,
    )
    assert (iwae["case"], iwae["samples"], iwae["examples"]) == ("IWAE k=3", 3, 48)
    # Forward, weight and input gradients of 6 layers (the images need no gradient).
    assert len(batch["matmuls"]) == 3 * 7 - 1
    assert (
        batch["matmul_flops_per_example"]
        == 3 * 2 * (784 * 32 + 32 * 16 + 2 * 16 * 2 + 2 * 16 + 16 * 32 + 32 * 784) - 2 * 784 * 32
    )
    # IWAE: the decoder runs on k x batch rows, the encoder on the batch.
    shapes = {(m["layer"], m["kind"]): m["shape"] for m in iwae["matmuls"]}
    assert shapes[("encoder 784->16", "forward")] == "[16,784] x [784,16]"
    assert shapes[("decoder 16->784", "forward")] == "[48,16] x [16,784]"
    assert shapes[("decoder 16->784", "weight gradient")] == "[48,16]^T x [48,784]"
    for case in report["cases"]:
        assert "warning" not in case  # the roofline's layers are keras_vae's
        kernels = case["profile"]["matmul_kernels"]
        assert kernels and all("MatMul" in k for k in kernels)
        assert case["profile"]["thread_seconds"]["matmul"] > 0
    assert [(r["case"], r["variant"]) for r in report["rows"]] == [
        ("batch 32", "keras_vae"),
        ("batch 32", "tf.data autotune on"),
        ("IWAE k=3", "keras_vae"),
        ("IWAE k=3", "softplus likelihood"),
    ]
    for row in report["rows"]:
        assert len(row["epoch_seconds"]) == 3 and row["examples_per_second"]["median"] > 0
        assert row["roofline_fraction"]["min"] <= row["roofline_fraction"]["median"]
        # Every epoch says what else ran meanwhile, and when fit() returned.
        for epoch in row["epochs"]:
            assert {"others_cpu_seconds", "throttled_periods", "fit_return_seconds"} <= set(epoch)
    assert list(report["probe_rounds"][0]) and len(report["probe_rounds"]) == 2
    assert "| batch 32 | 784-32-16-2/relu | keras_vae | keras_vae |" in result.stdout
    assert "| IWAE k=3 | 784-16-4/tanh |" in result.stdout
    assert "### Disturbances" in result.stdout


def test_benchmark_torch_worker_trains_both_objectives(tmp_path):
    pytest.importorskip("torch")
    benchmark_training = _benchmark_module("benchmark_training")
    roofline = _benchmark_module("roofline")
    images = np.random.default_rng(0).integers(0, 256, (40, 28, 28), dtype=np.uint8)
    worker = benchmark_training.TorchWorker(images, str(tmp_path))
    try:
        assert "torch" in worker.request(versions=True)
        spec = roofline.ModelSpec.parse("784-16-4/tanh")
        for case in (
            benchmark_training.Case("elbo", spec, 8, examples=40),
            benchmark_training.Case("iwae", spec, 8, objective="iwae", samples=3, examples=24),
        ):
            contender = benchmark_training.TorchContender(worker, case, "eager")
            assert contender.epoch()["worker_seconds"] > 0
    finally:
        worker.close()


def test_benchmark_counts_the_matmuls_of_a_training_step():
    roofline = _benchmark_module("roofline")
    spec = roofline.ModelSpec.parse("784-512-256-2")
    assert str(spec) == "784-512-256-2/relu"
    # 3 x the forward pass's 2.13 MFLOP, less the images' gradient: 5.60 MFLOP per example.
    matmuls = roofline.training_matmuls(spec, 128)
    assert sum(m.flops for m in matmuls) / 128 == 5_596_160
    assert {m.kind for m in matmuls} == {"forward", "weight gradient", "input gradient"}
    # The speed depends on shapes and transposes; the mean and log-variance heads share it.
    assert len({m.key for m in matmuls}) == len(matmuls) - 3
    assert roofline.decoder_matmuls(spec, 5000)[-1].key == (5000, 512, 784, False, False)


@pytest.mark.parametrize(
    "text, problem",
    [
        ("784-200", "expected PIXELS"),
        ("784-x-2", "expected PIXELS"),
        ("784-20-2/swish", "activation"),
    ],
)
def test_benchmark_model_descriptions_are_checked(text, problem):
    roofline = _benchmark_module("roofline")
    with pytest.raises(roofline.SpecError, match=problem):
        roofline.ModelSpec.parse(text)


def test_benchmark_reads_instruction_sets_from_cpuinfo():
    machine = _benchmark_module("machine")
    cpuinfo = "model name\t: Some CPU\nflags\t\t: fpu avx2 avx512f avx512_vnni amx_tile\n"
    facts = machine.cpu(cpuinfo)
    assert facts["model"] == "Some CPU"
    assert facts["instruction_sets"] == {
        "AVX2": True,
        "AVX-512 F": True,
        "AVX-512 BF16": False,
        "AVX-512 VNNI": True,
        "AMX": True,
    }
    assert "no AVX-512 BF16" in machine.describe_cpu(facts)
    # No /proc/cpuinfo (not Linux): unknown, not "none".
    unknown = machine.cpu("")
    assert set(unknown["instruction_sets"].values()) == {None}
    assert "unknown" in machine.describe_cpu(unknown)


def test_benchmark_counters_measure_an_interval():
    machine = _benchmark_module("machine")
    counters = machine.Counters()
    a = counters.snapshot()
    sum(i * i for i in range(200_000))
    b = counters.snapshot()
    delta = counters.between(a, b)
    assert delta["seconds"] > 0
    assert set(delta) == {
        "seconds",
        "own_cpu_seconds",
        "others_cpu_seconds",
        "niced_cpu_seconds",
        "steal_seconds",
        "throttled_periods",
        "throttled_seconds",
        "cpu_wait_seconds",
    }
    total = machine.summed([delta, delta])
    assert total["seconds"] == pytest.approx(2 * delta["seconds"])


def test_benchmark_waits_for_a_quiet_machine_and_names_a_disturbed_first_epoch():
    machine = _benchmark_module("machine")
    training = _benchmark_module("benchmark_training")

    class Fake:  # Other processes take `busy` CPU-s in every window.
        def __init__(self, busy):
            self.busy = list(busy)

        def snapshot(self):
            return None

        def between(self, a, b):
            return {"others_cpu_seconds": self.busy.pop(0) if self.busy else 0.0}

    waited, quiet = machine.wait_until_quiet(Fake([1.5, 0.9, 0.0]), window=0.01)
    assert quiet and waited >= 0.03
    waited, quiet = machine.wait_until_quiet(Fake([1.0] * 100), window=0.01, timeout=0.05)
    assert not quiet and 0.05 <= waited < 1.0
    row = {
        "variant": "keras_vae", "framework": "keras_vae", "first_epoch_seconds": 14.9,
        "first_epoch_ratio": 2.27, "epochs": [{"others_cpu_seconds": 9.55}],
    }  # fmt: skip
    assert training.first_epoch_disturbed(row) == 9.55
    assert training._first_epoch_verdict(row) == " (not met, others took 9.6 CPU-s)"
    row["epochs"][0]["others_cpu_seconds"] = 0.2
    assert training.first_epoch_disturbed(row) is None
    assert training._first_epoch_verdict(row) == " (not met)"


@pytest.mark.parametrize(
    "op, group",
    [
        # TensorFlow's kernels (AVX2 machines) and oneDNN's (AVX-512 machines).
        ("MatMul", "matmul"),
        ("_FusedMatMul", "matmul"),
        ("BatchMatMulV2", "matmul"),
        ("_MklMatMul", "matmul"),
        ("_MklNativeFusedMatMul", "matmul"),
        ("_MklNativeBatchMatMulV2", "matmul"),
        ("ResourceApplyAdam", "optimizer"),
        ("Softplus", "other"),
        ("_MklNativeFusedBatchNorm", "other"),
    ],
)
def test_benchmark_profile_groups_every_matmul_kernel_name(op, group):
    assert _benchmark_module("roofline").op_group(op) == group


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--part=speed", "unknown --part"),
        ("--rounds=0", "--rounds values must be at least 1"),
        ("--rounds=many", "flag --rounds=many"),
        ("--batch_models=784-x", "--batch_models: model '784-x'"),
        ("--batch_models=784-20-2,784-20-2", "lists 2 models for 3 batch sizes"),
        ("--variants=keras_vae,turbo", "unknown --variants ['turbo']"),
        ("--iwae_k=5,0", "--iwae_k values must be at least 1"),
        ("--train_data=/nonexistent", "is not a folder"),
        ("--eval_paths=gpu", "unknown --eval_paths"),
    ],
)
def test_benchmark_answers_a_bad_flag_in_one_line(flag, message):
    result = _run_script("benchmark.py", flag)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


SWEEP_RUNS = {
    "latent_size": ["latent_3", "latent_20"],
    "beta": ["beta_0.5", "beta_4"],
    "likelihood": ["bernoulli", "gaussian_fixed", "gaussian_learned", "continuous_bernoulli"],
    "latent_2d": ["latent_2"],
}


def test_every_sweep_runs_quick(tmp_path):
    folder = _write_synthetic_folder(tmp_path / "idx", train=120, test=40)
    out = tmp_path / "out"
    # One process for all four: TensorFlow's start-up is paid once.
    result = _run_script(
        "sweep.py",
        f"--experiment={','.join(SWEEP_RUNS)}",
        "--quick",
        f"--dataset=idx:{folder}",
        f"--out={out}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for experiment, runs in SWEEP_RUNS.items():
        folder = out / experiment
        report = json.loads((folder / "rows.json").read_text())
        rows = report["rows"]
        assert [r["name"] for r in rows] == runs
        assert report["command"].startswith("python experiments/sweep.py --experiment=")
        for r in rows:
            assert r["epochs"] == 1 and r["eval_k"] == 10 and r["eval_images"] == 40
            assert r["test_elbo"] <= -r["test_nll"] + 1e-6  # the ELBO never beats the IW bound
            assert r["test_elbo"] == pytest.approx(-(r["test_reconstruction"] + r["test_kl"]))
            assert 0 <= r["knn_accuracy"] <= 1 and len(r["history"]["val_elbo"]) == 1
        assert all(f"| {name} |" in (folder / "table.md").read_text() for name in runs)
        assert (folder / "plot.png").stat().st_size > 10_000
        _assert_hparams(folder / "hparams", runs)
    # sweep_tables.py rebuilds the very tables sweep.py wrote, from rows.json alone.
    written = {e: (out / e / "table.md").read_text() for e in SWEEP_RUNS}
    rebuilt = _run_script("sweep_tables.py", *(str(out / e) for e in SWEEP_RUNS))
    assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    assert {e: (out / e / "table.md").read_text() for e in SWEEP_RUNS} == written


def _assert_hparams(folder, runs):
    """The HParams plugin's records: the experiment's config and one session per run."""
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.plugins.hparams import metadata

    def plugin_content(path):
        acc = event_accumulator.EventAccumulator(str(path))
        acc.Reload()
        return acc.PluginTagToContent(metadata.PLUGIN_NAME)

    assert metadata.EXPERIMENT_TAG in plugin_content(folder)
    for name in runs:
        content = plugin_content(folder / name)
        info = metadata.parse_session_start_info_plugin_data(
            content[metadata.SESSION_START_INFO_TAG]
        )
        assert info.group_name == name or name in str(info)


def test_sweep_rejects_an_unknown_experiment(tmp_path):
    result = _run_script("sweep.py", "--experiment=beta,nope", f"--out={tmp_path}")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "nope" in result.stderr


def test_curve_table_prints_the_points_with_their_learning_rates(tmp_path):
    curve = tmp_path / "nll_curve.json"
    points = [
        {"epoch": e, "nll": nll, "num_importance_samples": 10, "num_examples": 5, "seconds": 1.0}
        for e, nll in ((1, 120.5), (4, 110.25), (5, 101.0))
    ]
    curve.write_text(json.dumps(points))
    result = _run_script("curve_table.py", str(curve), "--learning_rate=1e-3", "--schedule=burda")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")][1:]
    # Epoch 1 is stage 0 (1e-3), epochs 2-4 stage 1, epoch 5 stage 2 of Burda's schedule.
    assert rows == [
        "| 1 | 0.001 | 120.50 |",
        "| 4 | 0.00072 | 110.25 |",
        "| 5 | 0.000518 | 101.00 |",
    ]
    # The cosine schedule needs the run's epochs: without them, one line and exit 1.
    result = _run_script("curve_table.py", str(curve), "--schedule=cosine")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("curve_table.py: ")
    assert "needs the run's epochs" in result.stderr


def test_the_readmes_flag_table_is_the_configs():
    # The table is generated from the fields that the flags are generated from; an
    # option added to a config without rerunning experiments/readme_flags.py fails here.
    sys.path.insert(0, os.path.join(REPO, "experiments"))
    try:
        import readme_flags
    finally:
        sys.path.pop(0)
    readme = open(os.path.join(REPO, "README.md")).read()
    assert "<!-- flags:train -->" in readme
    assert readme_flags.render(readme) == readme, "run: python experiments/readme_flags.py"
    assert "| `--global_clipnorm` | 0 |" in readme


def _papers():
    sys.path.insert(0, os.path.join(REPO, "experiments"))
    try:
        import papers
    finally:
        sys.path.pop(0)
    return papers


def test_every_paper_row_is_a_valid_training_command(tmp_path):
    # Each row's flags parse into a Config that checks itself: no row is a typo away
    # from failing hours into a run.
    papers = _papers()
    script = (
        "import json, sys; from keras_vae import cli, config, train\n"
        "for argv in json.loads(sys.argv[1]):\n"
        "    cli.flags.FLAGS.unparse_flags(); cli.flags.FLAGS(['x', *argv])\n"
        "    print(cli.config_from_flags(config.Config).model.objective)\n"
    )
    rows = [papers.command(name, str(tmp_path))[3:] for name in papers.ROWS]
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(rows)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    objectives = result.stdout.split()
    assert objectives == [row.flags["objective"] for row in papers.ROWS.values()]


def test_a_run_is_collected_into_a_results_row_and_its_table(trained_run, tmp_path):
    import shutil

    papers = _papers()
    run, _ = trained_run
    shutil.copytree(run, tmp_path / "runs" / "burda_vae_k1")
    out = papers.collect("burda_vae_k1", str(tmp_path / "runs"), str(tmp_path / "results"))
    assert os.path.isfile(os.path.join(out, "saved_model", "saved_model.pb"))
    with open(os.path.join(out, "progress.json")) as f:
        progress = json.load(f)
    assert progress["finished"] and progress["epochs"] == 3
    with open(os.path.join(out, "train_curve.json")) as f:
        curve = json.load(f)
    assert [point["epoch"] for point in curve] == [1, 2, 3]
    assert all(point["elbo"] < 0 for point in curve)  # Binary MNIST: log p(x) < 0.
    assert "--row" not in progress["command"] and "--objective=elbo" in progress["command"]
    line = next(
        line
        for line in papers.table(str(tmp_path / "results")).splitlines()
        if "burda_vae_k1" in line
    )
    assert "86.76" in line and "| 3 (3,280) |" in line


def test_collecting_a_row_without_a_finished_epoch_is_refused_in_one_line(tmp_path):
    papers = _papers()
    from keras_vae.errors import ModelDirError

    runs, results = tmp_path / "runs", tmp_path / "results"
    with pytest.raises(ModelDirError, match="holds no keras_vae run"):
        papers.collect("burda_vae_k1", str(runs), str(results))
    (runs / "burda_vae_k1" / "backup" / "epoch-0001.tmp").mkdir(parents=True)
    (runs / "burda_vae_k1" / "config.json").write_text("{}")
    with pytest.raises(ModelDirError, match="has not finished an epoch yet"):
        papers.collect("burda_vae_k1", str(runs), str(results))
    assert not results.exists()  # Nothing written.
    result = _run_script("papers.py", "--row=burda_vae_k1", f"--runs={runs}", "--collect")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("papers.py: error: ")


def test_a_rows_script_runs_its_command_from_this_checkout(tmp_path, monkeypatch):
    papers = _papers()
    folder = _write_synthetic_folder(tmp_path / "idx")
    row_flags = {
        "dataset": f"idx:{folder}", "latent_dims": 2, "hidden_units": "16", "epochs": 1,
        "batch_size": 50, "seed": 0, "verbose": 0, "objective": "elbo", "num_samples": 1,
    }  # fmt: skip
    monkeypatch.setitem(papers.ROWS, "tiny", papers.Row("p", "w", 90.0, 1, 50, row_flags))
    runs = tmp_path / "runs"
    path = papers.script("tiny", str(runs), threads=1)
    assert path == str(runs / "tiny.sh") and os.access(path, os.X_OK)
    text = (runs / "tiny.sh").read_text()
    assert f"cd {REPO}\n" in text and "export TF_NUM_INTRAOP_THREADS=1 " in text
    assert f"--model_dir={runs / 'tiny'}" in text
    assert papers.script("tiny", str(runs), threads=1) == path  # The same text: kept.

    done = subprocess.run(["bash", path], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert papers._progress(str(runs / "tiny"))["epochs"] == 1
    metrics = (runs / "tiny" / "metrics.json").read_bytes()
    # Run again once finished (a queue of scripts, say), it leaves the run as it was.
    again = subprocess.run(["bash", path], capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode != 0 and "already holds a finished" in again.stderr
    assert (runs / "tiny" / "metrics.json").read_bytes() == metrics

    # A script a run may have started from is never overwritten by another command.
    from keras_vae.errors import KerasVAEError

    with pytest.raises(KerasVAEError, match="exists with another text"):
        papers.script("tiny", str(runs), threads=2)
    assert (runs / "tiny.sh").read_text() == text


@pytest.mark.parametrize(
    "args, message",
    [
        (["--row=burda_vae_k1", "--threads=2"], "--runs are needed"),
        (["--row=burda_vae_k1", "--runs=RUNS", "--threads=2"], "add --script"),
        (["--row=burda_vae_k1", "--runs=RUNS", "--script", "--threads=0"], "not a positive"),
        (["--row=burda_vae_k1", "extra"], "unexpected arguments"),
    ],
)
def test_papers_answers_a_bad_combination_in_one_line(args, message):
    result = _run_script("papers.py", *args)
    assert result.returncode == 2
    assert result.stderr.startswith("papers.py: error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_lost_run_restarts_from_its_collected_row_and_keeps_its_past(tmp_path, monkeypatch):
    # The machine that held a run is replaced: only results/papers/ROW survives.
    import keras
    import tensorflow as tf

    from keras_vae import backup, training
    from keras_vae import data as data_lib
    from keras_vae.errors import Interrupted, ModelDirError

    papers = _papers()
    folder = _write_synthetic_folder(tmp_path / "idx")
    row_flags = dict(
        dataset=f"idx:{folder}", latent_dims=2, hidden_units="16", likelihood="bernoulli",
        batch_size=50, epochs=4, curve_every_epochs=1, curve_examples=40,
        curve_importance_samples=5, seed=0, verbose=0, objective="elbo", num_samples=1,
    )  # fmt: skip
    monkeypatch.setitem(papers.ROWS, "tiny", papers.Row("p", "w", 90.0, 4, 50, row_flags))
    runs, results = tmp_path / "runs", tmp_path / "results"

    class StopAfterTwo(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:  # After the second epoch's backup (Backup comes before this).
                raise KeyboardInterrupt

    config = papers.row_config("tiny", str(runs))
    with pytest.raises(Interrupted):
        training.train_and_evaluate(config, callbacks=(StopAfterTwo(),))
    out = papers.collect("tiny", str(runs), str(results))
    saved = [v.numpy() for v in tf.saved_model.load(os.path.join(out, "saved_model")).variables]
    shutil.rmtree(runs / "tiny")

    def unreadable(*args):
        raise ModelDirError("cannot read the weights of the SavedModel")

    monkeypatch.setattr(backup, "save_from_saved_model", unreadable)
    with pytest.raises(ModelDirError, match="cannot read the weights"):
        papers.restart("tiny", str(runs), str(results))
    assert not (runs / "tiny").exists()  # No half restart left to resume from scratch.
    monkeypatch.undo()
    monkeypatch.setitem(papers.ROWS, "tiny", papers.Row("p", "w", 90.0, 4, 50, row_flags))
    run = papers.restart("tiny", str(runs), str(results))
    assert backup.latest_epoch(os.path.join(run, "backup")) == 2
    model = training.starting_model(config, data_lib.load_splits(config.data, 0))
    backup.restore(model, os.path.join(run, "backup"))
    for value, variable in zip(saved, model.variables, strict=True):
        np.testing.assert_array_equal(value, variable.numpy())
    assert model.optimizer.iterations.numpy() == 0  # A fresh optimizer, as documented.
    other = dataclasses.replace(config, model=dataclasses.replace(config.model, latent_dims=3))
    other_model = training.starting_model(other, data_lib.load_splits(other.data, 0))
    with pytest.raises(ModelDirError, match="not a SavedModel of this config"):
        backup.save_from_saved_model(
            other_model, os.path.join(out, "saved_model"), str(tmp_path / "other"), 2, {}
        )
    assert not (tmp_path / "other").exists()
    with pytest.raises(ModelDirError, match="already holds a run"):
        papers.restart("tiny", str(runs), str(results))

    metrics = training.train_and_evaluate(config)
    assert metrics["resumed_after_epoch"] == 2 and len(metrics["epoch_seconds"]) == 2
    before = json.loads((results / "tiny" / "progress.json").read_text())
    papers.collect("tiny", str(runs), str(results))
    progress = json.loads((results / "tiny" / "progress.json").read_text())
    assert progress["finished"] and progress["epochs"] == 4 and progress["restarts"] == [2]
    assert progress["training_seconds"] > before["training_seconds"]
    curve = json.loads((results / "tiny" / "train_curve.json").read_text())
    assert [p["epoch"] for p in curve] == [1, 2, 3, 4]
    nll = json.loads((results / "tiny" / "nll_curve.json").read_text())
    assert [p["epoch"] for p in nll] == [1, 2, 3, 4]
    with pytest.raises(ModelDirError, match="finished run"):
        papers.restart("tiny", str(tmp_path / "other"), str(results))


def test_a_restart_is_refused_when_the_row_changed_since_its_collection(tmp_path, monkeypatch):
    papers = _papers()
    from keras_vae.errors import ModelDirError

    folder = _write_synthetic_folder(tmp_path / "idx")
    results = tmp_path / "results" / "tiny"
    results.mkdir(parents=True)
    row_flags = dict(dataset=f"idx:{folder}", latent_dims=2, hidden_units="16", epochs=4)
    monkeypatch.setitem(papers.ROWS, "tiny", papers.Row("p", "w", 90.0, 4, 50, row_flags))
    config = papers.row_config("tiny", "RUNS").to_dict()
    config["model"]["latent_dims"] = 3  # What was collected: another latent size.
    (results / "config.json").write_text(json.dumps(config))
    (results / "progress.json").write_text(json.dumps({"finished": False, "epochs": 2}))
    (results / "train_curve.json").write_text("[]")
    (results / "saved_model").mkdir()
    with pytest.raises(ModelDirError, match="other settings.*latent_dims"):
        papers.restart("tiny", str(tmp_path / "runs"), str(tmp_path / "results"))
    assert not (tmp_path / "runs").exists()  # Nothing written.
    row_flags["optimizer"] = "adagrad"  # Its accumulators set every step's size: refused.
    with pytest.raises(ModelDirError, match="Adagrad"):
        papers.restart("tiny", str(tmp_path / "runs"), str(tmp_path / "results"))
    assert not (tmp_path / "runs").exists()
    # A row never collected (k = 50 waits for a GPU): one line, exit 1.
    result = _run_script("papers.py", "--row=burda_iwae_k50", f"--runs={tmp_path}", "--restart")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "holds no collected run" in result.stderr.strip().splitlines()[-1]


def test_a_restart_finds_the_same_data_files_in_another_folder(tmp_path, monkeypatch):
    # A static-MNIST row collected on a machine whose data lived elsewhere restarts here
    # when the files are the same; other files under the same names are refused.
    import gzip

    import keras

    from keras_vae import config as config_lib
    from keras_vae import training
    from keras_vae.errors import Interrupted, ModelDirError

    papers = _papers()
    there, here = tmp_path / "there", tmp_path / "here"
    there.mkdir()
    bits = np.random.default_rng(0).random((140, 784)) < 0.3
    for stem, rows in (("train", bits[:100]), ("valid", bits[100:120]), ("test", bits[120:])):
        text = "".join(" ".join(map(str, r.astype(int))) + "\n" for r in rows)
        (there / f"binarized_mnist_{stem}.amat.gz").write_bytes(gzip.compress(text.encode()))
    row_flags = dict(
        dataset="binarized_mnist", data_dir=str(there), binarize="none", latent_dims=2,
        hidden_units="16", likelihood="bernoulli", batch_size=50, epochs=3,
        curve_every_epochs=1, curve_examples=20, curve_importance_samples=5, seed=0,
        verbose=0, objective="elbo", num_samples=1,
    )  # fmt: skip
    monkeypatch.setitem(papers.ROWS, "tiny", papers.Row("p", "w", 90.0, 3, 50, row_flags))
    runs, results = tmp_path / "runs", tmp_path / "results"

    class StopAfterOne(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    with pytest.raises(Interrupted):
        training.train_and_evaluate(
            papers.row_config("tiny", str(runs)), callbacks=(StopAfterOne(),)
        )
    papers.collect("tiny", str(runs), str(results))
    shutil.rmtree(runs / "tiny")
    shutil.move(there, here)  # The data, on the new machine, in another folder.
    row_flags["data_dir"] = str(here)
    run = papers.restart("tiny", str(runs), str(results))
    assert config_lib.load(os.path.join(run, "config.json")).data.data_dir == str(here)
    metrics = training.train_and_evaluate(papers.row_config("tiny", str(runs)))
    assert metrics["resumed_after_epoch"] == 1

    shutil.rmtree(runs / "tiny")
    path = here / "binarized_mnist_test.amat.gz"
    text = gzip.decompress(path.read_bytes()).decode()
    path.write_bytes(gzip.compress(("1" if text[0] == "0" else "0").encode() + text[1:].encode()))
    with pytest.raises(ModelDirError, match="does not hold the files .* sha256 differ"):
        papers.restart("tiny", str(runs), str(results))
    assert not (runs / "tiny").exists()  # Nothing written.


def test_kingma_welling_figure_plots_samples_evaluated_and_names_rows_not_run(tmp_path):
    sys.path.insert(0, os.path.join(REPO, "experiments"))
    try:
        import kingma_welling_figure
    finally:
        sys.path.pop(0)
    row = tmp_path / "results" / "kw_frey_z2"
    row.mkdir(parents=True)
    (row / "config.json").write_text(json.dumps({"data_source": {"num_train": 1681}}))
    (row / "train_curve.json").write_text(
        json.dumps([{"epoch": e, "elbo": 500.0 + e} for e in (1, 2, 3)])
    )
    (row / "nll_curve.json").write_text(
        json.dumps([{"epoch": 2, "nll": -480.0, "num_importance_samples": 1}])
    )
    curves = kingma_welling_figure.row_curves(str(row))
    assert curves["train"] == ([1681, 3362, 5043], [501.0, 502.0, 503.0])
    assert curves["test"] == ([3362], [480.0])  # The k = 1 "NLL" is minus the bound.
    out = tmp_path / "fig2.png"
    result = _run_script(
        "kingma_welling_figure.py", f"--results={tmp_path / 'results'}", f"--out={out}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert out.stat().st_size > 1000
    not_run = result.stdout.strip().split("not collected yet: ")[1].split(", ")
    assert "kw_frey_z2" not in not_run and len(not_run) == 8
    (row / "train_curve.json").write_text("[{")  # A corrupt file: one line, exit 1.
    result = _run_script(
        "kingma_welling_figure.py", f"--results={tmp_path / 'results'}", f"--out={out}"
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("kingma_welling_figure.py: error:")


def test_grey_likelihoods_draws_each_likelihood_and_labels_its_numbers(tmp_path):
    folder = _write_synthetic_folder(tmp_path / "idx", train=120, test=40)
    out = tmp_path / "out"
    result = _run_script(
        "grey_likelihoods.py", f"--dataset=idx:{folder}", "--epochs=1", "--latent_dims=2",
        "--eval_k=2", "--eval_examples=10", f"--out={out}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads((out / "rows.json").read_text())
    kinds = {row["likelihood"]: row["nll_kind"] for row in rows}
    assert kinds == {
        "bernoulli (grey)": "cross_entropy",
        "gaussian (learned variance)": "density",
        "continuous bernoulli": "density",
    }
    assert (out / "figure.png").stat().st_size > 1000


def test_auroc_is_the_probability_that_a_positive_outscores_a_negative():
    sys.path.insert(0, os.path.join(REPO, "experiments"))
    try:
        import ood_auroc
    finally:
        sys.path.pop(0)
    rng = np.random.default_rng(0)
    positive, negative = rng.normal(1, 1, 40).round(1), rng.normal(0, 1, 30).round(1)
    pairs = [(p > n) + 0.5 * (p == n) for p in positive for n in negative]
    assert ood_auroc.auroc(positive, negative) == pytest.approx(np.mean(pairs))
    assert ood_auroc.auroc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0


def test_ood_auroc_scores_a_model_against_other_data(trained_run, tmp_path):
    run, _ = trained_run
    other = _write_synthetic_folder(tmp_path / "other", train=50, test=30)
    result = _run_script(
        "ood_auroc.py", f"--saved_model={run}/saved_model", f"--other=idx:{other}", "--k=3",
        "--examples=20", f"--out={tmp_path / 'out'}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "auroc.json").read_text())
    assert report["examples"] == [20, 20] and 0 <= report["auroc"] <= 1


def test_the_first_epoch_microbenchmark_traces_the_step_once_with_a_built_optimizer():
    result = _run_script("microbench_first_epoch.py", "--rounds=1", "--steps=2")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| batch")]
    assert len(rows) == 4
    assert all(r.endswith("| 1x |") for r in rows if "built before fit" in r)
    assert all(r.endswith("| 2x |") for r in rows if "first step" in r)


def test_the_vamp_prior_microbenchmark_times_both_forms_and_their_difference():
    result = _run_script(
        "microbench_vamp_prior.py", "--samples=30", "--components=7", "--latent=3",
        "--rounds=1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "matmul (keras_vae)" in result.stdout and "per component" in result.stdout
    difference = float(result.stdout.split("largest difference: ")[1].split()[0])
    assert difference < 1e-3
