"""`--dataset=npz:FILE`: arrays of any shape from one numpy file, and its bad files."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_vae import config as config_lib
from keras_vae import data, npz
from keras_vae.errors import DataError


def _write(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def _bad(tmp_path, phrase, **arrays):
    path = _write(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError) as info:
        npz.read(path)
    assert phrase in str(info.value) and path in str(info.value), str(info.value)


def test_an_npz_file_gives_its_splits_uint8_as_pixels_and_floats_as_they_are(tmp_path):
    rng = np.random.default_rng(0)
    path = _write(
        tmp_path / "d.npz",
        x_train=rng.normal(0, 2, (30, 5)).astype(np.float64),
        x_validation=rng.normal(0, 2, (6, 5)),
        x_test=rng.normal(0, 2, (8, 5)),
        y_train=rng.integers(0, 3, 30),
        y_validation=rng.integers(0, 3, 6),
        y_test=rng.integers(0, 3, 8),
    )
    config = config_lib.DataConfig(dataset=f"npz:{path}", binarize="none")
    splits = data.load_splits(config, seed=0)
    assert splits.train_images.dtype == np.float32 and splits.image_shape == (5,)
    assert len(splits.validation_images) == 6  # The file's own validation split.
    np.testing.assert_allclose(
        data.unit_floats(splits.test_images), np.load(path)["x_test"], rtol=1e-6
    )
    assert data.dataset_of_source(splits.source) == f"npz:{os.path.abspath(path)}"
    pixels = _write(tmp_path / "p.npz", x_train=np.full((10, 2, 2, 3), 255, np.uint8),
                    x_test=np.zeros((4, 2, 2, 3), np.uint8))  # fmt: skip
    splits = data.load_splits(config_lib.DataConfig(dataset=f"npz:{pixels}", binarize="none"), 0)
    assert (
        splits.train_images.dtype == np.uint8 and data.unit_floats(splits.train_images).max() == 1
    )
    assert splits.class_names == data.UNLABELLED


@pytest.mark.parametrize(
    "arrays, phrase",
    [
        ({"x_train": np.zeros((3, 2))}, "has no array x_test"),
        ({"x_train": np.zeros((3, 2)), "x_test": np.full((2, 2), np.nan)}, "NaN or infinite"),
        ({"x_train": np.array([["a", "b"]]), "x_test": np.zeros((1, 2))}, "not numbers"),
        ({"x_train": np.zeros((3, 2)), "x_test": np.zeros((2, 3))}, "differ in shape"),
        ({"x_train": np.zeros((3, 2)), "x_test": np.zeros((2, 2)), "y_train": np.zeros(3)},
         "labels (y_...) must come with every x_ array"),
        ({"x_train": np.zeros((3, 2)), "x_test": np.zeros((2, 2)), "y_train": np.zeros(2),
          "y_test": np.zeros(2)}, "y_train has shape (2,), expected (3,)"),
        ({"x_train": np.zeros((3, 2)), "x_test": np.zeros((2, 2)), "y_train": np.full(3, 0.5),
          "y_test": np.zeros(2)}, "must hold integer labels"),
        ({"x_train": np.zeros((0, 2)), "x_test": np.zeros((2, 2))}, "with N > 0"),
    ],
    ids=["no-x_test", "nan", "strings", "shapes", "labels-partial", "label-count",
         "fractional-labels", "empty"],
)  # fmt: skip
def test_a_bad_npz_file_is_named(tmp_path, arrays, phrase):
    _bad(tmp_path, phrase, **arrays)


def test_a_file_that_is_not_npz_is_named(tmp_path):
    path = tmp_path / "text.npz"
    path.write_text("not numpy\n")
    with pytest.raises(DataError, match="is not a readable .npz file"):
        npz.read(str(path))


def test_the_train_command_trains_on_vectors_and_colour_images_from_npz(tmp_path):
    rng = np.random.default_rng(0)
    vectors = _write(tmp_path / "v.npz", x_train=rng.random((120, 12)), x_test=rng.random((30, 12)))
    colour = _write(
        tmp_path / "c.npz",
        x_train=(rng.random((120, 6, 6, 3)) * 255).astype(np.uint8),
        x_test=(rng.random((30, 6, 6, 3)) * 255).astype(np.uint8),
    )
    for name, path, likelihood in (
        ("v", vectors, "continuous_bernoulli"),
        ("c", colour, "bernoulli"),
    ):
        run = tmp_path / f"run-{name}"
        result = subprocess.run(
            [sys.executable, "-m", "keras_vae.train", f"--dataset=npz:{path}",
             f"--likelihood={likelihood}", "--latent_dims=2", "--hidden_units=8", "--epochs=1",
             "--verbose=0", f"--model_dir={run}"],
            capture_output=True, text=True,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
        metrics = json.loads((run / "metrics.json").read_text())
        assert np.isfinite(metrics["test"]["elbo"])
        assert os.path.isdir(run / "saved_model")
        # Figures of colour images; none of vectors, which are not pictures.
        figures = os.listdir(run / "figures") if os.path.exists(run / "figures") else []
        assert ("samples.png" in figures) == (name == "c"), figures


@pytest.mark.parametrize("shape", [(6,), (5, 4, 3)])
def test_visualize_draws_colour_images_and_only_the_encodings_of_vectors(tmp_path, shape):
    rng = np.random.default_rng(0)
    path = _write(tmp_path / "v.npz", x_train=rng.random((60, *shape)),
                  x_test=rng.random((20, *shape)), y_train=rng.integers(0, 2, 60),
                  y_test=rng.integers(0, 2, 20))  # fmt: skip
    run = tmp_path / "run"
    train = [sys.executable, "-m", "keras_vae.train", f"--dataset=npz:{path}",
             "--latent_dims=2", "--hidden_units=8", "--epochs=1",
             "--verbose=0", f"--model_dir={run}"]  # fmt: skip
    result = subprocess.run(train, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "keras_vae.visualize", f"--model_dir={run}", "--towards=1",
         "--away_from=0", f"--out={tmp_path / 'figures'}"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "figures" / "visualize.json").read_text())
    drawn = sorted(os.listdir(tmp_path / "figures"))
    if len(shape) == 1:
        assert report["figures"] == ["encodings.png"] and "not grey" in report["skipped"]
        assert drawn == ["encodings.png", "visualize.json"]
    else:
        assert "skipped" not in report and "arithmetic.png" in drawn and len(drawn) == 8
        # The run's own figures are drawn in colour too.
        assert "samples.png" in os.listdir(run / "figures")


def test_a_conditional_model_of_unlabelled_npz_data_is_refused_before_anything_is_written(
    tmp_path,
):
    rng = np.random.default_rng(0)
    path = _write(tmp_path / "v.npz", x_train=rng.random((60, 6)), x_test=rng.random((20, 6)))
    result = subprocess.run(
        [sys.executable, "-m", "keras_vae.train", f"--dataset=npz:{path}", "--conditional",
         "--likelihood=gaussian", "--epochs=1", f"--model_dir={tmp_path / 'run'}"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].endswith("conditional needs labels of at least two classes, and "
                              f"npz:{path} has none")  # fmt: skip
    assert "Traceback" not in result.stderr
    assert not os.path.exists(tmp_path / "run")
