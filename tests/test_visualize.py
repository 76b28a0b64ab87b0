"""Latent-space geometry, the inference API on Keras and SavedModels, and the visualize command."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import synthetic_digits

from keras_vae import export, handles, inference, latent, visualization
from keras_vae.errors import ConfigError
from keras_vae.model import VAE
from keras_vae.visualize_config import LabelledImages, VisualizeConfig

PROGRAM = "keras_vae.visualize"


# --- latent.py: pure geometry -------------------------------------------------------------


def test_paths_start_and_end_at_the_endpoints():
    rng = np.random.default_rng(0)
    start, end = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    for path in (latent.linear_path(start, end, 7), latent.spherical_path(start, end, 7)):
        assert path.shape == (4, 7, 5)
        np.testing.assert_allclose(path[:, 0], start, atol=1e-6)
        np.testing.assert_allclose(path[:, -1], end, atol=1e-6)
    middle = latent.linear_path(start, end, 3)[:, 1]
    np.testing.assert_allclose(middle, (start + end) / 2, atol=1e-6)


def test_slerp_keeps_the_norm_where_the_line_cuts_inside():
    start = np.array([[3.0, 0.0, 0.0]])
    end = np.array([[0.0, 3.0, 0.0]])
    norms = np.linalg.norm(latent.spherical_path(start, end, 11)[0], axis=-1)
    np.testing.assert_allclose(norms, 3.0, rtol=1e-6)
    assert np.linalg.norm(latent.linear_path(start, end, 11)[0, 5]) < 2.2
    # Parallel endpoints fall back to the straight line instead of dividing by 0.
    same = latent.spherical_path(start, 2 * start, 3)
    np.testing.assert_allclose(same[0, 1], 1.5 * start[0], atol=1e-6)


def test_traversal_changes_one_coordinate_only():
    base = np.arange(5, dtype=np.float32)
    codes = latent.traversal(base, dims=[3, 0], values=[-2.0, 0.5, 2.0])
    assert codes.shape == (2, 3, 5)
    for row, d in enumerate([3, 0]):
        changed = codes[row] != base
        assert not np.any(np.delete(changed, d, axis=1))
        np.testing.assert_array_equal(codes[row, :, d], [-2.0, 0.5, 2.0])
    with pytest.raises(ValueError, match="out of range"):
        latent.traversal(base, dims=[5], values=[0.0])


def test_attribute_arithmetic():
    means = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [0.0, 2.0]])
    labels = np.array([0, 0, 1, 1])
    vector = latent.attribute_vector(means, labels, towards=1, away_from=0)
    np.testing.assert_allclose(vector, [-1.0, 3.0])
    moved = latent.add_attribute(means, vector, [0.0, 1.0])
    np.testing.assert_array_equal(moved[:, 0], means)  # a = 0 is the identity
    np.testing.assert_allclose(moved[:, 1], means + vector)
    with pytest.raises(ValueError, match="no examples of class 7"):
        latent.attribute_vector(means, labels, towards=7, away_from=0)


def test_principal_components_against_numpy():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(500, 3)) * [5.0, 1.0, 0.1] @ np.linalg.qr(rng.normal(size=(3, 3)))[0]
    projected, ratio = latent.principal_components(points, 2)
    variances = np.var(projected, axis=0)
    total = np.var(points - points.mean(0), axis=0).sum()
    np.testing.assert_allclose(ratio, variances / total, rtol=1e-4)
    assert ratio[0] > 0.9 and abs(np.corrcoef(projected.T)[0, 1]) < 1e-4


def test_most_informative_dimensions():
    assert latent.most_informative_dimensions(np.array([0.1, 3.0, 0.0, 2.0]), 2) == [1, 3]


# --- inference.py on a Keras model and on its SavedModel ----------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny untrained 3-D VAE on 8x8 images, its SavedModel handle and labelled images."""
    keras.utils.set_random_seed(0)
    model = VAE(image_shape=(8, 8), latent_dims=3, hidden_units=(16,), activation="tanh")
    model(np.zeros((1, 8, 8), np.float32))
    path = str(tmp_path_factory.mktemp("tiny") / "saved_model")
    export.export_saved_model(model, path)
    images, labels = synthetic_digits(40, seed=3, size=8)
    return model, handles.load_saved_model(path), images / np.float32(255), labels


