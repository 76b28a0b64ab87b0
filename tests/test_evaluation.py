"""The importance-weighted estimator against exact numbers, and the evaluate command."""

import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import _write_synthetic_folder
from keras import ops

from keras_vae import evaluation, handles, latent
from keras_vae.model import VAE


def _tiny_model(seed=0):
    keras.utils.set_random_seed(seed)
    return VAE(image_shape=(4, 4), latent_dims=2, hidden_units=(8,), activation="tanh", seed=seed)


def _broad_proposal(model, std=1.5):
    """Makes q(z|x) = N(0, std^2 I) for every x: broader than any posterior under an N(0, I)
    prior, so the importance weights are bounded and k = 5000 pins log p(x) down tightly."""
    for head in (model.encoder.mean_head, model.encoder.log_variance_head):
        kernel, bias = head.get_weights()
        head.set_weights([np.zeros_like(kernel), np.zeros_like(bias)])
    kernel, bias = model.encoder.log_variance_head.get_weights()
    model.encoder.log_variance_head.set_weights([kernel, np.full_like(bias, 2 * np.log(std))])
    return model


def _binary_images(n, seed=1):
    return (np.random.default_rng(seed).random((n, 4, 4)) > 0.5).astype(np.float32)


def _numpy_decoder_log_likelihood(model, x, z):
    """log p(x|z) for each z [M, 2] and one image x [16], by hand in numpy (float64)."""
    w1, b1 = (np.asarray(w, np.float64) for w in model.decoder.hidden[0].get_weights())
    w2, b2 = (np.asarray(w, np.float64) for w in model.decoder.output_head.get_weights())
    logits = np.tanh(z @ w1 + b1) @ w2 + b2
    return np.sum(x * logits - np.logaddexp(0, logits), axis=1)


def _exact_log_marginal(model, x):
    """log p(x) = log of the integral of p(x|z) N(z; 0, I) over a fine 2-D grid."""
    axis = np.linspace(-7, 7, 561)
    z1, z2 = np.meshgrid(axis, axis)
    z = np.stack([z1.ravel(), z2.ravel()], axis=1)
    log_prior = -0.5 * np.sum(z**2, axis=1) - np.log(2 * np.pi)
    log_terms = _numpy_decoder_log_likelihood(model, x, z) + log_prior
    cell = (axis[1] - axis[0]) ** 2
    top = log_terms.max()
    return top + np.log(np.sum(np.exp(log_terms - top)) * cell)


def test_log_weights_match_numpy():
    model = _tiny_model()
    images = _binary_images(3)
    noise = np.random.default_rng(2).standard_normal((5, 3, 2)).astype(np.float32)
    out = model.log_weights(images, noise)
    mean, log_variance = (ops.convert_to_numpy(t).astype(np.float64) for t in model.encode(images))
    for b in range(3):
        z = mean[b] + np.exp(0.5 * log_variance[b]) * noise[:, b].astype(np.float64)
        log_px = _numpy_decoder_log_likelihood(model, images[b].ravel(), z)
        log_pz = -0.5 * np.sum(z**2, axis=1) - np.log(2 * np.pi)
        log_q = -0.5 * np.sum(
            np.log(2 * np.pi) + log_variance[b] + (z - mean[b]) ** 2 / np.exp(log_variance[b]),
            axis=1,
        )
        np.testing.assert_allclose(out["log_likelihood"][:, b], log_px, rtol=1e-5)
        np.testing.assert_allclose(out["log_weights"][:, b], log_px + log_pz - log_q, rtol=1e-4)


def test_importance_weighted_estimate_approaches_the_exact_likelihood_from_below():
    model = _broad_proposal(_tiny_model())
    images = _binary_images(4)
    exact = np.array([_exact_log_marginal(model, x.ravel()) for x in images])
    scorer = handles.KerasHandle(model)
    # With these weights the estimate's standard deviation is about 0.007 nats at k = 50000.
    bounds, _ = evaluation.per_example_bounds(scorer, images, num_samples=50000, seed=0)
    np.testing.assert_allclose(bounds, exact, atol=0.03)
    # The ELBO is a looser bound: strictly below on every image.
    one_sample, _ = evaluation.per_example_bounds(scorer, images, num_samples=1, seed=0)
    report = evaluation.evaluate_images(scorer, images, num_samples=2000)
    assert report["elbo"] < float(np.mean(exact)) - 0.01
    assert report["nll"] == pytest.approx(-float(np.mean(exact)), abs=0.05)
    assert one_sample.shape == (4,)


def test_one_sample_equals_the_elbo_in_expectation():
    model = _tiny_model()
    images = np.repeat(_binary_images(2), 500, axis=0)  # 500 independent draws per image
    scorer = handles.KerasHandle(model)
    single, _ = evaluation.per_example_bounds(scorer, images, num_samples=1, seed=3)
    report = evaluation.evaluate_images(scorer, images[::500], num_samples=20000, seed=4)
    assert np.mean(single) == pytest.approx(report["elbo"], abs=0.1)


