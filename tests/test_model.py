"""The VAE model: its ELBO against numpy, training, evaluation sampling and .keras round trips."""

import keras
import numpy as np
import pytest
from conftest import synthetic_digits
from keras import ops

from keras_vae.layers import Sampling
from keras_vae.model import VAE


def _images(n=32, seed=0):
    return np.random.default_rng(seed).random((n, 28, 28)).astype(np.float32)


def _dense(x, layer, activation=None):
    kernel, bias = (np.asarray(w, np.float64) for w in layer.get_weights())
    y = x @ kernel + bias
    return np.maximum(y, 0) if activation == "relu" else y


def test_the_elbos_terms_match_a_numpy_forward_pass():
    model = VAE(latent_dims=3, hidden_units=(8,), activation="relu", seed=0)
    x = _images(5)
    noise = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
    terms = model.objective_terms(x, noise=noise)

    flat = x.reshape(5, -1).astype(np.float64)
    h = _dense(flat, model.encoder.hidden[0], "relu")
    mean = _dense(h, model.encoder.mean_head)
    log_variance = _dense(h, model.encoder.log_variance_head)
    z = mean + np.exp(0.5 * log_variance) * noise
    logits = _dense(_dense(z, model.decoder.hidden[0], "relu"), model.decoder.output_head)
    p = 1 / (1 + np.exp(-logits))
    reconstruction = -np.sum(flat * np.log(p) + (1 - flat) * np.log(1 - p), axis=1)
    kl = 0.5 * np.sum(mean**2 + np.exp(log_variance) - 1 - log_variance, axis=1)
    np.testing.assert_allclose(
        ops.convert_to_numpy(terms["reconstruction"]), reconstruction, rtol=1e-4
    )
    np.testing.assert_allclose(ops.convert_to_numpy(terms["kl"]), kl, rtol=1e-4, atol=1e-6)


def test_sampling_is_reparameterised():
    mean = np.array([[1.0, -2.0]], np.float32)
    log_variance = np.log(np.array([[4.0, 0.25]], np.float32))
    noise = np.array([[0.5, 2.0]], np.float32)
    z = Sampling()(mean, log_variance, noise=noise)
    np.testing.assert_allclose(
        ops.convert_to_numpy(z), [[1.0 + 2.0 * 0.5, -2.0 + 0.5 * 2.0]], rtol=1e-6
    )


