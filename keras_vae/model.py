"""The variational autoencoder: a Gaussian encoder q(z|x), a sampling layer and a decoder p(x|z).

Images enter as float32 [batch, height, width] in [0, 1] and are flattened inside
the model. By default `train_step` minimises the negative ELBO
    -E_q[log p(x|z)] + beta * KL(q(z|x) || N(0, I))
with one reparameterised sample of z per example (Kingma & Welling 2013).
`VAE.objective_terms` holds the variants: the same with the reconstruction term
averaged over k samples of z; the capacity objective of Burgess et al. 2018,
    -E_q[log p(x|z)] + gamma * |KL - C|;
and the k-sample importance-weighted bound of Burda et al. 2015 (objective="iwae").
"""

import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from keras_vae import objectives

PACKAGE = "keras_vae"


def replica_seed(seed_generator):
    """The generator's next seed [2], folded with the replica's number when there are several.

    Under a tf.distribute strategy the generator's state is mirrored, so every replica
    would otherwise draw the same noise for its part of the batch; folding in the replica
    id (global across workers) makes the draws independent. With one replica the seed is
    the generator's own, so single-device runs keep their numbers.
    """
    seed = seed_generator.next()
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        seed = tf.random.experimental.stateless_fold_in(seed, context.replica_id_in_sync_group)
    # As keras.random does: TensorFlow's stateless ops want int32 seeds under XLA.
    return tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)


def standard_normal(shape, dtype, seed_generator):
    """N(0, 1) draws from `seed_generator`, independent per replica (see `replica_seed`)."""
    return tf.random.stateless_normal(shape, seed=replica_seed(seed_generator), dtype=dtype)


def replica_mean(values):
    """The mean of per-example `values` over the global batch, as this replica's share.

    Keras' optimizer sums the replicas' gradients, so each replica contributes the sum of
    its examples' values divided by the number of examples in the whole step; that is
    exact even when the last batch splits unevenly among replicas.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return ops.mean(values)
    count = context.all_reduce(
        tf.distribute.ReduceOp.SUM, tf.cast(tf.shape(values)[0], values.dtype)
    )
    return ops.sum(values) / count


@keras.saving.register_keras_serializable(package=PACKAGE)
class Sampling(layers.Layer):
    """Draws z = mean + exp(log_variance / 2) * eps with eps ~ N(0, I) (reparameterisation)."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, mean, log_variance, noise=None):
        # `noise` lets a caller supply eps, so two computations can share their draws.
        if noise is None:
            noise = standard_normal(ops.shape(mean), mean.dtype, self.seed_generator)
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


@keras.saving.register_keras_serializable(package=PACKAGE)
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