def test_bound_grows_with_k():
    model = _broad_proposal(_tiny_model(seed=5))
    images = _binary_images(64, seed=6)
    scorer = handles.KerasHandle(model)
    means = [
        np.mean(evaluation.per_example_bounds(scorer, images, num_samples=k, seed=k)[0])
        for k in (1, 10, 100, 1000)
    ]
    assert means == sorted(means) and means[-1] - means[0] > 0.05


def test_chunking_changes_nothing_but_the_draws():
    # Many small decoder calls and one big one estimate the same quantity.
    model = _broad_proposal(_tiny_model())
    images = _binary_images(8)
    scorer = handles.KerasHandle(model)
    big, _ = evaluation.per_example_bounds(scorer, images, 20000, seed=0)
    small, _ = evaluation.per_example_bounds(scorer, images, 20000, seed=0, rows_per_call=7000)
    np.testing.assert_allclose(big, small, atol=0.06)
    assert np.mean(big) == pytest.approx(np.mean(small), abs=0.02)


def test_threads_change_nothing():
    # The draws depend on the batch, not on which thread scored it.
    model = _tiny_model()
    images = _binary_images(7)
    scorer = handles.KerasHandle(model)
    kwargs = dict(num_samples=300, seed=2, rows_per_call=600)  # 2 images per call, 4 calls.
    one = evaluation.per_example_bounds(scorer, images, workers=1, **kwargs)
    two = evaluation.per_example_bounds(scorer, images, workers=2, **kwargs)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])


def test_fused_likelihood_matches_the_plain_graph():
    model = _tiny_model()
    images = ops.convert_to_tensor(_binary_images(3))
    noise = ops.convert_to_tensor(
        np.random.default_rng(2).standard_normal((5, 3, 2)).astype(np.float32)
    )
    plain = model.log_weights(images, noise)
    fused = model.log_weights(images, noise, fused_likelihood=True)
    for key in ("log_weights", "log_likelihood"):
        np.testing.assert_allclose(fused[key], plain[key], rtol=1e-5, atol=1e-4)


def test_running_log_mean_exp_matches_numpy():
    rng = np.random.default_rng(0)
    chunks = [rng.normal(-300, 50, size=(n, 3)) for n in (7, 1, 12)]
    running = evaluation._RunningLogMeanExp.zeros(3)
    for chunk in chunks:
        running.add(chunk)
    everything = np.concatenate(chunks)
    top = everything.max(axis=0)
    expected = top + np.log(np.mean(np.exp(everything - top), axis=0))
    np.testing.assert_allclose(running.result(), expected, rtol=1e-12)


def test_active_units_and_kl_per_dimension():
    rng = np.random.default_rng(0)
    mean = np.stack([rng.normal(0, 1, 1000), rng.normal(0, 0.05, 1000), np.zeros(1000)], axis=1)
    log_variance = np.log(np.full((1000, 3), 0.5))
    assert evaluation.active_units(mean) == 1  # variances 1, 0.0025, 0
    kl = latent.kl_per_dimension(mean, log_variance)
    expected = np.mean(0.5 * (mean**2 + 0.5 - 1 - np.log(0.5)), axis=0)
    np.testing.assert_allclose(kl, expected)


def test_saved_model_scores_like_the_keras_model(trained_run):
    import keras

    path, _ = trained_run
    model = keras.saving.load_model(os.path.join(path, "checkpoints", "latest.keras"))
    images = np.random.default_rng(0).random((6, 28, 28)).astype(np.float32)
    keras_out = handles.KerasHandle(model).log_weights(images, 7, [1, 2])
    saved = handles.load_saved_model(os.path.join(path, "saved_model"))
    saved_out = saved.log_weights(images, 7, [1, 2])
    for a, b in zip(keras_out, saved_out):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)
    assert saved.image_shape == (28, 28) and saved.latent_dims == 2


