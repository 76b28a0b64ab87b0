"""The SavedModel: named signatures, loadable without keras_vae, matching the in-memory model."""

import json
import os
import re
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

REJECTED = (TypeError, ValueError, tf.errors.InvalidArgumentError)

# Runs in a fresh interpreter that never imports keras_vae (nor Keras' saving code).
LOAD_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf
    saved_model, inputs, outputs = sys.argv[1:]
    m = tf.saved_model.load(saved_model)
    x = np.load(inputs)
    images, z = tf.constant(x["images"]), tf.constant(x["z"])
    out = {}
    enc = m.signatures["encode"](images=images)
    out["mean"], out["log_variance"] = enc["mean"].numpy(), enc["log_variance"].numpy()
    out["decoded"] = m.signatures["decode"](z=z)["images"].numpy()
    out["reconstructed"] = m.signatures["reconstruct"](images=images)["images"].numpy()
    sample = m.signatures["sample"]
    out["sample_a"] = sample(num_samples=tf.constant(5), seed=tf.constant(42, tf.int64))["images"].numpy()
    out["sample_b"] = sample(num_samples=tf.constant(5), seed=tf.constant(42, tf.int64))["images"].numpy()
    out["sample_c"] = sample(num_samples=tf.constant(5), seed=tf.constant(43, tf.int64))["images"].numpy()
    assert "keras_vae" not in sys.modules
    np.savez(outputs, **out)
""")


@pytest.fixture(scope="module")
def fresh_process_outputs(trained_run, tmp_path_factory):
    path, _ = trained_run
    folder = tmp_path_factory.mktemp("export")
    rng = np.random.default_rng(0)
    inputs = {
        "images": rng.random((7, 28, 28)).astype(np.float32),
        "z": rng.standard_normal((4, 2)).astype(np.float32),
    }
    np.savez(folder / "inputs.npz", **inputs)
    script = folder / "load.py"
    script.write_text(LOAD_SCRIPT)
    subprocess.run(
        [
            sys.executable,
            str(script),
            os.path.join(path, "saved_model"),
            str(folder / "inputs.npz"),
            str(folder / "outputs.npz"),
        ],
        check=True,
        cwd=folder,
        capture_output=True,
    )
    return inputs, dict(np.load(folder / "outputs.npz"))


@pytest.fixture(scope="module")
def trained(trained_run):
    return keras.saving.load_model(os.path.join(trained_run[0], "checkpoints", "latest.keras"))


def test_fresh_process_matches_in_memory_model(fresh_process_outputs, trained):
    inputs, out = fresh_process_outputs
    mean, log_variance = (keras.ops.convert_to_numpy(t) for t in trained.encode(inputs["images"]))
    np.testing.assert_allclose(out["mean"], mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["log_variance"], log_variance, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        out["decoded"],
        keras.ops.convert_to_numpy(trained.decode_images(inputs["z"])),
        rtol=1e-5,
        atol=1e-6,
    )
    np.testing.assert_allclose(
        out["reconstructed"],
        keras.ops.convert_to_numpy(trained.decode_images(mean)),
        rtol=1e-5,
        atol=1e-6,
    )


def test_sample_is_reproducible_for_a_seed(fresh_process_outputs):
    _, out = fresh_process_outputs
    assert out["sample_a"].shape == (5, 28, 28)
    np.testing.assert_array_equal(out["sample_a"], out["sample_b"])
    assert not np.allclose(out["sample_a"], out["sample_c"])


SIGNATURES = {
    "encode": ({"images"}, {"mean", "log_variance"}),
    "decode": ({"z"}, {"images"}),
    "sample": ({"num_samples", "seed"}, {"images", "z"}),
    "reconstruct": ({"images"}, {"images"}),
    "interpolate": ({"start_images", "end_images", "num_steps"}, {"images", "z"}),
    "log_weights": ({"images", "num_samples", "seed"}, {"log_weights", "log_likelihood"}),
    "score": (
        {"images", "num_samples", "seed"},
        {"log_likelihood", "elbo", "reconstruction", "kl"},
    ),
    "metadata": (set(), {"json"}),
}
# Keras' ExportArchive also serves its first endpoint, encode, as TF Serving's default.
SIGNATURES["serving_default"] = SIGNATURES["encode"]


def test_signatures_have_named_inputs_and_outputs(trained_run):
    m = tf.saved_model.load(os.path.join(trained_run[0], "saved_model"))
    assert set(m.signatures) == set(SIGNATURES)
    for name, (inputs, outputs) in SIGNATURES.items():
        signature = m.signatures[name]
        assert set(signature.structured_input_signature[1]) == inputs, name
        assert set(signature.structured_outputs) == outputs, name


def test_saved_model_cli_lists_the_named_signatures(trained_run):
    """What a deployer sees first: `saved_model_cli show --all` names every input and output."""
    shown = subprocess.run(
        [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "show", "--all"]
        + ["--dir", os.path.join(trained_run[0], "saved_model")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # One block per signature: "signature_def['encode']:" then its inputs['...'] and
    # outputs['...'] lines, up to the next block.
    blocks = dict(
        re.findall(
            r"signature_def\['(\w+)'\]:(.*?)(?=signature_def\[|Concrete Functions)", shown, re.S
        )
    )
    for name, (inputs, outputs) in SIGNATURES.items():
        assert name in blocks, name
        assert set(re.findall(r"inputs\['(\w+)'\]", blocks[name])) == inputs, name
        assert set(re.findall(r"outputs\['(\w+)'\]", blocks[name])) == outputs, name


def test_signatures_reject_wrong_shapes_and_counts(trained_run):
    m = tf.saved_model.load(os.path.join(trained_run[0], "saved_model"))
    with pytest.raises(REJECTED):
        m.signatures["encode"](images=tf.zeros([3, 784]))
    with pytest.raises(REJECTED):
        m.signatures["decode"](z=tf.zeros([3, 5]))
    with pytest.raises(REJECTED):
        m.signatures["encode"](images=tf.zeros([3, 28, 28], tf.float64))
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_samples must be positive"):
        m.signatures["sample"](num_samples=tf.constant(0), seed=tf.constant(1, tf.int64))


def test_metadata_is_the_runs_record(trained_run):
    path = trained_run[0]
    m = tf.saved_model.load(os.path.join(path, "saved_model"))
    served = json.loads(m.signatures["metadata"]()["json"].numpy())
    record = json.load(open(os.path.join(path, "config.json")))
    assert served == record
    asset = os.path.join(path, "saved_model", "assets.extra", "keras_vae_run.json")
    assert json.load(open(asset)) == record
    for key in ("dataset", "binarize", "validation_fraction"):
        assert key in served["data"]
    assert served["train"]["seed"] == record["train"]["seed"]
    assert served["model"]["likelihood"] and served["data_source"]["image_shape"]
