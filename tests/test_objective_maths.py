"""The pure functions of keras_vae.objectives against independent float64 numpy implementations."""

import math

import numpy as np
import pytest
from keras import ops

from keras_vae import objectives

RTOL = 1e-5


def _np(value):
    return np.asarray(ops.convert_to_numpy(value), dtype=np.float64)


def _rng(seed=0):
    return np.random.default_rng(seed)


def _sigmoid(logits):
    return 1.0 / (1.0 + np.exp(-logits))


def _ref_bernoulli(x, logits):
    x = x.astype(np.float64)
    p = _sigmoid(logits.astype(np.float64))
    return np.sum(x * np.log(p) + (1.0 - x) * np.log(1.0 - p), axis=-1)


def _ref_gaussian(x, mean, log_variance):
    x, mean = x.astype(np.float64), mean.astype(np.float64)
    variance = np.exp(np.asarray(log_variance, dtype=np.float64))
    log_pdf = -0.5 * np.log(2.0 * np.pi * variance) - 0.5 * (x - mean) ** 2 / variance
    return np.sum(log_pdf, axis=-1)


def _ref_kl(mean, log_variance):
    mean, log_variance = mean.astype(np.float64), log_variance.astype(np.float64)
    variance = np.exp(log_variance)
    return np.sum(0.5 * (variance + mean**2 - 1.0 - log_variance), axis=-1)


# --- bernoulli_log_likelihood ---------------------------------------------------------


def test_bernoulli_matches_numpy_on_binary_targets():
    rng = _rng(1)
    x = (rng.random((6, 50)) < 0.5).astype(np.float32)
    logits = rng.normal(0.0, 3.0, (6, 50)).astype(np.float32)
    got = _np(objectives.bernoulli_log_likelihood(x, logits))
    np.testing.assert_allclose(got, _ref_bernoulli(x, logits), rtol=RTOL)


def test_bernoulli_matches_numpy_on_grey_targets():
    rng = _rng(2)
    x = rng.random((5, 40)).astype(np.float32)
    logits = rng.normal(0.0, 2.0, (5, 40)).astype(np.float32)
    got = _np(objectives.bernoulli_log_likelihood(x, logits))
    np.testing.assert_allclose(got, _ref_bernoulli(x, logits), rtol=RTOL)


def test_bernoulli_sums_over_last_axis_only():
    rng = _rng(3)
    x = (rng.random((2, 3, 7)) < 0.5).astype(np.float32)
    logits = rng.normal(size=(2, 3, 7)).astype(np.float32)
    got = _np(objectives.bernoulli_log_likelihood(x, logits))
    assert got.shape == (2, 3)
    np.testing.assert_allclose(got, _ref_bernoulli(x, logits), rtol=RTOL)


def test_bernoulli_zero_logits_give_log_half_per_pixel():
    x = np.array([[0.0, 1.0, 1.0, 0.0]], dtype=np.float32)
    got = _np(objectives.bernoulli_log_likelihood(x, np.zeros_like(x)))
    np.testing.assert_allclose(got, [4 * math.log(0.5)], rtol=RTOL)


@pytest.mark.parametrize(
    "x, logit, expected",
    [
        (1.0, -1000.0, -1000.0),
        (0.0, 1000.0, -1000.0),
        (1.0, 1000.0, 0.0),
        (0.0, -1000.0, 0.0),
        (1.0, -100.0, -100.0),
        (0.0, 100.0, -100.0),
        (1.0, 100.0, 0.0),
        (0.0, -100.0, 0.0),
        (0.5, 1000.0, -500.0),
    ],
)
def test_bernoulli_is_stable_for_huge_logits(x, logit, expected):
    got = _np(
        objectives.bernoulli_log_likelihood(
            np.array([[x]], dtype=np.float32), np.array([[logit]], dtype=np.float32)
        )
    )
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, [expected], rtol=RTOL, atol=1e-6)