def evaluate(*flags):
    return subprocess.run(
        [sys.executable, "-m", "keras_vae.evaluate", *flags],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_evaluate_command_writes_eval_json(trained_run, tmp_path):
    path, _ = trained_run
    output = tmp_path / "eval.json"
    result = evaluate(
        f"--model_dir={path}",
        "--num_importance_samples=50",
        "--max_examples=30",
        f"--output={output}",
    )
    assert result.returncode == 0, result.stderr
    assert "NLL" in result.stdout
    report = json.loads(output.read_text())
    assert report["split"] == "test" and report["num_examples"] == 30
    assert report["num_importance_samples"] == 50 and report["binarized"] is True
    assert report["elbo"] <= report["log_likelihood"] == pytest.approx(-report["nll"])
    assert report["elbo"] == pytest.approx(-(report["reconstruction"] + report["kl"]))
    assert len(report["kl_per_dimension"]) == 2
    assert 0 <= report["active_units"] <= 2
    assert report["data_source"]["kind"] == "idx"


def _one_line_error(result, fragment):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("keras_vae.evaluate: error: "), result.stderr
    assert fragment in lines[0]


def test_evaluate_bad_input(trained_run, tmp_path):
    path, _ = trained_run
    not_a_run = tmp_path / "other"
    not_a_run.mkdir()
    (not_a_run / "weights.h5").write_text("x")
    cases = [
        ([f"--model_dir={path}", "--num_importance_samples=0"], "num_importance_samples"),
        ([f"--model_dir={path}", "--split=dev"], "flag --split=dev: value should be one of"),
        ([f"--model_dir={tmp_path / 'missing'}"], "does not exist"),
        ([f"--model_dir={not_a_run}"], "not a keras_vae run"),
        ([], "exactly one of model_dir"),
    ]
    for flags, fragment in cases:
        _one_line_error(evaluate(*flags), fragment)
    assert os.listdir(not_a_run) == ["weights.h5"]


def test_a_bare_saved_model_is_scored_on_its_runs_split(trained_run, tmp_path):
    path, _ = trained_run
    saved_model = os.path.join(path, "saved_model")
    reports = {}
    for name, source in (("run", f"--model_dir={path}"), ("bare", f"--saved_model={saved_model}")):
        output = tmp_path / f"{name}.json"
        # --seed seeds the draws of z only: the split is the run's, whatever it says.
        result = evaluate(
            source, "--split=validation", "--num_importance_samples=20", "--seed=5",
            f"--output={output}",
        )
        assert result.returncode == 0, result.stderr
        reports[name] = json.loads(output.read_text())
    assert reports["bare"]["num_examples"] == reports["run"]["num_examples"]
    assert reports["bare"]["nll"] == pytest.approx(reports["run"]["nll"], rel=1e-6)
    assert reports["bare"]["nll_kind"] == "probability"
    assert reports["bare"]["likelihood"] == "bernoulli"


def test_what_a_saved_model_cannot_say_is_refused(trained_run, tmp_path):
    path, _ = trained_run
    saved_model = os.path.join(path, "saved_model")
    old = tmp_path / "old_saved_model"
    shutil.copytree(saved_model, old)
    shutil.rmtree(old / "assets.extra")  # as an older keras_vae exported it
    other = tmp_path / "other_idx"
    _write_synthetic_folder(other, train=40, test=20)
    cases = [
        ([f"--saved_model={old}"], "give --dataset"),
        ([f"--saved_model={old}", f"--dataset=idx:{other}", "--split=validation"],
         "cannot be rebuilt"),
        ([f"--saved_model={saved_model}", f"--dataset=idx:{other}", "--split=train"],
         "cannot be rebuilt from"),
        ([f"--saved_model={saved_model}", "--binarize=none"], "trained with binarize=dynamic"),
        ([f"--saved_model={saved_model}", f"--output={saved_model}/eval.json"],
         "inside the SavedModel"),
    ]
    before = sorted(os.listdir(saved_model))
    for flags, fragment in cases:
        _one_line_error(evaluate(*flags, "--num_importance_samples=5"), fragment)
    assert sorted(os.listdir(saved_model)) == before
    # Test images of other data are fine: nothing of the run's split is rebuilt.
    out = tmp_path / "other.json"
    result = evaluate(
        f"--saved_model={old}", f"--dataset=idx:{other}", "--num_importance_samples=5",
        f"--output={out}",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["nll_kind"] == "unknown"


def test_reports_are_named_by_split_and_k_and_never_replaced_silently(trained_run, tmp_path):
    path, _ = trained_run
    run = tmp_path / "run"
    shutil.copytree(path, run)
    for split in ("test", "validation"):
        result = evaluate(f"--model_dir={run}", f"--split={split}", "--num_importance_samples=7")
        assert result.returncode == 0, result.stderr
    written = (run / "eval-test-k7.json").read_text()
    assert json.loads((run / "eval-validation-k7.json").read_text())["split"] == "validation"
    again = evaluate(f"--model_dir={run}", "--num_importance_samples=7", "--seed=3")
    _one_line_error(again, "--overwrite")
    assert (run / "eval-test-k7.json").read_text() == written
    result = evaluate(f"--model_dir={run}", "--num_importance_samples=7", "--seed=3", "--overwrite")
    assert result.returncode == 0, result.stderr
    assert json.loads((run / "eval-test-k7.json").read_text())["seed"] == 3
    # A bare SavedModel's report goes beside it, never into it.
    result = evaluate(f"--saved_model={run / 'saved_model'}", "--num_importance_samples=7",
                      "--split=validation", "--max_examples=5")
    assert result.returncode == 0, result.stderr
    assert (run / "eval-validation-k7-n5.json").exists()
    assert not [n for n in os.listdir(run / "saved_model") if n.endswith(".json")]
