"""Any input shape through the model, its objectives, the SavedModel and the numpy views:
vectors [D], grey images [H, W] and colour images [H, W, C] (issue "your own data")."""

import numpy as np
import pytest
import tensorflow as tf

from keras_vae import evaluation, export, handles, inference
from keras_vae.model import VAE


@pytest.mark.parametrize(
    "shape, likelihood",
    [((8, 8, 3), "bernoulli"), ((12,), "continuous_bernoulli"), ((5, 7), "gaussian")],
    ids=["colour", "vectors", "non-square-gaussian"],
)
def test_a_model_of_any_shape_trains_exports_and_scores_alike(tmp_path, shape, likelihood):
    model = VAE(image_shape=shape, latent_dims=2, hidden_units=(16,), likelihood=likelihood, seed=0)
    model.compile(optimizer="adam")
    x = np.random.default_rng(0).random((40, *shape)).astype(np.float32)
    history = model.fit(x, batch_size=10, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    export.export_saved_model(model, str(tmp_path / "saved_model"))
    served = handles.load_saved_model(str(tmp_path / "saved_model"))
    kept = handles.as_handle(model)
    assert served.image_shape == shape
    for a, b in zip(kept.log_weights(x[:3], 4, [1, 2]), served.log_weights(x[:3], 4, [1, 2])):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
    assert inference.sample(served, 3, 0).shape == (3, *shape)
    assert inference.reconstruct(served, x[:2]).shape == (2, *shape)
    scores = served.score(x[:3], 4, [0, 0])
    assert all(v.shape == (3,) for v in scores.values())
    report = evaluation.evaluate_images(served, x[:10], 5)
    assert report["elbo"] <= report["log_likelihood"] + 1e-6


def test_a_gaussian_model_takes_any_finite_values_and_a_bernoulli_one_only_unit_ones(tmp_path):
    gaussian = VAE(image_shape=(6,), latent_dims=2, hidden_units=(8,), likelihood="gaussian")
    gaussian.compile(optimizer="adam")
    standardized = np.random.default_rng(1).normal(0, 3, (20, 6)).astype(np.float32)
    gaussian.fit(standardized, batch_size=10, epochs=1, verbose=0)  # Values outside [0, 1].
    with pytest.raises(ValueError, match="inputs must be finite"):
        gaussian.fit(np.full((4, 6), np.nan, np.float32), epochs=1, verbose=0)
    export.export_saved_model(gaussian, str(tmp_path / "gaussian"))
    served = tf.saved_model.load(str(tmp_path / "gaussian"))
    served.signatures["encode"](images=tf.constant(standardized[:2]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="images must be finite"):
        served.signatures["encode"](images=tf.constant(np.full((1, 6), np.inf, np.float32)))
    bernoulli = VAE(image_shape=(6,), latent_dims=2, hidden_units=(8,))
    with pytest.raises(ValueError, match=r"must be finite and in \[0, 1\]"):
        bernoulli.fit(standardized, epochs=1, verbose=0)