def test_training_lowers_the_loss_and_reports_beta():
    keras.utils.set_random_seed(0)
    model = VAE(latent_dims=2, hidden_units=(32,), beta=0.5, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    x = (synthetic_digits(64, seed=0)[0] > 127).astype(np.float32)
    history = model.fit(x, batch_size=32, epochs=6, verbose=0, shuffle=False).history
    assert history["loss"][-1] < history["loss"][0] - 50
    assert history["beta"][-1] == pytest.approx(0.5)
    # The objective weights the KL by beta; the ELBO does not.
    np.testing.assert_allclose(
        history["loss"][-1], history["reconstruction"][-1] + 0.5 * history["kl"][-1], rtol=1e-4
    )
    np.testing.assert_allclose(
        -history["elbo"][-1], history["reconstruction"][-1] + history["kl"][-1], rtol=1e-4
    )


def test_evaluation_samples_z():
    model = VAE(latent_dims=2, hidden_units=(16,), seed=0)
    model.compile(optimizer="adam")
    x = _images(64)
    first = model.evaluate(x, batch_size=64, verbose=0, return_dict=True)
    second = model.evaluate(x, batch_size=64, verbose=0, return_dict=True)
    # Same weights, fresh z: the reconstruction term moves; the closed-form KL does not.
    assert first["reconstruction"] != second["reconstruction"]
    assert first["kl"] == pytest.approx(second["kl"], rel=1e-6)


def test_dynamic_binarization_draws_bits_with_the_pixel_probabilities():
    model = VAE(latent_dims=2, hidden_units=(4,), binarize_training_inputs=True, seed=0)
    x = np.full((200, 28, 28), 0.3, np.float32)
    bits = ops.convert_to_numpy(model.binarize(x))
    assert set(np.unique(bits)) == {0.0, 1.0}
    assert bits.mean() == pytest.approx(0.3, abs=0.01)
    assert not np.array_equal(bits, ops.convert_to_numpy(model.binarize(x)))


@pytest.mark.parametrize("variance", ["fixed", "learned"])
def test_gaussian_likelihoods_train(variance):
    keras.utils.set_random_seed(0)
    model = VAE(
        latent_dims=2,
        hidden_units=(16,),
        likelihood="gaussian",
        gaussian_variance=variance,
        gaussian_sigma=0.2,
        seed=0,
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(_images(64), batch_size=32, epochs=3, verbose=0).history
    assert np.all(np.isfinite(history["loss"]))
    assert history["loss"][-1] < history["loss"][0]
    means = ops.convert_to_numpy(model.decode_images(np.zeros((2, 2), np.float32)))
    assert means.shape == (2, 28, 28) and means.min() >= 0 and means.max() <= 1
    assert ("log_variance" in model.decode(np.zeros((1, 2), np.float32))) == (variance == "learned")


def test_get_config_round_trip():
    model = VAE(
        image_shape=(14, 12),
        latent_dims=4,
        hidden_units=(20, 10),
        activation="tanh",
        likelihood="gaussian",
        gaussian_variance="learned",
        gaussian_sigma=0.3,
        beta=2.0,
        binarize_training_inputs=True,
        seed=7,
    )
    clone = VAE.from_config(model.get_config())
    for name in (
        "image_shape",
        "latent_dims",
        "hidden_units",
        "activation",
        "likelihood",
        "gaussian_variance",
        "gaussian_sigma",
        "beta",
        "binarize_training_inputs",
        "seed",
    ):
        assert getattr(clone, name) == getattr(model, name), name
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]


def test_keras_file_round_trip_is_exact(tmp_path):
    keras.utils.set_random_seed(0)
    model = VAE(latent_dims=3, hidden_units=(16, 8), beta=1.5, seed=3)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    x = _images(32)
    model.fit(x, batch_size=16, epochs=1, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, VAE)
    for original, restored in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(
            ops.convert_to_numpy(original), ops.convert_to_numpy(restored)
        )
    for a, b in zip(model.encode(x), loaded.encode(x)):
        np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))
    assert float(loaded.kl_weight) == 1.5
    # The optimizer state travels too, so training can continue where it stopped.
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 2


def _train_under(policy, optimizer, steps=30):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model = VAE(latent_dims=2, hidden_units=(32,), seed=0)
        model.compile(optimizer=optimizer)
    finally:
        keras.config.set_dtype_policy(previous)
    x = (synthetic_digits(64, seed=0)[0] > 127).astype(np.float32)
    history = model.fit(x, batch_size=32, epochs=steps // 2, verbose=0, shuffle=False).history
    return model, history["loss"]


def test_keras_wraps_the_optimizer_under_mixed_float16():
    model, _ = _train_under("mixed_float16", keras.optimizers.Adam(1e-3), steps=2)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_trains_as_float32_does(policy):
    # SGD, whose step is proportional to the gradient: gradients left unscaled before a
    # LossScaleOptimizer's apply() (which divides them by the loss scale) would make
    # steps 16 times too small. Adam would hide that, being nearly scale-invariant.
    def sgd():
        return keras.optimizers.SGD(3e-3)

    _, reference = _train_under("float32", sgd())
    optimizer = sgd()
    if policy == "mixed_float16":
        # What Keras' compile does under mixed_float16, with a loss scale (16) at which
        # float16 does not overflow, so that no step is skipped.
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer, initial_scale=16.0)
    model, losses = _train_under(policy, optimizer)
    assert reference[0] - reference[-1] > 50
    # Same data, seeds and steps: the curves agree up to the half-precision compute.
    np.testing.assert_allclose(losses, reference, rtol=0.03)
    # z stays float32, like log p(z) and log q(z|x) that are computed from it.
    mean = np.zeros((3, 2), np.float32)
    assert model.sampling(mean, mean).dtype == "float32"
    assert model.sampling.compute_dtype == "float32"


def _vamp(**kw):
    return VAE(latent_dims=3, hidden_units=(8,), prior="vamp", num_pseudo_inputs=4, seed=0, **kw)


