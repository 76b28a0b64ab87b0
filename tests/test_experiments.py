"""Each experiment script runs end to end in --quick mode and writes its table."""

import json
import os
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


def test_benchmark_eval_tiny(tmp_path):
    out = tmp_path / "bench.json"
    result = _run_script(
        "benchmark.py",
        "--part=eval",
        "--eval_k=10",
        "--eval_images=3",
        "--eval_total_images=30",
        "--eval_paths=graph,xla",
        "--eval_workers=1,2",
        "--repeats=1",
        f"--out={out}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())["eval"]
    assert [(r["path"], r["workers"]) for r in report["rows"]] == [
        ("graph", 1),
        ("graph", 2),
        ("xla", 1),
        ("xla", 2),
    ]
    assert report["matmul_probe_gflops"] > 0 and report["roofline_seconds"] > 0
    assert all(r["projected_seconds"] > 0 for r in report["rows"])
    assert "| graph | 5000 | 2 |" in result.stdout  # the default rows per call


def test_benchmark_train_tiny(tmp_path):
    out = tmp_path / "bench.json"
    folder = _write_synthetic_folder(tmp_path / "idx", train=256)
    result = _run_script(
        "benchmark.py",
        "--part=train",
        f"--train_data={folder}",
        "--train_examples=256",
        "--train_batch_sizes=64",
        "--train_variants=keras_vae,plain Keras fit",
        "--train_frameworks=keras_vae",
        "--repeats=1",
        f"--train_profile_dir={tmp_path / 'profile'}",
        f"--out={out}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())["train"]
    profile = report["profiles"]["64"]
    assert set(profile["thread_seconds"]) == {"matmul", "optimizer", "other"}
    assert profile["thread_seconds"]["matmul"] > 0 and profile["thread_seconds"]["optimizer"] > 0
    assert [r["variant"] for r in report["rows"]] == ["keras_vae", "plain Keras fit"]
    assert report["flops_per_example"] == 5_596_160  # 3 x 2.13 MFLOP, less the images' gradient
    assert report["examples"] == 256 and report["roofline_examples_per_second"] > 0
    for row in report["rows"]:
        assert len(row["epoch_seconds"]) == 2 and row["examples_per_second"] > 0
        assert 0 < row["roofline_fraction"] < 1.5
    assert "| keras_vae | keras_vae | 64 |" in result.stdout


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
def test_profile_groups_every_matmul_kernel_name(op, group):
    sys.path.insert(0, os.path.join(REPO, "experiments"))
    try:
        import benchmark_training
    finally:
        sys.path.pop(0)
    assert benchmark_training.op_group(op) == group


def test_benchmark_rejects_an_unknown_part():
    result = _run_script("benchmark.py", "--part=speed")
    assert result.returncode != 0
    assert "unknown --part" in result.stderr


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
    assert "--row" not in progress["command"] and "--objective=elbo" in progress["command"]
    line = next(
        line
        for line in papers.table(str(tmp_path / "results")).splitlines()
        if "burda_vae_k1" in line
    )
    assert "86.76" in line and "| 3 (3,280) |" in line


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