@keras.saving.register_keras_serializable(package=PACKAGE)
class Decoder(layers.Layer):
    """Maps latent codes to the parameters of p(x|z), one per pixel.

    Returns a dict: {"logits"} for a Bernoulli likelihood, {"mean"} for a Gaussian
    with fixed variance, {"mean", "log_variance"} for a Gaussian with learned variance.
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
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.output_dims = output_dims
        self.hidden_units = tuple(hidden_units)
        self.activation = activation
        self.likelihood = likelihood
        self.learned_variance = learned_variance
        self.hidden = _dense_stack(self.hidden_units, activation, "hidden")
        self.output_head = layers.Dense(
            output_dims, name="logits" if likelihood == "bernoulli" else "mean"
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
        params = {"mean": ops.sigmoid(output)}
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
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class VAE(keras.Model):
    """A variational autoencoder with dense encoder and decoder.

    Args:
        image_shape: (height, width) of the grey-scale images.
        latent_dims: size of z.
        hidden_units: encoder layer sizes; the decoder mirrors them.
        activation: hidden-layer activation.
        likelihood: "bernoulli" (decoder gives logits) or "gaussian".
        gaussian_variance: "fixed" (every pixel has std `gaussian_sigma`) or "learned".
        gaussian_sigma: the fixed pixel standard deviation.
        beta: weight of the KL term (1 gives the ELBO; beta-VAE otherwise). The
            `kl_weight` variable starts at beta; a schedule may change it.
        objective: "elbo" or "iwae" (see `objective_terms`).
        num_samples: draws of z per example in the training and evaluation objective.
        capacity_max: when > 0, the objective is reconstruction + capacity_gamma *
            |KL - C| with C in the `capacity` variable, which starts at capacity_max.
        capacity_gamma: the weight of |KL - C|.
        binarize_training_inputs: draw x ~ Bernoulli(pixel intensity) afresh at each
            training step (dynamic binarization, the literature's protocol for MNIST).
            None (the default) does so for a Bernoulli likelihood and not for a
            Gaussian one, as `python -m keras_vae.train --binarize=auto` does: a
            Bernoulli likelihood is a probability of binary pixels. Binary images are
            left as they are either way.
        seed: seeds the sampling and binarization noise.
    """

    def __init__(
        self,
        image_shape=(28, 28),
        latent_dims=2,
        hidden_units=(512, 256),
        activation="relu",
        likelihood="bernoulli",
        gaussian_variance="fixed",
        gaussian_sigma=0.1,
        beta=1.0,
        binarize_training_inputs=None,
        seed=None,
        objective="elbo",
        num_samples=1,
        capacity_max=0.0,
        capacity_gamma=1000.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_shape = tuple(int(d) for d in image_shape)
        self.latent_dims = int(latent_dims)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.activation = activation
        self.likelihood = likelihood
        self.gaussian_variance = gaussian_variance
        self.gaussian_sigma = float(gaussian_sigma)
        self.beta = float(beta)
        if binarize_training_inputs is None:
            binarize_training_inputs = likelihood == "bernoulli"
        self.binarize_training_inputs = bool(binarize_training_inputs)
        self.seed = seed
        if objective not in ("elbo", "iwae"):
            raise ValueError(f"objective must be 'elbo' or 'iwae', got {objective!r}")
        if int(num_samples) < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples!r}")
        self.objective = objective
        self.num_samples = int(num_samples)
        self.capacity_max = float(capacity_max)
        self.capacity_gamma = float(capacity_gamma)
        self.pixels = math.prod(self.image_shape)
        # The log-variance of every pixel of the fixed-variance Gaussian likelihood.
        self.fixed_log_variance = 2.0 * math.log(self.gaussian_sigma)

        self.encoder = Encoder(self.latent_dims, self.hidden_units, activation, name="encoder")
        self.decoder = Decoder(
            self.pixels,
            self.hidden_units[::-1],
            activation,
            likelihood,
            learned_variance=(likelihood == "gaussian" and gaussian_variance == "learned"),
            name="decoder",
        )
        # float32 whatever the policy: under mixed precision z would otherwise be autocast
        # to float16/bfloat16, while log p(z) and log q(z|x) are computed in float32.
        self.sampling = Sampling(seed, name="sampling", dtype="float32")
        self.binarization_seed = keras.random.SeedGenerator(None if seed is None else seed + 1)
        # A variable rather than a constant so that a schedule can change it during
        # training without retracing the compiled train step.
        self.kl_weight = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(self.beta),
            trainable=False,
            name="kl_weight",
        )
        # Only capacity models carry the variable, so other models keep their weight
        # list (and checkpoints written before it existed still load).
        self.capacity = (
            self.add_weight(
                shape=(),
                initializer=keras.initializers.Constant(self.capacity_max),
                trainable=False,
                name="capacity",
            )
            if self.capacity_max > 0
            else None
        )
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.elbo_tracker = keras.metrics.Mean(name="elbo")
        self.iwae_tracker = keras.metrics.Mean(name="iwae") if objective == "iwae" else None
        self.build((None, *self.image_shape))

    def build(self, input_shape):
        if not self.encoder.built:
            self.encoder.build((None, self.pixels))
        if not self.decoder.built:
            self.decoder.build((None, self.latent_dims))
        self.built = True

    @property
    def metrics(self):
        # Listed here so that Keras resets them at the start of every epoch.
        trackers = [
            self.loss_tracker,
            self.reconstruction_tracker,
            self.kl_tracker,
            self.elbo_tracker,
        ]
        return trackers + ([self.iwae_tracker] if self.iwae_tracker is not None else [])

    # --- The model's pieces, usable on their own (export and figures build on them).

    def _flatten(self, images):
        return ops.reshape(images, (-1, self.pixels))

    def encode(self, images):
        """Images [B, H, W] -> (mean, log_variance) of q(z|x), each [B, latent_dims]."""
        return self.encoder(self._flatten(images))

    def decode(self, z):
        """Latent codes [B, latent_dims] -> dict of p(x|z) parameters, each [B, H*W]."""
        return self.decoder(z)

    def pixel_means(self, params):
        """E[x|z] as images [B, H, W] from the decoder's parameters."""
        means = ops.sigmoid(params["logits"]) if "logits" in params else params["mean"]
        return ops.reshape(means, (-1, *self.image_shape))

    def decode_images(self, z):
        """Latent codes -> pixel means E[x|z], images [B, H, W] in [0, 1]."""
        return self.pixel_means(self.decode(z))

    def log_weights(self, images, noise, fused_likelihood=False):
        """log p(x|z), log importance weights and q(z|x) for z = mean + std * noise.

        Args:
            images: [B, H, W] float32.
            noise: [k, B, latent_dims] standard-normal draws, k samples per image.
            fused_likelihood: compute log p(x|z) in its own XLA cluster; for inference
                only (see keras_vae/export.py), training keeps the plain graph.

        Returns {"log_weights": [k, B], "log_likelihood": [k, B], "mean": [B, L],
        "log_variance": [B, L]}; the maths is keras_vae/objectives.py's.
        """
        x = self._flatten(images)
        mean, log_variance = self.encoder(x)
        z = self.sampling(mean, log_variance, noise=noise)  # [k, B, L]
        samples, batch = ops.shape(noise)[0], ops.shape(noise)[1]
        params = self.decoder(ops.reshape(z, (-1, self.latent_dims)))
        params = {k: ops.reshape(v, (samples, batch, -1)) for k, v in params.items()}
        likelihood = objectives.log_likelihood
        if fused_likelihood:
            likelihood = tf.function(likelihood, jit_compile=True)
        # x broadcasts over the k samples: no copy of the images per sample.
        log_likelihood = likelihood(x[None], params, self.fixed_log_variance)
        return {
            "log_weights": objectives.log_importance_weights(
                log_likelihood, z, noise, log_variance
            ),
            "log_likelihood": log_likelihood,
            "mean": mean,
            "log_variance": log_variance,
        }

    def seeded_log_weights(self, images, num_samples, seed):
        """`log_weights` with k = num_samples draws of noise from `seed` (int64 [2]), statelessly.

        What the evaluation and the SavedModel's log_weights signature run (the evaluate
        command pushes 5e7 samples through the decoder). Call it from a plain (not
        XLA-compiled) tf.function: its matmuls then run in TensorFlow's own kernels, on
        every core, about 35% faster than XLA's CPU dot here, while the per-pixel
        log-likelihood, the other large cost, is one XLA fusion: a single pass over the
        [samples, pixels] decoder output instead of one per elementwise op.
        `experiments/benchmark.py --part=eval` measures both against the matmul roofline.
        """
        shape = tf.stack([num_samples, tf.shape(images)[0], self.latent_dims])
        noise = tf.random.stateless_normal(shape, seed=seed)
        return self.log_weights(images, noise, fused_likelihood=True)

    def call(self, images, training=False):
        """Reconstructs images through a sampled z; returns pixel means [B, H, W]."""
        mean, log_variance = self.encode(images)
        return self.decode_images(self.sampling(mean, log_variance))

    # --- Training and evaluation.

    def binarize(self, images):
        """A fresh draw x ~ Bernoulli(images), elementwise."""
        u = tf.random.stateless_uniform(
            ops.shape(images), seed=replica_seed(self.binarization_seed), dtype=images.dtype
        )
        return ops.cast(u < images, images.dtype)

    def draw_noise(self, images):
        """Standard-normal noise [k, B, latent_dims], k = num_samples, from the Sampling
        layer's seed (independent per replica under a strategy)."""
        shape = (self.num_samples, ops.shape(images)[0], self.latent_dims)
        return standard_normal(shape, images.dtype, self.sampling.seed_generator)

    def objective_terms(self, images, noise=None):
        """Per-example terms of the training objective, in nats, each [B]: see
        `objectives.objective_terms`, whose "objective" is what training minimises.

        `noise` (default `draw_noise(images)`) fixes the draws of z, so tests and
        evaluations can share them: [k, B, L], or [B, L] for one draw.
        """
        if noise is None:
            noise = self.draw_noise(images)
        elif len(noise.shape) == 2:
            noise = noise[None]
        weights = self.log_weights(images, noise)
        return objectives.objective_terms(
            self.objective,
            weights["log_likelihood"],
            weights["log_weights"],
            objectives.kl_to_standard_normal(weights["mean"], weights["log_variance"]),
            kl_weight=self.kl_weight,
            capacity=self.capacity,
            capacity_gamma=self.capacity_gamma,
        )

    def _record(self, terms):
        self.loss_tracker.update_state(terms["objective"])
        self.reconstruction_tracker.update_state(terms["reconstruction"])
        self.kl_tracker.update_state(terms["kl"])
        self.elbo_tracker.update_state(terms["elbo"])
        if self.iwae_tracker is not None:
            self.iwae_tracker.update_state(terms["iwae"])
        return _as_logs({m.name: m.result() for m in self.metrics})

    def schedule_values(self):
        """The scheduled weights in use, for the logs: {"beta"} or, for capacity, {"capacity"}."""
        if self.capacity is not None:
            return {"capacity": self.capacity}
        return {"beta": self.kl_weight}

    def objective_gradients(self, images, noise=None):
        """(terms, gradients): `objective_terms` and the gradients of the loss.

        The loss is the objective's mean over the global batch (see `replica_mean`), so
        under a strategy the replicas' gradients sum to the one-device gradients.
        """
        with tf.GradientTape() as tape:
            terms = self.objective_terms(images, noise=noise)
            loss = replica_mean(terms["objective"])
            # Under mixed_float16 Keras wraps the optimizer in a LossScaleOptimizer, whose
            # apply() divides the gradients by the loss scale: they must be of the scaled
            # loss. Every other optimizer returns the loss unchanged.
            optimizer = getattr(self, "optimizer", None)  # None before compile()
            if optimizer is not None:
                loss = optimizer.scale_loss(loss)
        return terms, tape.gradient(loss, self.trainable_variables)

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        """keras.Model.fit on images alone: the model reconstructs its input.

        x: images [N, H, W], as a numpy array (uint8 0..255, or floats in [0, 1]), a
        tensor, or a tf.data.Dataset of image batches. Labels are refused rather than
        ignored: an unconditional VAE has no use for them (map them away first).
        """
        check_images_input(x, y, self.image_shape, "fit")
        if validation_data is not None:
            check_images_input(validation_data, None, self.image_shape, "validation_data")
        return super().fit(x, y, *args, validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """keras.Model.evaluate on images alone (see `fit`); the ELBO with sampled z."""
        check_images_input(x, y, self.image_shape, "evaluate")
        return super().evaluate(x, y, *args, **kwargs)

    def train_step(self, data):
        images = _images_of(data)
        if self.binarize_training_inputs:
            images = self.binarize(images)
        terms, gradients = self.objective_gradients(images)
        self.optimizer.apply(gradients, self.trainable_variables)
        return {**self._record(terms), **_as_logs(self.schedule_values())}

    def test_step(self, data):
        # z is sampled, as in training: the ELBO is an expectation over q(z|x), and
        # decoding the posterior mean would overstate it.
        return self._record(self.objective_terms(_images_of(data)))

    def get_config(self):
        return {
            **super().get_config(),
            "image_shape": list(self.image_shape),
            "latent_dims": self.latent_dims,
            "hidden_units": list(self.hidden_units),
            "activation": self.activation,
            "likelihood": self.likelihood,
            "gaussian_variance": self.gaussian_variance,
            "gaussian_sigma": self.gaussian_sigma,
            "beta": self.beta,
            "binarize_training_inputs": self.binarize_training_inputs,
            "seed": self.seed,
            "objective": self.objective,
            "num_samples": self.num_samples,
            "capacity_max": self.capacity_max,
            "capacity_gamma": self.capacity_gamma,
        }


def check_images_input(x, y, image_shape, where):
    """Raises ValueError unless `x` holds images of `image_shape` and no labels come along."""
    if y is not None or isinstance(x, (tuple, list)):
        raise ValueError(
            f"{where} takes images only (a VAE reconstructs its input); it got labels or "
            "(x, y) pairs, which an unconditional VAE would ignore: pass the images alone, "
            "e.g. dataset.map(lambda x, y: x)"
        )
    if isinstance(x, tf.data.Dataset):
        spec = x.element_spec
        if not isinstance(spec, tf.TensorSpec):
            raise ValueError(
                f"{where} takes a dataset of image batches; its elements are {spec}: "
                "map them to the images alone, e.g. dataset.map(lambda x, y: x)"
            )
        if not spec.shape[1:].is_compatible_with(image_shape):
            raise ValueError(
                f"{where}: the dataset's batches are {spec.shape}, the model takes "
                f"[batch, {', '.join(map(str, image_shape))}] images"
            )
        return
    if x is None or not hasattr(x, "shape"):
        return  # Keras' own checks name what is missing or of an unknown kind.
    if tuple(x.shape[1:]) != tuple(image_shape):
        raise ValueError(
            f"{where}: images are {tuple(x.shape)}, the model takes "
            f"[N, {', '.join(map(str, image_shape))}]"
        )
    if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating) and x.size:
        low, high = float(np.min(x)), float(np.max(x))
        if not (0.0 <= low and high <= 1.0):
            raise ValueError(
                f"{where}: float images must be finite and in [0, 1], got values from {low} "
                f"to {high}; divide 0..255 pixels by 255, or pass them as uint8"
            )


def to_unit_float(images):
    """uint8 pixels -> float32 in [0, 1]; the one conversion that every path uses."""
    return ops.cast(images, "float32") / 255.0


def _as_logs(values):
    # Keras 3 (3.15) reduces a multi-worker step's logs with strategy.reduce("MEAN",
    # axis=0), which fails on scalars; as [1] vectors they reduce to the same scalars.
    strategy = tf.distribute.get_strategy()
    if (
        isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        and strategy.extended._in_multi_worker_mode()
    ):
        return {name: ops.reshape(value, (1,)) for name, value in values.items()}
    return values


def _images_of(data):
    # Keras hands the step the images, or (images,) when it packs them; `fit` has
    # refused labels. uint8 batches (keras_vae's pipelines) become floats here, in the
    # model's graph.
    images = data[0] if isinstance(data, (tuple, list)) else data
    if images.dtype == "uint8":
        return to_unit_float(images)
    return images
