"""Training objectives: the k-sample ELBO, the IWAE bound and the capacity objective.

The objectives are computed through `VAE.objective_terms` with injected noise and
checked against the log weights of `VAE.log_weights` and numpy.
"""

import keras
import numpy as np
import pytest
from conftest import synthetic_digits
from keras import ops

from keras_vae.model import VAE

LATENT = 3


def _bits(n=8, seed=0):
    return (synthetic_digits(n, seed=seed)[0] > 127).astype(np.float32)


def _noise(k, batch, seed=1):
    return np.random.default_rng(seed).standard_normal((k, batch, LATENT)).astype(np.float32)


def _models(*variants):
    """Models with the constructor arguments `variants` and the same trainable weights."""
    keras.utils.set_random_seed(0)
    models = [VAE(latent_dims=LATENT, hidden_units=(16,), seed=0, **kw) for kw in variants]
    # Trainable weights only: the non-trainable ones (kl_weight) belong to each objective.
    for model in models[1:]:
        for mine, theirs in zip(model.trainable_weights, models[0].trainable_weights):
            mine.assign(theirs)
    return models


def _logmeanexp(a, axis=0):
    top = a.max(axis=axis)
    return top + np.log(np.mean(np.exp(a - top), axis=axis))


def _np(terms):
    return {k: ops.convert_to_numpy(v).astype(np.float64) for k, v in terms.items()}


def _log_weights(model, x, noise):
    return _np(model.log_weights(x, noise))


def test_iwae_with_one_sample_is_the_one_sample_elbo_on_the_same_noise():
    elbo_model, iwae_model = _models({}, {"objective": "iwae", "num_samples": 1})
    x, noise = _bits(), _noise(1, 8)
    iwae = _np(iwae_model.objective_terms(x, noise=noise))
    elbo = _np(elbo_model.objective_terms(x, noise=noise[0]))
    # Same z: the same reconstruction term and closed-form KL.
    np.testing.assert_allclose(iwae["reconstruction"], elbo["reconstruction"], rtol=1e-5)
    np.testing.assert_allclose(iwae["kl"], elbo["kl"], rtol=1e-5)
    # With k = 1 the bound is log w = log p(x|z) + log p(z) - log q(z|x): the ELBO with its
    # KL estimated from the sample. The ELBO objective uses the closed-form KL instead.
    mean, log_variance = (ops.convert_to_numpy(t).astype(np.float64) for t in elbo_model.encode(x))
    z = mean + np.exp(0.5 * log_variance) * noise[0]
    log_q = -0.5 * np.sum(np.log(2 * np.pi) + log_variance + noise[0].astype(np.float64) ** 2, -1)
    log_p = -0.5 * np.sum(np.log(2 * np.pi) + z**2, axis=-1)
    sampled_kl = log_q - log_p
    np.testing.assert_allclose(
        iwae["objective"], elbo["reconstruction"] + sampled_kl, rtol=1e-5, atol=1e-3
    )
    np.testing.assert_allclose(elbo["objective"], elbo["reconstruction"] + elbo["kl"], rtol=1e-6)


def test_elbo_objective_averages_the_iwae_one_sample_objective_over_draws():
    # The two estimate the same ELBO; they differ only in how the KL is estimated.
    iwae_model, elbo_model = _models({"objective": "iwae"}, {"num_samples": 2000})
    x, noise = _bits(4), _noise(2000, 4)
    elbo = _np(elbo_model.objective_terms(x, noise=noise))
    # All 2000 one-sample IWAE objectives in one call: each draw gets its own copy of x.
    copies = np.tile(x, (2000, 1, 1))
    one_sample = _np(iwae_model.objective_terms(copies, noise=noise.reshape(1, -1, LATENT)))
    objectives = one_sample["objective"].reshape(2000, 4)
    # Same draws, so the reconstruction terms agree and only the KL's estimate is noisy.
    sampled_kl = objectives - one_sample["reconstruction"].reshape(2000, 4)
    standard_error = sampled_kl.std(axis=0) / np.sqrt(2000)
    difference = objectives.mean(axis=0) - elbo["objective"]
    assert np.all(np.abs(difference) < 5 * standard_error + 1e-3), (difference, standard_error)


