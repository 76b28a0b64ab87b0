"""The maths of a VAE's objectives, as pure functions of tensors: start here to read "the ELBO".

Every value is per example, in nats: log-likelihoods and KL divergences are summed
over pixels or latent dimensions, never averaged, so the numbers compare with the
literature (about -87 nats per binarized MNIST digit for Kingma & Welling's VAE).
Averaging over the batch is the caller's job.

One noise layout serves every objective: z = mean + exp(log_variance / 2) * noise with
noise [k, batch, latent] for every k >= 1, so log p(x|z) and the log importance weights

    log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x),   z_i ~ q(z|x),  i = 1..k

are [k, batch]. From them (`objective_terms`):

    elbo:      -E_q[log p(x|z)] + beta * KL(q(z|x) || N(0, I)), the reconstruction
               averaged over the k draws and the KL in closed form (Kingma & Welling 2013);
    capacity:  -E_q[log p(x|z)] + gamma * |KL - C| (Burgess et al. 2018, eq. 8);
    iwae:      -log (1/k) sum_i w_i, the importance-weighted bound (Burda et al. 2015),
               which the evaluation also uses, with k = 5000, to estimate -log p(x).

The schedules of the objective's weights (KL warm-up, the capacity target) are at
the end: pure functions of the epoch, so tests and the training callback agree.
"""

import math

from keras import ops

LOG_2PI = math.log(2.0 * math.pi)
OBJECTIVES = ("elbo", "iwae")


# --- log p(x|z): the decoder's parameters against the pixels, summed over the last axis.


def bernoulli_log_likelihood(x, logits):
    """log p(x | logits) for a factorised Bernoulli, summed over the last axis.

    log p = x * l - log(1 + e^l) = -binary_cross_entropy_with_logits; softplus keeps
    it finite for logits of any size, where log(sigmoid(l)) would underflow.
    """
    return ops.sum(x * logits - ops.softplus(logits), axis=-1)


# Pixels per logarithm in `bernoulli_log_likelihood_by_products`: each factor is in
# (1, 2], so a product of 112 stays below 2^112, far inside float32 (2^128).
PRODUCT_CHUNK = 112