def test_the_vamp_priors_density_is_the_mixture_of_its_pseudo_inputs_posteriors():
    model = _vamp()
    u = np.clip(model.pseudo_inputs.numpy().astype(np.float64), 0, 1)
    h = _dense(u, model.encoder.hidden[0], "relu")
    means = _dense(h, model.encoder.mean_head)
    log_variances = np.clip(_dense(h, model.encoder.log_variance_head), -20, 20)
    z = np.random.default_rng(0).normal(0, 1, (2, 5, 3))
    mixture = np.zeros((2, 5))
    for mean, log_variance in zip(means, log_variances):
        variance = np.exp(log_variance)
        mixture += np.prod(
            np.exp(-0.5 * (z - mean) ** 2 / variance) / np.sqrt(2 * np.pi * variance), -1
        )
    got = ops.convert_to_numpy(model.prior_log_density(z.astype(np.float32)))
    np.testing.assert_allclose(got, np.log(mixture / 4), rtol=1e-4, atol=1e-4)


def test_the_vamp_elbo_uses_the_sampled_kl_and_the_log_weights_use_the_prior():
    model = _vamp()
    x = _images(5)
    noise = np.random.default_rng(1).standard_normal((2, 5, 3)).astype(np.float32)
    weights = {k: ops.convert_to_numpy(v) for k, v in model.log_weights(x, noise).items()}
    z = weights["mean"] + np.exp(0.5 * weights["log_variance"]) * noise
    log_q = -0.5 * np.sum(np.log(2 * np.pi) + weights["log_variance"] + noise**2, -1)
    log_p = ops.convert_to_numpy(model.prior_log_density(z))
    np.testing.assert_allclose(
        weights["log_weights"], weights["log_likelihood"] + log_p - log_q, rtol=1e-5, atol=1e-3
    )
    terms = {k: ops.convert_to_numpy(v) for k, v in model.objective_terms(x, noise=noise).items()}
    np.testing.assert_allclose(terms["kl"], np.mean(log_q - log_p, 0), rtol=1e-4, atol=1e-3)


def test_vamp_prior_samples_are_drawn_from_the_mixture_and_repeat_for_a_seed():
    import tensorflow as tf

    model = _vamp()
    # Two far-apart components with tiny variance: every draw lands on one of them.
    means = np.float32([[-50.0, 0.0, 0.0], [50.0, 0.0, 0.0]])
    model.prior_components = lambda: (
        tf.constant(means),
        tf.constant(np.full((2, 3), -20.0, np.float32)),
    )
    model.num_pseudo_inputs = 2
    z = np.asarray(model.sample_prior(400, tf.constant([3, 0])))
    nearest = np.abs(z[:, :1] - means[:, 0]).min(axis=1)
    assert nearest.max() < 1e-2
    assert 150 < np.sum(z[:, 0] > 0) < 250  # Components picked uniformly.
    np.testing.assert_array_equal(z, np.asarray(model.sample_prior(400, tf.constant([3, 0]))))


def _gaussian_net(x, net, activation="relu"):
    h = x
    for layer in net.hidden:
        h = _dense(h, layer, activation)
    return _dense(h, net.mean_head), np.clip(_dense(h, net.log_variance_head), -20, 20)


def _log_normal(x, mean, log_variance):
    return -0.5 * np.sum(
        np.log(2 * np.pi) + log_variance + (x - mean) ** 2 / np.exp(log_variance), -1
    )


