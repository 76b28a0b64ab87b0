"""keras_vae used as a Keras library: the README's lines in a fresh process, what fit takes."""

import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO

import keras_vae
from keras_vae import config as config_lib
from keras_vae.model import VAE


def _fresh_python(code, cwd):
    # A new interpreter: nothing of keras_vae is imported or registered but what the
    # code imports itself.
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=900, cwd=cwd
    )


def test_readme_loading_lines_work_in_a_fresh_process(trained_run, tmp_path):
    path, _ = trained_run
    checkpoint = os.path.join(path, "checkpoints", "best.keras")
    for loader in ("keras.saving.load_model", "keras.models.load_model"):
        code = (
            "import keras, keras_vae\n"
            f"vae = {loader}({checkpoint!r})\n"
            "print(type(vae).__name__, type(vae.optimizer).__name__)\n"
        )
        result = _fresh_python(code, tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout.split()[-2:] == ["VAE", "FusedAdam"]


def _readme_block(marker):
    text = open(os.path.join(REPO, "README.md")).read()
    match = re.search(rf"<!-- {marker} -->\n```python\n(.*?)```\n<!-- /{marker} -->", text, re.S)
    assert match, f"README.md has no {marker} block"
    return match.group(1)


@pytest.mark.slow
def test_readme_library_example_runs_as_written(tmp_path):
    result = _fresh_python(_readme_block("library-example"), tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = eval(result.stdout.strip().splitlines()[-1])  # the dict it prints
    assert -300 < report["elbo"] < -100
    loaded = tf.saved_model.load(str(tmp_path / "vae_saved_model"))
    assert {"encode", "decode", "log_weights", "metadata"} <= set(loaded.signatures)


def test_library_binarization_default_agrees_with_the_command():
    for likelihood in config_lib.LIKELIHOODS[1:]:  # "auto" is the command's alone.
        resolved = config_lib.resolve(
            config_lib.Config(model=config_lib.ModelConfig(likelihood=likelihood), model_dir="x")
        )
        model = VAE(likelihood=likelihood, hidden_units=(8,))
        assert model.binarize_training_inputs == (resolved.data.binarize == "dynamic")
    assert VAE(hidden_units=(8,), binarize_training_inputs=False).binarize_training_inputs is False


def _images(n=40):
    return (np.random.default_rng(0).random((n, 28, 28)) > 0.5).astype(np.float32)


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda x: ((x, np.zeros(len(x))), {}), "images only"),
        (lambda x: ((x,), {"y": np.zeros(len(x))}), "images only"),
        (lambda x: ((tf.data.Dataset.from_tensor_slices((x, x[:, 0, 0])).batch(8),), {}),
         "dataset of image batches"),
        (lambda x: ((x * 255.0,), {}), "in [0, 1]"),
        (lambda x: ((np.where(x > 0, np.nan, 0.0).astype(np.float32),), {}), "in [0, 1]"),
        (lambda x: ((x.reshape(len(x), -1),), {}), "the model takes"),
        (lambda x: ((tf.data.Dataset.from_tensor_slices(x.reshape(len(x), -1)).batch(8),), {}),
         "the model takes"),
        (lambda x: ((x,), {"validation_data": (x, x)}), "images only"),
    ],
)
def test_fit_refuses_what_it_would_misread(make, fragment):
    model = VAE(hidden_units=(8,), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    args, kwargs = make(_images())
    with pytest.raises(ValueError, match=re.escape(fragment)):
        model.fit(*args, **kwargs, epochs=1, verbose=0)


def test_fit_takes_arrays_uint8_and_datasets_of_images():
    model = VAE(hidden_units=(8,), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    x = _images()
    for data in (x, (x * 255).astype(np.uint8), tf.data.Dataset.from_tensor_slices(x).batch(8)):
        history = model.fit(data, epochs=1, verbose=0, batch_size=None if hasattr(data, "map") else 8)
        assert np.isfinite(history.history["loss"][-1])
    assert np.isfinite(model.evaluate(x, verbose=0, return_dict=True)["elbo"])


def test_package_names_resolve():
    for name in keras_vae.__all__:
        assert getattr(keras_vae, name) is not None
