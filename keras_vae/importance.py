"""Importance weights log p(x, z) - log q(z|x) for many samples of z per image, in one graph.

These are what the importance-weighted estimate of log p(x) (Burda et al. 2015) and
the IWAE objective need. The functions take any model with `encode`, `decode` and
`reconstruction_log_likelihood` (a keras_vae VAE), so the SavedModel can export them.

Speed (the evaluate command pushes 5e7 samples through the decoder): call
`log_weights` from a plain (not XLA-compiled) tf.function. Its matmuls then run in
TensorFlow's own kernels, on every core, about 35% faster than XLA's CPU dot here,
while the per-pixel log-likelihood, the other large cost, is one XLA fusion: a single
pass over the [samples, pixels] decoder output instead of one per elementwise op.
`experiments/benchmark.py --part=eval` measures both against the matmul roofline.
"""

import tensorflow as tf

from keras_vae import losses


def log_weights_from_noise(model, images, noise, fused_likelihood=False):
    """Log importance weights for z = mean + std * noise.

    Args:
        images: [B, H, W] float32.
        noise: [S, B, latent_dims] standard-normal draws, S samples per image.
        fused_likelihood: compute log p(x|z) in its own XLA cluster (see the module
            docstring); for inference only, training keeps the plain graph.

    Returns:
        {"log_weights": [S, B], "log_likelihood": [S, B] (log p(x|z)),
         "mean": [B, L], "log_variance": [B, L]}.
    """
    mean, log_variance = model.encode(images)
    z = mean + tf.exp(0.5 * log_variance) * noise  # [S, B, L]
    samples, batch = tf.shape(noise)[0], tf.shape(noise)[1]
    params = model.decode(tf.reshape(z, [-1, model.latent_dims]))
    params = {k: tf.reshape(v, [samples, batch, -1]) for k, v in params.items()}
    x = tf.reshape(images, [1, batch, -1])  # Broadcasts over samples: no copy per sample.
    likelihood = model.reconstruction_log_likelihood
    if fused_likelihood:
        likelihood = tf.function(likelihood, jit_compile=True)
    log_likelihood = likelihood(x, params)
    # log q(z|x) from the noise directly: (z - mean)^2 / var = noise^2.
    log_q = -0.5 * tf.reduce_sum(losses.LOG_2PI + log_variance + tf.square(noise), axis=-1)
    log_weights = log_likelihood + losses.standard_normal_log_density(z) - log_q
    return {
        "log_weights": log_weights,
        "log_likelihood": log_likelihood,
        "mean": mean,
        "log_variance": log_variance,
    }


def log_weights(model, images, num_samples, seed):
    """As `log_weights_from_noise`, with noise drawn statelessly from `seed` (int64 [2])."""
    shape = tf.stack([num_samples, tf.shape(images)[0], model.latent_dims])
    noise = tf.random.stateless_normal(shape, seed=seed)
    return log_weights_from_noise(model, images, noise, fused_likelihood=True)
