"""The terms of the evidence lower bound (ELBO), as pure functions of tensors.

Every function returns one value per example, in nats: log-likelihoods and KL
divergences are summed over pixels or latent dimensions, never averaged, so the
numbers compare with the literature (e.g. about -87 nats per MNIST digit for
Kingma & Welling's VAE). Averaging over the batch is the caller's job.
"""

import math

from keras import ops

LOG_2PI = math.log(2.0 * math.pi)


def bernoulli_log_likelihood(x, logits):
    """log p(x | logits) for a factorised Bernoulli, summed over the last axis.

    log p = x * l - log(1 + e^l) = -binary_cross_entropy_with_logits; softplus keeps
    it finite for logits of any size, where log(sigmoid(l)) would underflow.
    """
    return ops.sum(x * logits - ops.softplus(logits), axis=-1)


def gaussian_log_likelihood(x, mean, log_variance):
    """log N(x; mean, exp(log_variance)) for a diagonal Gaussian, summed over the last axis.

    `log_variance` broadcasts, so a Python float gives the fixed-variance (squared
    error) case: -0.5 * sum((x - mean)^2 / sigma^2) minus a constant.
    """
    log_variance = ops.convert_to_tensor(log_variance, dtype=mean.dtype)
    squared_error = ops.square(x - mean)
    return -0.5 * ops.sum(LOG_2PI + log_variance + squared_error * ops.exp(-log_variance), axis=-1)


def kl_to_standard_normal(mean, log_variance):
    """KL(N(mean, exp(log_variance)) || N(0, I)) in closed form, summed over the last axis."""
    return -0.5 * ops.sum(1.0 + log_variance - ops.square(mean) - ops.exp(log_variance), axis=-1)


def standard_normal_log_density(z):
    """log N(z; 0, I), summed over the last axis."""
    return -0.5 * ops.sum(LOG_2PI + ops.square(z), axis=-1)


def importance_weighted_bound(log_weights, axis=0):
    """log (1/k) sum_i exp(log_weights_i) over `axis` (Burda et al. 2015, eq. 8).

    With log w_i = log p(x, z_i) - log q(z_i|x) and z_i ~ q(z|x) this is the k-sample
    importance-weighted bound: k = 1 gives the ELBO, and it rises towards log p(x)
    as k grows. logsumexp keeps it exact when the weights are e^-100 and smaller.
    """
    k = ops.cast(ops.shape(log_weights)[axis], log_weights.dtype)
    return ops.logsumexp(log_weights, axis=axis) - ops.log(k)