def bernoulli_log_likelihood_by_products(x, logits, chunk=PRODUCT_CHUNK):
    """`bernoulli_log_likelihood` with one logarithm per `chunk` pixels instead of one each.

    softplus(l) = max(l, 0) + log(1 + e^-|l|), and a sum of logs is the log of a
    product: sum_j log(1 + e^-|l_j|) = log prod_j (1 + e^-|l_j|). The exp per pixel
    stays; the log per pixel becomes a multiply. The gradient, x - sigmoid(l), reuses
    that exp (sigmoid(l) is 1 / (1 + e^-|l|) for l >= 0 and e^-|l| / (1 + e^-|l|) below),
    so a training step computes one exp and one division per pixel where softplus and
    its gradient cost two exps, a log and a division. The logits' decoder output is
    the largest array of an IWAE step and of the k = 5000 evaluation, and this pass
    over it is where a fast-matmul CPU waits (experiments/microbench_likelihood.py,
    experiments/microbench_training_likelihood.py). The rounding of 1 + e^-|l| and of
    the product costs at most ~1e-7 relative per factor: below 1e-4 nats for a
    784-pixel image. `x` is data: it gets no gradient.
    """
    pixels = logits.shape[-1]
    if pixels is None:
        raise ValueError("bernoulli_log_likelihood_by_products needs the pixel count known")
    padded = -(-pixels // chunk) * chunk

    @ops.custom_gradient
    def by_products(logits):
        exp_minus_abs = ops.exp(-ops.abs(logits))
        factors = 1.0 + exp_minus_abs
        linear = ops.sum(x * logits - ops.relu(logits), axis=-1)
        chunks = factors
        if padded != pixels:  # Factors of 1 fill the last chunk.
            pad = [[0, 0]] * (len(logits.shape) - 1) + [[0, padded - pixels]]
            chunks = ops.pad(factors, pad, constant_values=1.0)
        chunks = ops.reshape(chunks, (-1, padded // chunk, chunk))
        logs = ops.sum(ops.log(ops.prod(chunks, axis=-1)), axis=-1)

        def gradient(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            sigmoid = ops.where(logits >= 0, 1.0, exp_minus_abs) / factors
            return ops.expand_dims(upstream, -1) * (x - sigmoid)

        return linear - ops.reshape(logs, ops.shape(linear)), gradient

    return by_products(logits)


def gaussian_log_likelihood(x, mean, log_variance):
    """log N(x; mean, exp(log_variance)) for a diagonal Gaussian, summed over the last axis.

    `log_variance` broadcasts, so a Python float gives the fixed-variance (squared
    error) case: -0.5 * sum((x - mean)^2 / sigma^2) minus a constant.
    """
    log_variance = ops.convert_to_tensor(log_variance, dtype=mean.dtype)
    squared_error = ops.square(x - mean)
    return -0.5 * ops.sum(LOG_2PI + log_variance + squared_error * ops.exp(-log_variance), axis=-1)


# |logit| below which the continuous Bernoulli's functions use their Taylor series:
# their closed forms divide 0 by 0 at logit 0 (lambda = 0.5), and lose digits near it.
_CB_TAYLOR = 0.1


def _near_zero_split(logits):
    """(|logits| < _CB_TAYLOR, logits kept away from 0): the second is safe to divide by
    on both branches of an ops.where, so neither the value nor the gradient is NaN."""
    near = ops.abs(logits) < _CB_TAYLOR
    return near, ops.where(near, ops.ones_like(logits), logits)


def continuous_bernoulli_log_normalizer(logits):
    """log C(lambda) of the continuous Bernoulli (Loaiza-Ganem & Cunningham 2019), per pixel.

    With lambda = sigmoid(l), C = 2 artanh(1 - 2 lambda) / (1 - 2 lambda) = l / tanh(l / 2),
    and near l = 0: log C = log 2 + l^2 / 12 - 7 l^4 / 1440 + O(l^6).
    """
    near, safe = _near_zero_split(logits)
    exact = ops.log(ops.abs(safe)) - ops.log(ops.abs(ops.tanh(safe / 2.0)))
    square = ops.square(logits)
    series = math.log(2.0) + square / 12.0 - 7.0 * ops.square(square) / 1440.0
    return ops.where(near, series, exact)


def continuous_bernoulli_log_likelihood(x, logits):
    """log p(x | lambda) = x log lambda + (1 - x) log(1 - lambda) + log C(lambda) for
    pixels x in [0, 1]: a density, summed over the last axis."""
    return bernoulli_log_likelihood(x, logits) + ops.sum(
        continuous_bernoulli_log_normalizer(logits), axis=-1
    )


def continuous_bernoulli_mean(logits):
    """E[x] of the continuous Bernoulli, which is not lambda: 1 / (1 - e^-l) - 1 / l, and
    near l = 0: 1/2 + l / 12 - l^3 / 720 + O(l^5)."""
    near, safe = _near_zero_split(logits)
    exact = -1.0 / ops.expm1(-safe) - 1.0 / safe
    series = 0.5 + logits / 12.0 - logits * ops.square(logits) / 720.0
    return ops.where(near, series, exact)


# Burda et al. 2015's code starts the decoder at the training data's pixel means, each
# clipped to [0.001, 0.999] so that no logit is infinite.
STARTING_MEAN_RANGE = (1e-3, 1.0 - 1e-3)


def output_for_pixel_means(means, likelihood):
    """The decoder output l whose pixel mean (`pixel_means`) is `means` [D], each first
    clipped to STARTING_MEAN_RANGE: logit(mean) where the mean is sigmoid(l) (the
    Bernoulli, the Gaussian). The continuous Bernoulli's mean falls to 0 only as -1/l,
    so its l is found by bisection within the same logit range, and a mean beyond that
    range's reach takes its nearest end."""
    low_mean, high_mean = STARTING_MEAN_RANGE
    means = ops.clip(ops.cast(means, "float32"), low_mean, high_mean)
    logits = ops.log(means) - ops.log1p(-means)
    if likelihood != "continuous_bernoulli":
        return logits
    bound = math.log(high_mean / low_mean)  # logit(high_mean) = -logit(low_mean)
    low, high = ops.full_like(means, -bound), ops.full_like(means, bound)
    for _ in range(40):  # Halves a width of 14 down to float32's resolution.
        middle = (low + high) / 2
        above = continuous_bernoulli_mean(middle) > means
        low, high = ops.where(above, low, middle), ops.where(above, middle, high)
    return (low + high) / 2


def log_likelihood(x, params, fixed_log_variance=0.0, products=False):
    """log p(x|z) for the decoder's parameters `params` (see keras_vae.layers.Decoder).

    {"logits"}: Bernoulli; {"cb_logits"}: continuous Bernoulli; {"mean", "log_variance"}:
    Gaussian with learned variance; {"mean"}: Gaussian whose log-variance is
    `fixed_log_variance` for every pixel. `products`: the Bernoulli's by products
    (`bernoulli_log_likelihood_by_products`, the same numbers to rounding, faster).
    """
    if "logits" in params:
        if products:
            return bernoulli_log_likelihood_by_products(x, params["logits"])
        return bernoulli_log_likelihood(x, params["logits"])
    if "cb_logits" in params:
        return continuous_bernoulli_log_likelihood(x, params["cb_logits"])
    log_variance = params.get("log_variance", fixed_log_variance)
    return gaussian_log_likelihood(x, params["mean"], log_variance)


# --- The latent terms, summed over the last axis.


def pixel_means(params):
    """E[x|z] per pixel from the decoder's parameters (the continuous Bernoulli's is not
    sigmoid(logits))."""
    if "logits" in params:
        return ops.sigmoid(params["logits"])
    if "cb_logits" in params:
        return continuous_bernoulli_mean(params["cb_logits"])
    return params["mean"]


def kl_to_standard_normal(mean, log_variance):
    """KL(N(mean, exp(log_variance)) || N(0, I)) in closed form."""
    return -0.5 * ops.sum(1.0 + log_variance - ops.square(mean) - ops.exp(log_variance), axis=-1)


def standard_normal_log_density(z):
    """log N(z; 0, I)."""
    return -0.5 * ops.sum(LOG_2PI + ops.square(z), axis=-1)


def posterior_log_density(noise, log_variance):
    """log q(z|x) of z = mean + exp(log_variance / 2) * noise, from the noise itself:
    (z - mean)^2 / variance = noise^2, which is exact where z - mean would round."""
    return -0.5 * ops.sum(LOG_2PI + log_variance + ops.square(noise), axis=-1)


def mixture_log_density(z, means, log_variances):
    """log (1/K) sum_k N(z; means_k, exp(log_variances_k)): z [..., L], components [K, L].

    The VampPrior (Tomczak & Welling 2018) is this mixture with the components
    q(z|u_k) of K learned pseudo-inputs u_k. The squared distances are expanded,
    sum_l p_kl z_l^2 - 2 p_kl m_kl z_l + p_kl m_kl^2 with p = exp(-log_variance), so the
    K components cost two [N, L] x [L, K] matmuls rather than an [N, K, L] tensor (the
    k = 5000 evaluation pushes 5000 x 500 x 40 values per image through it:
    experiments/microbench_vamp_prior.py). The terms cancel where z lies near a narrow
    component, so they are computed in float64, which keeps the difference exact to
    ~1e-6 nats even at the encoder's narrowest (log-variance -20), where float32 would
    lose hundreds. logsumexp over the components lets far-away ones underflow harmlessly.
    """
    dtype = z.dtype
    z = ops.cast(z, "float64")
    means = ops.cast(means, "float64")
    log_variances = ops.cast(log_variances, "float64")
    precisions = ops.exp(-log_variances)  # [K, L]
    latent = ops.shape(means)[-1]
    flat = ops.reshape(z, (-1, latent))  # [N, L]
    squared_distances = (
        ops.matmul(ops.square(flat), ops.transpose(precisions))
        - 2.0 * ops.matmul(flat, ops.transpose(means * precisions))
        + ops.sum(ops.square(means) * precisions, axis=-1)
    )  # [N, K]
    per_component = -0.5 * (squared_distances + ops.sum(LOG_2PI + log_variances, axis=-1))
    # Past the cancellation, float32 holds each term to its own precision.
    per_component = ops.cast(per_component, dtype)
    count = ops.cast(ops.shape(means)[0], dtype)
    log_density = ops.logsumexp(per_component, axis=-1) - ops.log(count)
    return ops.reshape(log_density, ops.shape(z)[:-1])


def log_importance_weights(log_likelihood_of_x, log_prior, log_posterior):
    """log w = log p(x|z) + log p(z) - log q(z|x), each [k, batch]: log p(z) from the
    model's prior, log q from the noise that drew z (`posterior_log_density`)."""
    return log_likelihood_of_x + log_prior - log_posterior


def sampled_kl(log_weights, log_likelihoods):
    """KL(q(z|x) || p(z)) estimated at the k draws of z: mean_i log q(z_i|x) - log p(z_i),
    [batch]. For priors whose KL has no closed form (the VampPrior)."""
    return ops.mean(log_likelihoods - log_weights, axis=0)


def importance_weighted_bound(log_weights, axis=0):
    """log (1/k) sum_i exp(log_weights_i) over `axis` (Burda et al. 2015, eq. 8).

    k = 1 gives the ELBO (with a sampled KL), and it rises towards log p(x) as k grows.
    logsumexp keeps it exact when the weights are e^-100 and smaller.
    """
    k = ops.cast(ops.shape(log_weights)[axis], log_weights.dtype)
    return ops.logsumexp(log_weights, axis=axis) - ops.log(k)


# --- The objectives, minimised; each [batch].


def elbo_objective(reconstruction, kl, kl_weight=1.0):
    """reconstruction + kl_weight * KL: the negative ELBO at kl_weight = 1 (beta-VAE otherwise)."""
    return reconstruction + kl_weight * kl


def capacity_objective(reconstruction, kl, capacity, gamma):
    """reconstruction + gamma * |KL - C|, per example as in Burgess et al. 2018, eq. 8
    (some implementations use the batch-mean KL instead)."""
    return reconstruction + gamma * ops.abs(kl - capacity)


def iwae_objective(log_weights):
    """Minus the importance-weighted bound over the k draws of axis 0."""
    return -importance_weighted_bound(log_weights, axis=0)


def objective_terms(
    objective,
    log_likelihoods,
    log_weights,
    kl,
    kl_weight=1.0,
    capacity=None,
    capacity_gamma=1000.0,
):
    """The per-example terms of `objective` ("elbo" or "iwae"), each [batch].

    Args:
        log_likelihoods, log_weights: log p(x|z_i) and log w_i, [k, batch].
        kl: the closed-form KL, [batch].
        kl_weight: beta of the ELBO (a schedule may change it).
        capacity: when not None, the ELBO becomes the capacity objective with target C.

    Returns a dict: "objective" (what training minimises); "reconstruction" (-log p(x|z)
    averaged over the draws), "kl" and "elbo" = -(reconstruction + kl) for every
    objective, so runs with different objectives compare; and "iwae" (the bound) for iwae.
    """
    reconstruction = -ops.mean(log_likelihoods, axis=0)
    terms = {"reconstruction": reconstruction, "kl": kl, "elbo": -(reconstruction + kl)}
    if objective == "iwae":
        terms["iwae"] = importance_weighted_bound(log_weights, axis=0)
        terms["objective"] = -terms["iwae"]
    elif capacity is not None:
        terms["objective"] = capacity_objective(reconstruction, kl, capacity, capacity_gamma)
    else:
        terms["objective"] = elbo_objective(reconstruction, kl, kl_weight)
    return terms


# --- Schedules of the objective's weights: linear ramps over epochs (from 0) that start
# at 0 and hold their final value from epoch N on, value_e = final * min(1, e / N), with
# N = 0 meaning the final value from the start. So epochs 0 .. N-1 run below it.


def _ramp(epoch: int, final: float, epochs: int) -> float:
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    if epochs <= 0:
        return float(final)
    return float(final) * min(1.0, epoch / epochs)


def kl_weight_at(epoch: int, beta: float, warmup_epochs: int) -> float:
    """The KL weight in `epoch`: beta * min(1, epoch / warmup_epochs) (Sønderby et al. 2016).

    E.g. beta = 2, warmup_epochs = 4 gives 0, 0.5, 1, 1.5, 2, 2, ... for epochs 0, 1, 2, ...
    """
    return _ramp(epoch, beta, warmup_epochs)


def capacity_at(epoch: int, capacity_max: float, capacity_epochs: int) -> float:
    """The KL target C in nats in `epoch`: capacity_max * min(1, epoch / capacity_epochs).

    Burgess et al. 2018 raise C linearly from 0 so the KL, and with it the information
    in z, is let in gradually.
    """
    return _ramp(epoch, capacity_max, capacity_epochs)


def first_settled_epoch(*schedule_epochs: int) -> int:
    """The first epoch in which every schedule has reached its final value."""
    return max((max(0, n) for n in schedule_epochs), default=0)