@pytest.mark.parametrize("which", ["keras", "saved_model"])
def test_interpolation_endpoints_are_the_reconstructions(tiny, which):
    model = tiny[0] if which == "keras" else tiny[1]
    images = tiny[2]
    for method in ("linear", "spherical"):
        frames = inference.interpolate(model, images[:3], images[3:6], 5, method)
        assert frames.shape == (3, 5, 8, 8)
        np.testing.assert_allclose(
            frames[:, 0], inference.reconstruct(model, images[:3]), atol=1e-6
        )
        np.testing.assert_allclose(
            frames[:, -1], inference.reconstruct(model, images[3:6]), atol=1e-6
        )


def test_keras_and_saved_model_give_the_same_arrays(tiny):
    model, saved, images, labels = tiny
    np.testing.assert_allclose(
        inference.encode_means(model, images), inference.encode_means(saved, images), atol=1e-5
    )
    np.testing.assert_allclose(
        inference.sample(model, 6, 1), inference.sample(saved, 6, 1), atol=1e-5
    )
    vector = inference.attribute_vector(saved, images, labels, labels[0], labels[1])
    np.testing.assert_allclose(
        inference.add_attribute(model, images[:4], vector, [0.5]),
        inference.add_attribute(saved, images[:4], vector, [0.5]),
        atol=1e-5,
    )


def test_arithmetic_at_zero_strength_and_traversal_rows(tiny):
    _, saved, images, _ = tiny
    moved = inference.add_attribute(saved, images[:4], np.ones(3, np.float32), [0.0, 1.0])
    np.testing.assert_allclose(moved[:, 0], inference.reconstruct(saved, images[:4]), atol=1e-6)
    assert not np.allclose(moved[:, 1], moved[:, 0])
    frames = inference.traverse(saved, images[0], dims=[2, 0], values=[-2.0, 0.0, 2.0])
    base = inference.encode_means(saved, images[:1])[0]
    expected = inference.decode(saved, latent.traversal(base, [2, 0], [-2.0, 0.0, 2.0]))
    np.testing.assert_allclose(frames, expected, atol=1e-6)


def test_inference_rejects_bad_arrays(tiny):
    _, saved, images, _ = tiny
    with pytest.raises(ValueError, match=r"images must be \[N, 8, 8\]"):
        inference.reconstruct(saved, images.reshape(40, 64))
    with pytest.raises(ValueError, match="floats"):
        inference.reconstruct(saved, (images * 255).astype(np.uint8))
    with pytest.raises(ValueError, match="num_samples must be at least 1"):
        inference.sample(saved, 0, seed=0)
    with pytest.raises(ValueError, match="at least 2 steps"):
        inference.interpolate(saved, images[:1], images[1:2], 1)


def test_interpolate_signature(tiny):
    _, saved, images, _ = tiny
    signature = saved.loaded.signatures["interpolate"]
    out = signature(
        start_images=tf.constant(images[:2]), end_images=tf.constant(images[2:4]), num_steps=4
    )
    assert set(out) == {"images", "z"} and out["images"].shape == (2, 4, 8, 8)
    np.testing.assert_allclose(
        out["images"].numpy(), inference.interpolate(saved, images[:2], images[2:4], 4), atol=1e-5
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_steps must be at least 2"):
        signature(
            start_images=tf.constant(images[:2]), end_images=tf.constant(images[2:4]), num_steps=1
        )
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError, TypeError)):
        signature(
            start_images=tf.constant(images[:2].reshape(2, 64)),
            end_images=tf.constant(images[2:4].reshape(2, 64)),
            num_steps=3,
        )
    with pytest.raises(tf.errors.InvalidArgumentError, match="as many images"):
        signature(
            start_images=tf.constant(images[:2]), end_images=tf.constant(images[2:5]), num_steps=3
        )


def test_draw_a_higher_dimensional_model(tiny, tmp_path):
    _, saved, images, labels = tiny
    c = VisualizeConfig(saved_model="unused", out=str(tmp_path), manifold_size=4, num_samples=8)
    data = LabelledImages(images, labels, tuple(str(i) for i in range(10)), {})
    report = visualization.draw(c, saved, data, print_fn=lambda *a: None)
    assert sorted(os.listdir(tmp_path)) == sorted([*visualization.FIGURES, "visualize.json"])
    assert report["encodings_projection"]["method"] == "pca"
    assert len(report["manifold_dims"]) == 2 and len(report["traversal_dims"]) == 3
    with pytest.raises(ConfigError, match="class '42' is not in the data"):
        visualization.draw(
            VisualizeConfig(saved_model="u", out=str(tmp_path), towards="42"), saved, data
        )