def test_two_stochastic_layers_log_weights_match_a_numpy_forward_pass():
    model = VAE(latent_dims=3, hidden_units=(8,), top_latent_dims=2, top_hidden_units=(5,), seed=0)
    x = _images(4)
    noise = np.random.default_rng(2).standard_normal((3, 4, 5)).astype(np.float32)
    got = {k: ops.convert_to_numpy(v) for k, v in model.log_weights(x, noise).items()}

    flat = x.reshape(4, -1).astype(np.float64)
    mean_1, log_variance_1 = _gaussian_net(flat, model.encoder)
    z_1 = mean_1 + np.exp(0.5 * log_variance_1) * noise[..., :3]  # [k, B, 3]
    mean_2, log_variance_2 = _gaussian_net(z_1, model.top_encoder)
    z_2 = mean_2 + np.exp(0.5 * log_variance_2) * noise[..., 3:]
    prior_mean, prior_log_variance = _gaussian_net(z_2, model.top_decoder)
    logits = _dense(_dense(z_1, model.decoder.hidden[0], "relu"), model.decoder.output_head)
    log_px = np.sum(flat * logits - np.logaddexp(0, logits), -1)
    log_p = log_px + _log_normal(z_1, prior_mean, prior_log_variance) + _log_normal(z_2, 0.0, 0.0)
    log_q = _log_normal(z_1, mean_1, log_variance_1) + _log_normal(z_2, mean_2, log_variance_2)
    np.testing.assert_allclose(got["log_likelihood"], log_px, rtol=1e-4)
    np.testing.assert_allclose(got["log_weights"], log_p - log_q, rtol=1e-4, atol=1e-3)
    # The ELBO's KL over both layers is estimated at the draws: log q - log p(z1, z2).
    terms = {k: ops.convert_to_numpy(v) for k, v in model.objective_terms(x, noise=noise).items()}
    np.testing.assert_allclose(
        terms["kl"], np.mean(log_q - (log_p - log_px), 0), rtol=1e-4, atol=1e-3
    )
    # The code of encode, decode and the prior is the top layer's.
    assert model.code_dims == 2 and ops.convert_to_numpy(model.encode(x)[0]).shape == (4, 2)
    assert ops.convert_to_numpy(model.decode_images(np.zeros((1, 2), np.float32))).shape == (
        1,
        28,
        28,
    )


def test_the_conditional_elbo_is_the_unconditional_one_when_the_label_is_ignored():
    # With zero weights on its one-hot inputs, q(z|x, y) and p(x|z, y) are q(z|x) and
    # p(x|z): the same terms for the same noise, whatever the labels.
    plain = VAE(latent_dims=3, hidden_units=(8,), seed=0)
    conditional = VAE(latent_dims=3, hidden_units=(8,), seed=0, conditional=True, num_classes=4)
    for mine, theirs in zip(conditional.trainable_weights, plain.trainable_weights):
        value = theirs.numpy()
        if mine.shape != value.shape:  # The first kernels, with 4 more input rows.
            value = np.concatenate([value, np.zeros((4, value.shape[1]), value.dtype)])
        mine.assign(value)
    x = _images(5)
    noise = np.random.default_rng(3).standard_normal((2, 5, 3)).astype(np.float32)
    expected = {k: ops.convert_to_numpy(v) for k, v in plain.objective_terms(x, noise).items()}
    for labels in ([0, 1, 2, 3, 0], [3, 3, 3, 3, 3]):
        got = conditional.objective_terms(x, noise, labels=np.array(labels))
        for key, value in expected.items():
            np.testing.assert_allclose(ops.convert_to_numpy(got[key]), value, rtol=1e-5, atol=1e-4)


def test_a_conditional_model_conditions_on_its_labels():
    model = VAE(latent_dims=3, hidden_units=(8,), seed=0, conditional=True, num_classes=4)
    x = _images(5)
    noise = np.random.default_rng(3).standard_normal((1, 5, 3)).astype(np.float32)
    one = ops.convert_to_numpy(model.objective_terms(x, noise, labels=np.zeros(5, int))["elbo"])
    two = ops.convert_to_numpy(model.objective_terms(x, noise, labels=np.ones(5, int))["elbo"])
    assert not np.allclose(one, two)
    with pytest.raises(ValueError, match="needs the labels of its images"):
        model.objective_terms(x, noise)


def test_a_conditional_model_fits_on_images_and_labels_and_refuses_bad_ones():
    model = VAE(latent_dims=2, hidden_units=(8,), seed=0, conditional=True, num_classes=3)
    model.compile(optimizer="adam")
    x, y = _images(12), np.arange(12) % 3
    history = model.fit(x, y, batch_size=6, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    with pytest.raises(ValueError, match="needs the labels of its images"):
        model.fit(x, batch_size=6, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="labels must be from 0 to 2, got values from 0 to 5"):
        model.fit(x, np.arange(12) % 6, batch_size=6, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="one integer label per image"):
        model.fit(x, y[:5], batch_size=6, epochs=1, verbose=0)