def test_bernoulli_is_never_positive():
    rng = _rng(4)
    x = (rng.random((8, 30)) < 0.5).astype(np.float32)
    logits = rng.normal(0.0, 50.0, (8, 30)).astype(np.float32)
    got = _np(objectives.bernoulli_log_likelihood(x, logits))
    assert np.all(np.isfinite(got))
    assert np.all(got <= 0.0)


# --- gaussian_log_likelihood ----------------------------------------------------------


def test_gaussian_with_array_log_variance_matches_numpy():
    rng = _rng(5)
    x = rng.normal(size=(4, 30)).astype(np.float32)
    mean = rng.normal(size=(4, 30)).astype(np.float32)
    log_variance = rng.normal(0.0, 0.5, (4, 30)).astype(np.float32)
    got = _np(objectives.gaussian_log_likelihood(x, mean, log_variance))
    np.testing.assert_allclose(got, _ref_gaussian(x, mean, log_variance), rtol=RTOL)


@pytest.mark.parametrize("sigma", [0.1, 1.0, 2.5])
def test_gaussian_with_python_float_is_the_fixed_sigma_case(sigma):
    rng = _rng(6)
    dims = 25
    x = rng.random((3, dims)).astype(np.float32)
    mean = rng.random((3, dims)).astype(np.float32)
    got = _np(objectives.gaussian_log_likelihood(x, mean, 2.0 * math.log(sigma)))
    squared = np.sum((x.astype(np.float64) - mean) ** 2, axis=-1)
    expected = -0.5 * squared / sigma**2 - dims * math.log(sigma * math.sqrt(2.0 * math.pi))
    assert got.shape == (3,)
    np.testing.assert_allclose(got, expected, rtol=RTOL)


def test_gaussian_python_float_equals_broadcast_array():
    rng = _rng(7)
    x = rng.normal(size=(2, 10)).astype(np.float32)
    mean = rng.normal(size=(2, 10)).astype(np.float32)
    from_float = _np(objectives.gaussian_log_likelihood(x, mean, -1.3))
    from_array = _np(
        objectives.gaussian_log_likelihood(x, mean, np.full((2, 10), -1.3, dtype=np.float32))
    )
    np.testing.assert_allclose(from_float, from_array, rtol=RTOL)


def test_gaussian_peak_value_at_the_mean():
    mean = np.zeros((1, 4), dtype=np.float32)
    got = _np(objectives.gaussian_log_likelihood(mean, mean, 0.0))
    np.testing.assert_allclose(got, [-2.0 * math.log(2.0 * math.pi)], rtol=RTOL)


# --- kl_to_standard_normal ------------------------------------------------------------


def test_kl_matches_numpy_closed_form():
    rng = _rng(8)
    mean = rng.normal(size=(6, 5)).astype(np.float32)
    log_variance = rng.normal(0.0, 1.0, (6, 5)).astype(np.float32)
    got = _np(objectives.kl_to_standard_normal(mean, log_variance))
    assert got.shape == (6,)
    np.testing.assert_allclose(got, _ref_kl(mean, log_variance), rtol=RTOL, atol=1e-6)


def test_kl_matches_monte_carlo_estimate():
    rng = _rng(9)
    mean = np.array([[0.5, -1.0, 2.0], [0.0, 0.3, -0.7]], dtype=np.float32)
    log_variance = np.array([[-1.0, 0.5, 0.0], [1.2, -2.0, 0.3]], dtype=np.float32)
    got = _np(objectives.kl_to_standard_normal(mean, log_variance))
    num_samples = 200_000
    for i in range(len(mean)):
        m = mean[i].astype(np.float64)
        std = np.exp(0.5 * log_variance[i].astype(np.float64))
        z = m + std * rng.standard_normal((num_samples, len(m)))
        log_q = np.sum(-0.5 * np.log(2 * np.pi * std**2) - 0.5 * ((z - m) / std) ** 2, axis=-1)
        log_p = np.sum(-0.5 * np.log(2 * np.pi) - 0.5 * z**2, axis=-1)
        estimate = np.mean(log_q - log_p)
        np.testing.assert_allclose(got[i], estimate, rtol=0.02, atol=0.02)


