"""The layers of keras_vae's VAE: a Gaussian encoder q(z|x), the sampling of z and a decoder p(x|z).

Each is a registered Keras layer whose `get_config` returns its constructor's
arguments, so models that hold them save to and load from `.keras` files.
"""

import math

import keras
from keras import layers, ops

from keras_vae import distribution


@keras.saving.register_keras_serializable(package=__package__)
class Sampling(layers.Layer):
    """Draws z = mean + exp(log_variance / 2) * eps with eps ~ N(0, I) (reparameterisation)."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, mean, log_variance, noise=None):
        # `noise` lets a caller supply eps, so two computations can share their draws.
        if noise is None:
            noise = distribution.standard_normal(ops.shape(mean), mean.dtype, self.seed_generator)
        return mean + ops.exp(0.5 * log_variance) * noise

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def _dense_stack(hidden_units, activation, prefix):
    return [
        layers.Dense(units, activation=activation, name=f"{prefix}_{i}")
        for i, units in enumerate(hidden_units)
    ]


def _build_stack(stack, input_shape):
    shape = input_shape
    for layer in stack:
        if not layer.built:
            layer.build(shape)
        shape = layer.compute_output_shape(shape)
    return shape


@keras.saving.register_keras_serializable(package=__package__)
class Encoder(layers.Layer):
    """Maps flattened images to the mean and log-variance of q(z|x)."""

    # |log-variance| <= 20: standard deviations from 4.5e-5 to 2.2e4, far beyond what a
    # posterior over MNIST-like data needs, while exp() stays finite.
    LOG_VARIANCE_LIMIT = 20.0

    def __init__(self, latent_dims, hidden_units, activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.latent_dims = latent_dims
        self.hidden_units = tuple(hidden_units)
        self.activation = activation
        self.hidden = _dense_stack(self.hidden_units, activation, "hidden")
        self.mean_head = layers.Dense(latent_dims, name="mean")
        self.log_variance_head = layers.Dense(latent_dims, name="log_variance")

    def build(self, input_shape):
        shape = _build_stack(self.hidden, input_shape)
        for head in (self.mean_head, self.log_variance_head):
            if not head.built:
                head.build(shape)

    def call(self, x):
        for layer in self.hidden:
            x = layer(x)
        # float32 whatever the compute dtype: the KL and the sampling need the range.
        log_variance = ops.cast(self.log_variance_head(x), "float32")
        # exp(log_variance) overflows float32 beyond 88; a diverging encoder would turn the
        # KL into inf before the loss could show it. Values inside the range pass exactly.
        log_variance = ops.clip(log_variance, -self.LOG_VARIANCE_LIMIT, self.LOG_VARIANCE_LIMIT)
        return ops.cast(self.mean_head(x), "float32"), log_variance

    def get_config(self):
        return {
            **super().get_config(),
            "latent_dims": self.latent_dims,
            "hidden_units": list(self.hidden_units),
            "activation": self.activation,
        }


@keras.saving.register_keras_serializable(package=__package__)
class Decoder(layers.Layer):
    """Maps latent codes to the parameters of p(x|z), one per pixel.

    Returns a dict: {"logits"} for a Bernoulli likelihood, {"cb_logits"} for a continuous
    Bernoulli, {"mean"} for a Gaussian with fixed variance, {"mean", "log_variance"} for a
    Gaussian with learned variance. The Gaussian's mean is sigmoid(output) for pixels
    (`mean_activation="sigmoid"`), the output itself for values on the real line
    ("linear": standardized tables).
    """

    # Learned log-variances are kept above log(1e-4) (sigma >= 0.01) with a soft floor:
    # on near-constant pixels an unbounded variance would collapse and the likelihood
    # diverge, and a soft floor keeps gradients alive where a hard clip would not.
    MIN_LOG_VARIANCE = math.log(1e-4)

    def __init__(
        self,
        output_dims,
        hidden_units,
        activation="relu",
        likelihood="bernoulli",
        learned_variance=False,
        mean_activation="sigmoid",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.output_dims = output_dims
        self.hidden_units = tuple(hidden_units)
        self.activation = activation
        self.likelihood = likelihood
        self.learned_variance = learned_variance
        self.mean_activation = mean_activation
        self.hidden = _dense_stack(self.hidden_units, activation, "hidden")
        self.output_head = layers.Dense(
            output_dims, name="mean" if likelihood == "gaussian" else "logits"
        )
        self.log_variance_head = (
            layers.Dense(output_dims, name="log_variance") if learned_variance else None
        )

    def build(self, input_shape):
        shape = _build_stack(self.hidden, input_shape)
        for head in (self.output_head, self.log_variance_head):
            if head is not None and not head.built:
                head.build(shape)

    def call(self, z):
        h = z
        for layer in self.hidden:
            h = layer(h)
        # The likelihood is computed in float32 whatever the compute dtype (mixed precision).
        output = ops.cast(self.output_head(h), "float32")
        if self.likelihood == "bernoulli":
            return {"logits": output}
        if self.likelihood == "continuous_bernoulli":
            return {"cb_logits": output}
        params = {"mean": ops.sigmoid(output) if self.mean_activation == "sigmoid" else output}
        if self.log_variance_head is not None:
            floor = self.MIN_LOG_VARIANCE
            log_variance = ops.cast(self.log_variance_head(h), "float32")
            params["log_variance"] = floor + ops.softplus(log_variance - floor)
        return params

    def get_config(self):
        return {
            **super().get_config(),
            "output_dims": self.output_dims,
            "hidden_units": list(self.hidden_units),
            "activation": self.activation,
            "likelihood": self.likelihood,
            "learned_variance": self.learned_variance,
            "mean_activation": self.mean_activation,
        }
