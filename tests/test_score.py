"""The score command and the SavedModel's score signature: per-example numbers, the same
from the command and from a serving client that never imports keras_vae."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_the_score_command_writes_one_row_per_example(trained_run, tmp_path):
    run, _ = trained_run
    out = tmp_path / "scores.csv"
    result = subprocess.run(
        [sys.executable, "-m", "keras_vae.score", f"--model_dir={run}",
         "--num_importance_samples=7", "--max_examples=25", f"--output={out}"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    rows = _rows(out)
    assert [int(r["index"]) for r in rows] == list(range(25))
    for r in rows:
        values = {k: float(r[k]) for k in ("log_likelihood", "elbo", "reconstruction", "kl")}
        assert values["elbo"] == pytest.approx(-(values["reconstruction"] + values["kl"]), abs=1e-4)
        assert values["kl"] >= 0
    # A serving client: TensorFlow alone, the same batch and seed [0, 0] as the command's
    # first call, on the run's test images (read here with keras_vae's data code).
    from keras_vae import eval_config

    c = eval_config.resolve(
        eval_config.EvalConfig(model_dir=run, num_importance_samples=7, max_examples=25),
        report="scores",
        extension="csv",
    )
    images, _, _ = eval_config.load_images(c)
    np.save(tmp_path / "images.npy", images)
    script = (
        "import json, sys, numpy as np, tensorflow as tf\n"
        f"m = tf.saved_model.load({c.saved_model!r})\n"
        f"x = np.load({str(tmp_path / 'images.npy')!r})\n"
        "out = m.signatures['score'](images=tf.constant(x), num_samples=tf.constant(7),"
        " seed=tf.constant([0, 0], tf.int64))\n"
        "assert 'keras_vae' not in sys.modules\n"
        "print(json.dumps({k: v.numpy().tolist() for k, v in out.items()}))\n"
    )
    served = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert served.returncode == 0, served.stderr[-2000:]
    numbers = json.loads(served.stdout.strip().splitlines()[-1])
    for key in ("log_likelihood", "elbo", "reconstruction", "kl"):
        np.testing.assert_allclose(
            [float(r[key]) for r in rows], numbers[key], rtol=1e-5, atol=1e-4, err_msg=key
        )


def test_score_refuses_to_overwrite_a_table(trained_run, tmp_path):
    run, _ = trained_run
    out = tmp_path / "scores.csv"
    out.write_text("keep me")
    result = subprocess.run(
        [sys.executable, "-m", "keras_vae.score", f"--model_dir={run}", f"--output={out}"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith("already holds a report; pass --overwrite to replace it, or --output")
    )
    assert out.read_text() == "keep me"


def test_a_saved_model_without_a_score_signature_is_scored_the_same_way(trained_run):
    # SavedModels of an older keras_vae have no score signature: their log_weights draw
    # the same z for the same seed, so the numbers are the same.
    from keras_vae import handles

    run, _ = trained_run
    saved = handles.load_saved_model(f"{run}/saved_model")
    images = np.random.default_rng(0).random((6, 28, 28)).astype(np.float32)
    signature = saved.score(images, 9, [3, 1])
    fallback = saved._score_from_log_weights(images, 9, [3, 1], None)
    for key, value in signature.items():
        np.testing.assert_allclose(fallback[key], value, rtol=1e-5, atol=1e-3, err_msg=key)


def test_the_table_gives_back_each_float32_score_exactly(tmp_path):
    # Scores near 0 (a standardized table's) kept 6 decimals, not 6 digits, before.
    from keras_vae import scoring

    values = np.array([-0.011576175689697266, -1094.2913, 3.0e-7], np.float32)
    scores = {key: values for key in scoring.COLUMNS[2:]}
    scoring.write_csv(str(tmp_path / "s.csv"), scores, labels=[0, 1, 2])
    rows = _rows(tmp_path / "s.csv")
    for key in scoring.COLUMNS[2:]:
        np.testing.assert_array_equal(np.float32([r[key] for r in rows]), values)