def test_kl_is_zero_for_the_standard_normal():
    zeros = np.zeros((3, 4), dtype=np.float32)
    got = _np(objectives.kl_to_standard_normal(zeros, zeros))
    np.testing.assert_allclose(got, np.zeros(3), atol=1e-7)


def test_kl_is_non_negative_and_positive_away_from_prior():
    rng = _rng(10)
    mean = rng.normal(0.0, 2.0, (50, 8)).astype(np.float32)
    log_variance = rng.normal(0.0, 2.0, (50, 8)).astype(np.float32)
    got = _np(objectives.kl_to_standard_normal(mean, log_variance))
    assert np.all(got >= 0.0)
    assert np.all(got > 0.0)  # Random means are never all exactly zero.


def test_kl_of_shifted_unit_gaussian_is_half_squared_norm():
    mean = np.array([[3.0, -4.0]], dtype=np.float32)
    got = _np(objectives.kl_to_standard_normal(mean, np.zeros_like(mean)))
    np.testing.assert_allclose(got, [12.5], rtol=RTOL)


# --- standard_normal_log_density ------------------------------------------------------


def test_standard_normal_log_density_matches_numpy():
    rng = _rng(11)
    z = rng.normal(0.0, 2.0, (7, 6)).astype(np.float32)
    got = _np(objectives.standard_normal_log_density(z))
    z64 = z.astype(np.float64)
    expected = np.sum(-0.5 * np.log(2 * np.pi) - 0.5 * z64**2, axis=-1)
    assert got.shape == (7,)
    np.testing.assert_allclose(got, expected, rtol=RTOL)


def test_standard_normal_log_density_at_origin():
    got = _np(objectives.standard_normal_log_density(np.zeros((1, 3), dtype=np.float32)))
    np.testing.assert_allclose(got, [-1.5 * math.log(2 * math.pi)], rtol=RTOL)


def test_standard_normal_log_density_equals_gaussian_with_unit_variance():
    rng = _rng(12)
    z = rng.normal(size=(4, 5)).astype(np.float32)
    np.testing.assert_allclose(
        _np(objectives.standard_normal_log_density(z)),
        _np(objectives.gaussian_log_likelihood(z, np.zeros_like(z), 0.0)),
        rtol=RTOL,
    )


# --- continuous Bernoulli ------------------------------------------------------------

CB_LOGITS = [-40.0, -8.0, -1.0, -0.15, -0.1, -0.09, -0.01, 0.0, 1e-4, 0.05, 0.1, 0.5, 3.0, 40.0]


def _cb_integrals(logit: float):
    """(integral of lambda^x (1 - lambda)^(1 - x), integral of x times it) over [0, 1],
    in float64 by the composite Simpson rule on 20,001 points."""
    x = np.linspace(0.0, 1.0, 20001)
    # In logs from the logit, so lambda within 1e-17 of 0 or 1 keeps its digits.
    log_lam, log_one_minus = -np.logaddexp(0.0, -logit), -np.logaddexp(0.0, logit)
    log_unnormalised = x * log_lam + (1 - x) * log_one_minus
    shift = log_unnormalised.max()
    f = np.exp(log_unnormalised - shift)
    weights = np.ones_like(x)
    weights[1:-1:2], weights[2:-1:2] = 4, 2
    h = x[1] - x[0]
    mass = h / 3 * np.sum(weights * f)
    first = h / 3 * np.sum(weights * x * f)
    return math.log(mass) + shift, first / mass