@pytest.mark.parametrize("beta", [1.0, 0.25])
def test_k_sample_elbo_averages_the_reconstruction_and_weights_the_closed_form_kl(beta):
    (model,) = _models({"num_samples": 5, "beta": beta})
    x, noise = _bits(), _noise(5, 8)
    terms = _np(model.objective_terms(x, noise=noise))
    weights = _log_weights(model, x, noise)
    reconstruction = -weights["log_likelihood"].mean(axis=0)
    mean, log_variance = weights["mean"], weights["log_variance"]
    kl = 0.5 * np.sum(mean**2 + np.exp(log_variance) - 1 - log_variance, axis=-1)
    np.testing.assert_allclose(terms["reconstruction"], reconstruction, rtol=1e-5)
    np.testing.assert_allclose(terms["kl"], kl, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(terms["objective"], reconstruction + beta * kl, rtol=1e-5)
    np.testing.assert_allclose(terms["elbo"], -(reconstruction + kl), rtol=1e-5)


def test_iwae_bound_is_logmeanexp_of_the_weights_and_not_below_the_k_sample_elbo():
    (model,) = _models({"objective": "iwae", "num_samples": 8})
    x, noise = _bits(), _noise(8, 8)
    terms = _np(model.objective_terms(x, noise=noise))
    log_w = _log_weights(model, x, noise)["log_weights"]
    np.testing.assert_allclose(terms["iwae"], _logmeanexp(log_w), rtol=1e-5)
    np.testing.assert_allclose(terms["objective"], -terms["iwae"], rtol=1e-6)
    # Jensen: log mean w >= mean log w, example by example, on the same draws.
    k_sample_elbo = log_w.mean(axis=0)
    assert np.all(terms["iwae"] >= k_sample_elbo - 1e-3)
    assert np.mean(terms["iwae"] - k_sample_elbo) > 0


def test_capacity_objective_on_a_fixed_step():
    # One example per batch and one step, so the logged means are that example's terms.
    keras.utils.set_random_seed(0)
    model = VAE(latent_dims=LATENT, hidden_units=(16,), capacity_max=3.0, capacity_gamma=2.5)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(_bits(1), batch_size=1, epochs=1, verbose=0).history
    loss, reconstruction, kl = history["loss"][0], history["reconstruction"][0], history["kl"][0]
    assert history["capacity"] == [pytest.approx(3.0)]
    assert loss == pytest.approx(reconstruction + 2.5 * abs(kl - 3.0), rel=1e-5)
    # And per example, through the model function with injected noise.
    model.capacity.assign(0.5)
    x, noise = _bits(), _noise(1, 8)
    terms = _np(model.objective_terms(x, noise=noise[0]))
    np.testing.assert_allclose(
        terms["objective"], terms["reconstruction"] + 2.5 * np.abs(terms["kl"] - 0.5), rtol=1e-5
    )


@pytest.mark.parametrize("jit_compile", [False, True])
def test_iwae_trains_with_a_finite_falling_loss(jit_compile):
    keras.utils.set_random_seed(0)
    model = VAE(latent_dims=2, hidden_units=(32,), objective="iwae", num_samples=5, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=jit_compile)
    history = model.fit(_bits(64), batch_size=32, epochs=4, verbose=0, shuffle=False).history
    assert np.all(np.isfinite(history["loss"]))
    assert history["loss"][-1] < history["loss"][0] - 50
    np.testing.assert_allclose(history["loss"], -np.array(history["iwae"]), rtol=1e-6)
    # Five samples: the bound sits clearly above the ELBO the same step reports.
    assert history["iwae"][-1] > history["elbo"][-1]
    np.testing.assert_allclose(
        -np.array(history["elbo"]),
        np.array(history["reconstruction"]) + history["kl"],
        rtol=1e-5,
    )
    result = model.evaluate(_bits(64), batch_size=64, verbose=0, return_dict=True)
    assert set(result) == {"loss", "reconstruction", "kl", "elbo", "iwae"}


def test_multi_sample_elbo_trains_under_xla():
    keras.utils.set_random_seed(0)
    model = VAE(latent_dims=2, hidden_units=(32,), num_samples=3, beta=0.5, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=True)
    history = model.fit(_bits(64), batch_size=32, epochs=3, verbose=0, shuffle=False).history
    assert history["loss"][-1] < history["loss"][0]
    np.testing.assert_allclose(
        history["loss"],
        np.array(history["reconstruction"]) + 0.5 * np.array(history["kl"]),
        rtol=1e-4,
    )
    assert "iwae" not in history


def test_objective_settings_survive_a_keras_file_round_trip(tmp_path):
    model = VAE(
        latent_dims=2,
        hidden_units=(8,),
        objective="iwae",
        num_samples=7,
        capacity_gamma=12.0,
        seed=0,
    )
    path = str(tmp_path / "iwae.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert (loaded.objective, loaded.num_samples, loaded.capacity_gamma) == ("iwae", 7, 12.0)
    assert loaded.capacity is None
    assert [m.name for m in loaded.metrics][-1] == "iwae"

    capacity = VAE(latent_dims=2, hidden_units=(8,), capacity_max=20.0, seed=0)
    capacity.capacity.assign(5.0)  # mid-schedule
    path = str(tmp_path / "capacity.keras")
    capacity.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.capacity_max == 20.0 and float(loaded.capacity) == 5.0


def test_defaults_keep_the_original_weights():
    # No capacity variable unless asked for, so earlier checkpoints still load.
    model = VAE(latent_dims=2, hidden_units=(8,))
    assert (model.objective, model.num_samples, model.capacity) == ("elbo", 1, None)
    assert [w.name for w in model.non_trainable_weights] == ["kl_weight"]


@pytest.mark.parametrize(
    "kwargs, match", [({"objective": "vimco"}, "objective"), ({"num_samples": 0}, "num_samples")]
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        VAE(latent_dims=2, hidden_units=(8,), **kwargs)