def test_figures_are_the_same_for_a_seed_and_differ_for_another(tiny, tmp_path):
    _, saved, images, labels = tiny
    data = LabelledImages(images, labels, tuple(str(i) for i in range(10)), {})

    def drawn(folder, seed):
        c = VisualizeConfig(
            saved_model="unused", out=str(tmp_path / folder), seed=seed, manifold_size=4
        )
        visualization.draw(c, saved, data, print_fn=lambda *a: None)
        return {name: (tmp_path / folder / name).read_bytes() for name in visualization.FIGURES}

    first, again, other = drawn("a", 0), drawn("b", 0), drawn("c", 1)
    assert first == again
    # The seed draws the samples; the other figures are functions of the test images.
    assert first["samples.png"] != other["samples.png"]


# --- the command ---------------------------------------------------------------------------


def visualize(*flags):
    return subprocess.run(
        [sys.executable, "-m", PROGRAM, *flags], capture_output=True, text=True, timeout=600
    )


def test_command_from_a_model_dir(trained_run, tmp_path):
    run_dir, _ = trained_run
    out = tmp_path / "figures"
    result = visualize(f"--model_dir={run_dir}", f"--out={out}", "--manifold_size=5")
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(os.listdir(out)) == sorted([*visualization.FIGURES, "visualize.json"])
    report = json.loads((out / "visualize.json").read_text())
    assert report["manifold_dims"] == [0, 1] and "encodings_projection" not in report


# Runs the command from a bare SavedModel and fails if any training-side module was imported.
_WITHOUT_TRAINING_CODE = """
import runpy, sys
# As `python -m keras_vae.visualize` does: argv[0] is "-m" while the package is imported,
# then the module's path.
sys.argv = ["-m"] + sys.argv[1:]
try:
    runpy.run_module("keras_vae.visualize", run_name="__main__", alter_sys=True)
except SystemExit as e:
    code = e.code
loaded = sorted(m for m in ("keras_vae.model", "keras_vae.training", "keras_vae.callbacks",
                            "keras_vae.importance", "keras_vae.losses") if m in sys.modules)
print("LOADED", loaded)
sys.exit(code or (3 if loaded else 0))
"""


def test_command_from_a_bare_saved_model_without_training_code(trained_run, tmp_path):
    run_dir, _ = trained_run
    config = json.loads(open(os.path.join(run_dir, "config.json")).read())
    out = tmp_path / "figures"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _WITHOUT_TRAINING_CODE,
            f"--saved_model={os.path.join(run_dir, 'saved_model')}",
            f"--dataset={config['data']['dataset']}",
            f"--out={out}",
            "--manifold_size=5",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-500:] + result.stderr[-2000:]
    assert "LOADED []" in result.stdout
    assert sorted(os.listdir(out)) == sorted([*visualization.FIGURES, "visualize.json"])


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--model_dir=/nonexistent/run"], "does not exist"),
        (["--model_dir={tmp}"], "not a keras_vae run"),
        (["--saved_model={tmp}"], "not a TF SavedModel"),
        (["--saved_model={run}/saved_model", "--split=validation", "--dataset=mnist_sample"],
         "cannot be rebuilt"),
        (["--model_dir={run}", "--saved_model={run}/saved_model"], "exactly one"),
        (["--model_dir={run}", "--towards=42"], "class '42' is not in the data"),
        (["--model_dir={run}", "--strengths=1,big"], "strengths must be comma-separated numbers"),
        (["--model_dir={run}", "--steps=1"], "steps must be an integer >= 2"),
        (["--model_dir={run}", "--num_samples=0"], "num_samples must be a positive integer"),
        (["--model_dir={run}", "--split=dev"], "flag --split=dev: value should be one of"),
        (["--model_dir={run}", "--dataset=idx:/nonexistent"], "/nonexistent"),
    ],
)
def test_bad_input_is_one_line(trained_run, tmp_path, flags, fragment):
    run_dir, _ = trained_run
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier work")
    flags = [f.format(tmp=tmp_path, run=run_dir) for f in flags] + [f"--out={out}"]
    result = visualize(*flags)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{PROGRAM}: error: "), result.stderr[-2000:]
    assert fragment in lines[0], lines[0]
    assert os.listdir(out) == ["keep.txt"]