@pytest.mark.parametrize("logit", CB_LOGITS)
def test_continuous_bernoulli_normalizer_against_numerical_integration(logit):
    # C(lambda) makes lambda^x (1 - lambda)^(1 - x) a density on [0, 1]: log C = -log mass.
    log_mass, _ = _cb_integrals(logit)
    got = float(_np(objectives.continuous_bernoulli_log_normalizer(np.float32([logit])))[0])
    # Steep cases (|logit| = 40) put the mass within 1/40 of an end: Simpson's error
    # there is ~1e-7 relative; the float32 logits carry about 1e-7 too.
    assert got == pytest.approx(-log_mass, rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("logit", CB_LOGITS)
def test_continuous_bernoulli_mean_against_numerical_integration(logit):
    _, mean = _cb_integrals(logit)
    got = float(_np(objectives.continuous_bernoulli_mean(np.float32([logit])))[0])
    assert got == pytest.approx(mean, abs=2e-6)
    # Not lambda, except at 1/2: the mean is pulled towards 1/2.
    lam = 1 / (1 + math.exp(-logit))
    assert abs(got - 0.5) <= abs(lam - 0.5) + 1e-7


def test_continuous_bernoulli_log_likelihood_is_the_bernoulli_term_plus_log_c():
    rng = np.random.default_rng(0)
    x = rng.random((3, 7)).astype(np.float32)
    logits = rng.normal(0, 2, (3, 7)).astype(np.float32)
    logits[0, :3] = [0.0, 1e-3, -0.05]  # Around lambda = 1/2, through the series.
    got = _np(objectives.continuous_bernoulli_log_likelihood(x, logits))
    l64 = logits.astype(np.float64)
    log_c = np.array([[-_cb_integrals(float(v))[0] for v in row] for row in logits])
    expected = np.sum(-x * np.logaddexp(0, -l64) - (1 - x) * np.logaddexp(0, l64) + log_c, axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


def test_continuous_bernoulli_gradients_are_finite_at_one_half():
    import tensorflow as tf

    logits = tf.Variable(np.float32([0.0, 1e-6, -0.1, 0.1, 0.0999, 5.0]))
    x = tf.constant(np.float32([0.3, 0.5, 0.9, 0.1, 0.7, 0.2]))
    with tf.GradientTape() as tape:
        value = objectives.continuous_bernoulli_log_likelihood(x, logits) + tf.reduce_sum(
            objectives.continuous_bernoulli_mean(logits)
        )
    gradient = tape.gradient(value, logits).numpy()
    assert np.all(np.isfinite(gradient))
    # d log C / dl = l / 6 near 0: zero at l = 0, so the gradient there is x - 1/2 + 1/12.
    assert gradient[0] == pytest.approx(0.3 - 0.5 + 1 / 12, abs=1e-6)


# --- mixture_log_density (the VampPrior's p(z)) -----------------------------------------


def test_mixture_log_density_against_a_brute_force_mixture():
    rng = np.random.default_rng(0)
    means = rng.normal(0, 2, (5, 3))
    log_variances = rng.normal(0, 1, (5, 3))
    z = rng.normal(0, 2, (4, 6, 3))
    got = _np(
        objectives.mixture_log_density(
            z.astype(np.float32), means.astype(np.float32), log_variances.astype(np.float32)
        )
    )
    densities = np.zeros((4, 6))
    for mean, log_variance in zip(means, log_variances):
        variance = np.exp(log_variance)
        densities += np.prod(
            np.exp(-0.5 * (z - mean) ** 2 / variance) / np.sqrt(2 * np.pi * variance), axis=-1
        )
    np.testing.assert_allclose(got, np.log(densities / 5), rtol=1e-5, atol=1e-5)


def test_narrow_components_keep_the_mixture_exact_where_the_expanded_terms_cancel():
    # The encoder's narrowest (log-variance -20, std 4.5e-5) with z a few std from a
    # mean of size 3: the expanded squares are ~1e10 each, their difference ~10.
    rng = np.random.default_rng(2)
    means = rng.normal(0, 3, (3, 8))
    log_variances = np.full((3, 8), -20.0)
    z = means[[0, 2, 1, 0]] + 2 * np.exp(-10.0) * rng.normal(size=(4, 8))
    got = _np(
        objectives.mixture_log_density(
            z.astype(np.float32), means.astype(np.float32), log_variances.astype(np.float32)
        )
    )
    # The float32 inputs, exactly, in float64.
    z, means = z.astype(np.float32).astype(np.float64), means.astype(np.float32).astype(np.float64)
    terms = -0.5 * np.sum(
        np.log(2 * np.pi) + log_variances + (z[:, None] - means) ** 2 * np.exp(-log_variances),
        axis=-1,
    )
    expected = np.log(np.mean(np.exp(terms - terms.max(-1, keepdims=True)), -1)) + terms.max(-1)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-3)


def test_a_mixture_of_one_standard_normal_is_the_standard_normal():
    z = np.random.default_rng(1).normal(0, 1, (7, 4)).astype(np.float32)
    zeros = np.zeros((1, 4), np.float32)
    np.testing.assert_allclose(
        _np(objectives.mixture_log_density(z, zeros, zeros)),
        _np(objectives.standard_normal_log_density(z)),
        rtol=1e-6,
    )


def test_far_away_components_do_not_underflow_the_mixture():
    # Each point sits on one component, 1e3 standard deviations from the other.
    means = np.float32([[0.0], [1000.0]])
    z = np.float32([[0.0], [1000.0]])
    got = _np(objectives.mixture_log_density(z, means, np.zeros_like(means)))
    np.testing.assert_allclose(got, [-0.5 * math.log(2 * math.pi) - math.log(2)] * 2, rtol=1e-6)


@pytest.mark.parametrize("pixels", [784, 5, 113, 300])
def test_the_bernoulli_log_likelihood_by_products_is_the_sum_of_its_terms(pixels):
    # Logits from -60 to 60 (e^-|l| underflowing, and near 0), binary and grey x, a
    # chunk that does not divide the pixels.
    rng = np.random.default_rng(pixels)
    logits = (rng.standard_normal((3, 4, pixels)) * 15).astype(np.float32)
    logits[0, 0, :3] = [-60.0, 60.0, 0.0]
    x = (rng.random((1, 4, pixels)) < 0.3).astype(np.float32)
    x[0, 1] = rng.random(pixels)
    exact = np.sum(x.astype(np.float64) * logits - np.logaddexp(0.0, logits.astype(np.float64)), -1)
    by_products = np.asarray(objectives.bernoulli_log_likelihood_by_products(x, logits))
    by_terms = np.asarray(objectives.bernoulli_log_likelihood(x, logits))
    assert by_products.shape == (3, 4)
    np.testing.assert_allclose(by_products, exact, rtol=2e-6, atol=2e-4)
    np.testing.assert_allclose(by_terms, exact, rtol=2e-6, atol=2e-4)


@pytest.mark.parametrize("pixels", [784, 113])
def test_the_gradient_of_the_likelihood_by_products_is_x_minus_sigmoid(pixels):
    # Its custom gradient against numpy's x - sigmoid(l), times the upstream gradient of
    # each (sample, image), for logits far in both tails and at 0; x gets none.
    import tensorflow as tf

    rng = np.random.default_rng(pixels)
    logits = (rng.standard_normal((3, 4, pixels)) * 15).astype(np.float32)
    logits[0, 0, :3] = [-60.0, 60.0, 0.0]
    x = tf.constant((rng.random((1, 4, pixels)) < 0.3).astype(np.float32))
    upstream = rng.standard_normal((3, 4)).astype(np.float32)
    variable = tf.Variable(logits)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        value = objectives.bernoulli_log_likelihood_by_products(x, variable)
        weighted = tf.reduce_sum(value * upstream)
    got = tape.gradient(weighted, variable).numpy()
    sigmoid = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    expected = upstream[..., None] * (x.numpy() - sigmoid)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert tape.gradient(weighted, x) is None
