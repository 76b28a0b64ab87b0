"""The variational autoencoder: encoder, sampling and decoder (keras_vae/layers.py) in one Model.

Images enter as float32 [batch, height, width] in [0, 1] (or uint8, converted in the
graph) and are flattened inside the model. `train_step` reads as the algorithm does:
the images, a fresh binarization, the objective's terms (`objective_terms`: the
network gives log p(x|z) and the log importance weights, keras_vae/objectives.py
turns them into the ELBO, IWAE or capacity objective), the loss scaled for mixed
precision, and the optimizer's update. By default the objective is the negative ELBO
    -E_q[log p(x|z)] + beta * KL(q(z|x) || N(0, I))
with one reparameterised sample of z per example (Kingma & Welling 2013).

One class of about 350 lines: its pieces (`encode`, `decode`, `log_weights`) are what
the SavedModel's signatures and the evaluation build on, so they stay with it.
"""

import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_vae import distribution, objectives
from keras_vae.layers import Decoder, Encoder, Sampling
from keras_vae.pipeline import check_images_input, to_unit_float


@keras.saving.register_keras_serializable(package=__package__)
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
        top_latent_dims, top_hidden_units: a second stochastic layer z2 above z = z1 (Burda
            et al. 2015): q(z2|z1) and p(z1|z2) with these hidden layers, p(z2) = N(0, I);
            0 for one layer. encode, decode and sample_prior then speak z2 (`code_dims`).
        prior: "standard" (N(0, I), the KL in closed form) or "vamp" (the VampPrior of
            Tomczak & Welling 2018: a mixture of q(z|u_k) over `num_pseudo_inputs` learned
            pseudo-inputs u_k; the KL is estimated at the sampled z).
        binarize_training_inputs: draw x ~ Bernoulli(pixel intensity) afresh at each
            training step (dynamic binarization, the literature's protocol for MNIST).
            None (the default) does so for a Bernoulli likelihood and not for a
            Gaussian one, as `python -m keras_vae.train --binarize=auto` does: a
            Bernoulli likelihood is a probability of binary pixels. Binary images are
            left as they are either way.
        seed: seeds the sampling and binarization noise.
        input_mean, input_scale: per-feature (mean, standard deviation) of a Gaussian
            model of standardized data (tables): the model takes raw examples, models
            (x - mean) / scale, and reports log p(x) and E[x|z] on the raw scale (the
            log-likelihood includes the Jacobian, -sum(log scale)). None: raw = modelled.
        product_likelihood: a Bernoulli log-likelihood with one logarithm per 112
            pixels, whose gradient reuses its exps
            (`objectives.bernoulli_log_likelihood_by_products`), in training and
            inference: the same numbers to ~1e-6, that pass a third faster
            (experiments/microbench_likelihood.py,
            experiments/microbench_training_likelihood.py). False: softplus per pixel.
        gaussian_mean: how the Gaussian decoder's output becomes the pixel mean:
            "sigmoid", bounded to (0, 1) as pixels are (Kingma & Welling's Frey Face
            decoder), or "linear", any real value. None: linear for standardized inputs
            (`input_mean`), whose values lie on both sides of 0, else sigmoid.
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
        prior="standard",
        num_pseudo_inputs=500,
        top_latent_dims=0,
        top_hidden_units=(50, 50),
        conditional=False,
        num_classes=0,
        input_mean=None,
        input_scale=None,
        product_likelihood=True,
        gaussian_mean=None,
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
        if likelihood not in ("bernoulli", "gaussian", "continuous_bernoulli"):
            raise ValueError(
                "likelihood must be 'bernoulli', 'gaussian' or 'continuous_bernoulli', got "
                f"{likelihood!r} ('auto' is resolved from the data by keras_vae.train)"
            )
        if objective not in ("elbo", "iwae"):
            raise ValueError(f"objective must be 'elbo' or 'iwae', got {objective!r}")
        if int(num_samples) < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples!r}")
        self.objective = objective
        self.num_samples = int(num_samples)
        self.capacity_max = float(capacity_max)
        self.capacity_gamma = float(capacity_gamma)
        if prior not in ("standard", "vamp"):
            raise ValueError(f"prior must be 'standard' or 'vamp', got {prior!r}")
        self.prior = prior
        self.num_pseudo_inputs = int(num_pseudo_inputs)
        self.pixels = math.prod(self.image_shape)
        # The log-variance of every pixel of the fixed-variance Gaussian likelihood.
        self.fixed_log_variance = 2.0 * math.log(self.gaussian_sigma)
        self.product_likelihood = bool(product_likelihood)
        self.input_mean, self.input_scale = _standardization(
            input_mean, input_scale, self.pixels, likelihood, prior
        )
        if gaussian_mean is None:
            gaussian_mean = "linear" if self.input_mean is not None else "sigmoid"
        if gaussian_mean not in ("sigmoid", "linear"):
            raise ValueError(f"gaussian_mean must be 'sigmoid' or 'linear', got {gaussian_mean!r}")
        self.gaussian_mean = gaussian_mean

        self.conditional = bool(conditional)
        self.num_classes = int(num_classes)
        if self.conditional and self.num_classes < 2:
            raise ValueError(f"a conditional VAE needs num_classes >= 2, got {num_classes!r}")
        if self.conditional and (prior != "standard" or int(top_latent_dims)):
            raise ValueError("a conditional VAE takes one stochastic layer and prior='standard'")
        self.top_latent_dims = int(top_latent_dims)
        self.top_hidden_units = tuple(int(u) for u in top_hidden_units)
        if self.top_latent_dims and prior != "standard":
            raise ValueError("a second stochastic layer takes prior='standard' for its top layer")
        # The code that encode, decode and sample_prior speak: the top layer's z.
        self.code_dims = self.top_latent_dims or self.latent_dims
        # Noise per sample: z1's, then (two layers) z2's.
        self.noise_dims = self.latent_dims + self.top_latent_dims
        self.encoder = Encoder(self.latent_dims, self.hidden_units, activation, name="encoder")
        # Burda et al. 2015's second stochastic layer: q(z2|z1) and p(z1|z2), both Gaussian
        # networks of the same form as the encoder.
        if self.top_latent_dims:
            self.top_encoder = Encoder(
                self.top_latent_dims, self.top_hidden_units, activation, name="top_encoder"
            )
            self.top_decoder = Encoder(
                self.latent_dims, self.top_hidden_units[::-1], activation, name="top_decoder"
            )
        self.decoder = Decoder(
            self.pixels,
            self.hidden_units[::-1],
            activation,
            likelihood,
            learned_variance=(likelihood == "gaussian" and gaussian_variance == "learned"),
            mean_activation=self.gaussian_mean,
            name="decoder",
        )
        # float32 whatever the policy: under mixed precision z would otherwise be autocast
        # to float16/bfloat16, while log p(z) and log q(z|x) are computed in float32.
        self.sampling = Sampling(seed, name="sampling", dtype="float32")
        self.binarization_seed = keras.random.SeedGenerator(None if seed is None else seed + 1)
        # The VampPrior's pseudo-inputs, clipped to [0, 1] where used; initialised near 0
        # as in Tomczak & Welling's code (mean 0.05, std 0.01).
        self.pseudo_inputs = (
            self.add_weight(
                shape=(self.num_pseudo_inputs, self.pixels),
                initializer=keras.initializers.RandomNormal(0.05, 0.01, seed=seed),
                name="pseudo_inputs",
            )
            if prior == "vamp"
            else None
        )
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
        extra = self.num_classes if self.conditional else 0
        if not self.encoder.built:
            self.encoder.build((None, self.pixels + extra))
        if not self.decoder.built:
            self.decoder.build((None, self.latent_dims + extra))
        if not self.sampling.built:  # No weights; built so Keras need not call the model.
            self.sampling.build((None, self.latent_dims))
        if self.top_latent_dims and not self.top_encoder.built:
            self.top_encoder.build((None, self.latent_dims))
            self.top_decoder.build((None, self.top_latent_dims))
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
        """Examples [B, ...] -> [B, D] as the networks model them (standardized, if so)."""
        x = ops.reshape(images, (-1, self.pixels))
        if self.input_mean is None:
            return x
        return (x - ops.array(self.input_mean, "float32")) / ops.array(self.input_scale, "float32")

    def _log_jacobian(self):
        """log |d(standardized x) / d(raw x)| = -sum(log scale): log p(raw x) is log p of
        the standardized x plus this."""
        if self.input_scale is None:
            return 0.0
        return -float(sum(math.log(s) for s in self.input_scale))

    def with_labels(self, inputs, labels, copies=1):
        """`inputs` [N, D] with the one-hot labels appended for a conditional model (the
        labels [B] repeated `copies` times, N = copies * B); unchanged otherwise."""
        if not self.conditional:
            return inputs
        if labels is None:
            raise ValueError(
                f"this conditional VAE needs the labels of its images (integers from 0 to "
                f"{self.num_classes - 1})"
            )
        one_hot = ops.one_hot(ops.cast(ops.reshape(labels, (-1,)), "int32"), self.num_classes)
        # `copies` may be a tensor (k of a traced signature): tile whatever it is.
        one_hot = ops.tile(one_hot, (copies, 1))
        return ops.concatenate([inputs, ops.cast(one_hot, inputs.dtype)], axis=-1)

    def encode(self, images, labels=None):
        """Images [B, H, W] -> (mean, log_variance) of q(z|x), each [B, code_dims].

        With two stochastic layers, q(z2|z1) at z1 = the mean of q(z1|x): the top code.
        A conditional model takes the images' labels [B]: q(z|x, y).
        """
        mean, log_variance = self.encoder(self.with_labels(self._flatten(images), labels))
        return self.top_encoder(mean) if self.top_latent_dims else (mean, log_variance)

    def layer_means(self, images):
        """Posterior means per stochastic layer: [E_q[z1|x]] or, with two layers,
        [E_q[z1|x], E_q[z2|z1 = E_q[z1|x]]], each [B, that layer's size]."""
        mean, _ = self.encoder(self._flatten(images))
        if not self.top_latent_dims:
            return [mean]
        return [mean, self.top_encoder(mean)[0]]

    def decode(self, z, labels=None):
        """Latent codes [B, code_dims] -> dict of p(x|z) parameters, each [B, H*W].

        With two stochastic layers, p(x|z1) at z1 = the mean of p(z1|z2 = z). A
        conditional model takes a label per code: p(x|z, y).
        """
        if self.top_latent_dims:
            z, _ = self.top_decoder(z)
        return self.decoder(self.with_labels(z, labels))

    def pixel_means(self, params):
        """E[x|z] as images [B, H, W] from the decoder's parameters (on the raw scale)."""
        means = objectives.pixel_means(params)
        if self.input_mean is not None:
            means = means * ops.array(self.input_scale, "float32") + ops.array(
                self.input_mean, "float32"
            )
        return ops.reshape(means, (-1, *self.image_shape))

    def start_at_pixel_means(self, pixel_means):
        """Sets the decoder's output bias so that its pixel means start near `pixel_means`
        ([H, W] or [H*W], in [0, 1]; see `objectives.output_for_pixel_means`): the
        independent-pixel model of the data, rather than 1/2 for every pixel, so the
        latent units need not first learn the background (Burda et al. 2015's code;
        training's --output_bias=data_mean)."""
        pixel_means = ops.reshape(ops.convert_to_tensor(pixel_means, "float32"), (-1,))
        if pixel_means.shape[0] != self.pixels:
            raise ValueError(
                f"pixel means for {pixel_means.shape[0]} pixels given to a model of {self.pixels}"
            )
        if self.input_mean is not None:
            raise ValueError("a model of standardized values has no pixel means to start at")
        if self.likelihood == "gaussian" and self.gaussian_mean == "linear":
            bias = pixel_means  # The output is the mean itself.
        else:
            bias = objectives.output_for_pixel_means(pixel_means, self.likelihood)
        self.decoder.output_head.bias.assign(bias)

    def decode_images(self, z, labels=None):
        """Latent codes (and, conditional, labels) -> pixel means E[x|z], [B, H, W] in [0, 1]."""
        return self.pixel_means(self.decode(z, labels))

    def prior_components(self):
        """The VampPrior's components: q(z|u_k) of the pseudo-inputs, (means, log-variances)
        each [K, latent_dims]."""
        return self.encoder(ops.clip(self.pseudo_inputs, 0.0, 1.0))

    def prior_log_density(self, z):
        """log p(z) of codes [..., latent_dims]: N(0, I), or the VampPrior's mixture."""
        if self.prior == "standard":
            return objectives.standard_normal_log_density(z)
        return objectives.mixture_log_density(z, *self.prior_components())

    def sample_prior(self, num_samples, seed):
        """num_samples codes z ~ p(z) [num_samples, latent_dims], drawn statelessly from
        `seed` (int [2]): the same seed gives the same codes in every process."""
        seed = tf.cast(seed, tf.int64)
        shape = tf.stack([num_samples, self.code_dims])
        noise = tf.random.stateless_normal(shape, seed=seed)
        if self.prior == "standard":
            return noise
        means, log_variances = self.prior_components()
        pick = tf.random.stateless_uniform(
            [num_samples], seed=seed + [0, 1], maxval=self.num_pseudo_inputs, dtype=tf.int32
        )
        return tf.gather(means, pick) + tf.exp(0.5 * tf.gather(log_variances, pick)) * noise

    def log_weights(self, images, noise, fused_likelihood=False, labels=None):
        """log p(x|z), log importance weights and q(z|x) for z = mean + std * noise.

        Args:
            images: [B, H, W] float32.
            noise: [k, B, noise_dims] standard-normal draws, k samples per image: z1's
                (latent_dims), then, with two stochastic layers, z2's (top_latent_dims).
            fused_likelihood: compute log p(x|z) in its own XLA cluster; for inference
                (see keras_vae/export.py): in a training step XLA's fusion was no faster
                (experiments/microbench_training_likelihood.py).
            labels: [B] integer labels, for a conditional model (then log p(x|y)).

        Returns {"log_weights": [k, B], "log_likelihood": [k, B], "mean": [B, L],
        "log_variance": [B, L]} (q(z1|x)'s); the maths is keras_vae/objectives.py's.
        """
        x = self._flatten(images)
        mean, log_variance = self.encoder(self.with_labels(x, labels))
        noise_1 = noise[..., : self.latent_dims]
        z = self.sampling(mean, log_variance, noise=noise_1)  # [k, B, L]
        samples, batch = ops.shape(noise)[0], ops.shape(noise)[1]
        flat_z = ops.reshape(z, (-1, self.latent_dims))
        log_posterior = objectives.posterior_log_density(noise_1, log_variance)
        if self.top_latent_dims:
            # z2 ~ q(z2|z1) at each z1; log p(z1, z2) = log p(z1|z2) + log N(z2; 0, I).
            noise_2 = ops.reshape(noise[..., self.latent_dims :], (-1, self.top_latent_dims))
            mean_2, log_variance_2 = self.top_encoder(flat_z)
            z_2 = mean_2 + ops.exp(0.5 * log_variance_2) * noise_2
            prior_mean, prior_log_variance = self.top_decoder(z_2)
            log_prior = objectives.gaussian_log_likelihood(
                flat_z, prior_mean, prior_log_variance
            ) + objectives.standard_normal_log_density(z_2)
            log_posterior += ops.reshape(
                objectives.posterior_log_density(noise_2, log_variance_2), (samples, batch)
            )
            log_prior = ops.reshape(log_prior, (samples, batch))
        else:
            log_prior = self.prior_log_density(z)
        params = self.decoder(self.with_labels(flat_z, labels, copies=samples))
        params = {k: ops.reshape(v, (samples, batch, self.pixels)) for k, v in params.items()}
        likelihood = objectives.log_likelihood
        if fused_likelihood:
            likelihood = tf.function(likelihood, jit_compile=True)
        # x broadcasts over the k samples: no copy of the images per sample.
        log_likelihood = likelihood(
            x[None], params, self.fixed_log_variance, self.product_likelihood
        )
        if self.input_scale is not None:
            log_likelihood = log_likelihood + self._log_jacobian()
        return {
            "log_weights": objectives.log_importance_weights(
                log_likelihood, log_prior, log_posterior
            ),
            "log_likelihood": log_likelihood,
            "mean": mean,
            "log_variance": log_variance,
        }

    def seeded_log_weights(self, images, num_samples, seed, labels=None):
        """`log_weights` with k = num_samples draws of noise from `seed` (int64 [2]), statelessly.

        What the evaluation and the SavedModel's log_weights signature run (the evaluate
        command pushes 5e7 samples through the decoder). Call it from a plain (not
        XLA-compiled) tf.function: its matmuls then run in TensorFlow's own kernels, on
        every core, about 35% faster than XLA's CPU dot here, while the per-pixel
        log-likelihood, the other large cost, is one XLA fusion: a single pass over the
        [samples, pixels] decoder output instead of one per elementwise op.
        `experiments/benchmark.py --part=eval` measures both against the matmul roofline.
        """
        shape = tf.stack([num_samples, tf.shape(images)[0], self.noise_dims])
        noise = tf.random.stateless_normal(shape, seed=seed)
        return self.log_weights(images, noise, fused_likelihood=True, labels=labels)

    def call(self, inputs, training=False):
        """Reconstructs images (or, conditional, (images, labels)) through a sampled z;
        returns pixel means [B, H, W]."""
        images, labels = inputs if isinstance(inputs, (tuple, list)) else (inputs, None)
        if self.conditional and labels is None:
            # A TypeError, as for any missing argument (Keras' SavedModel export traces
            # call() with the images alone and skips a call that is missing an argument).
            raise TypeError(
                "VAE.call() missing a required argument: 'labels' (a conditional VAE is "
                "called on (images, labels))"
            )
        mean, log_variance = self.encode(images, labels)
        return self.decode_images(self.sampling(mean, log_variance), labels)

    # --- Training and evaluation.

    def binarize(self, images):
        """A fresh draw x ~ Bernoulli(images), elementwise."""
        u = tf.random.stateless_uniform(
            ops.shape(images),
            seed=distribution.replica_seed(self.binarization_seed),
            dtype=images.dtype,
        )
        return ops.cast(u < images, images.dtype)

    def score(self, images, num_samples, seed, labels=None):
        """Per-example scores with k = num_samples draws of z from `seed` (int64 [2]):
        {"log_likelihood": the k-sample importance-weighted bound on log p(x) (log p(x|y)
        for a conditional model), "elbo", "reconstruction", "kl"}, each [B], in nats.

        The KL is in closed form for one Gaussian layer with the N(0, I) prior, else
        estimated at the same draws, as in `objective_terms`. What `python -m
        keras_vae.score` and the SavedModel's `score` signature compute.
        """
        weights = self.seeded_log_weights(images, num_samples, seed, labels)
        kl = self._kl(weights)
        reconstruction = -ops.mean(weights["log_likelihood"], axis=0)
        return {
            "log_likelihood": objectives.importance_weighted_bound(weights["log_weights"], 0),
            "elbo": -(reconstruction + kl),
            "reconstruction": reconstruction,
            "kl": kl,
        }

    def _kl(self, weights):
        """KL(q(z|x) || p(z)) per example from `log_weights`' output: in closed form for one
        Gaussian layer and the N(0, I) prior; else (a VampPrior, two layers) estimated at
        the draws of z."""
        if self.prior == "standard" and not self.top_latent_dims:
            return objectives.kl_to_standard_normal(weights["mean"], weights["log_variance"])
        return objectives.sampled_kl(weights["log_weights"], weights["log_likelihood"])

    def draw_noise(self, images):
        """Standard-normal noise [k, B, noise_dims], k = num_samples, from the Sampling
        layer's seed (independent per replica under a strategy)."""
        shape = (self.num_samples, ops.shape(images)[0], self.noise_dims)
        return distribution.standard_normal(shape, images.dtype, self.sampling.seed_generator)

    def objective_terms(self, images, noise=None, labels=None):
        """Per-example terms of the training objective, in nats, each [B]: see
        `objectives.objective_terms`, whose "objective" is what training minimises.

        `noise` (default `draw_noise(images)`) fixes the draws of z, so tests and
        evaluations can share them: [k, B, L], or [B, L] for one draw.
        """
        if noise is None:
            noise = self.draw_noise(images)
        elif len(noise.shape) == 2:
            noise = noise[None]
        weights = self.log_weights(images, noise, labels=labels)
        kl = self._kl(weights)
        return objectives.objective_terms(
            self.objective,
            weights["log_likelihood"],
            weights["log_weights"],
            kl,
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
        return distribution.as_step_logs({m.name: m.result() for m in self.metrics})

    def schedule_values(self):
        """The scheduled weights in use, for the logs: {"beta"} or, for capacity, {"capacity"}."""
        if self.capacity is not None:
            return {"capacity": self.capacity}
        return {"beta": self.kl_weight}

    def objective_gradients(self, images, noise=None, labels=None):
        """(terms, gradients): `objective_terms` and the gradients of the loss.

        The loss is the objective's mean over the global batch (see `distribution.replica_mean`), so
        under a strategy the replicas' gradients sum to the one-device gradients.
        """
        with tf.GradientTape() as tape:
            terms = self.objective_terms(images, noise=noise, labels=labels)
            loss = distribution.replica_mean(terms["objective"])
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
        check_images_input(
            x, y, self.image_shape, "fit", self._classes(), self.likelihood != "gaussian"
        )
        if validation_data is not None:
            validation_x, validation_y = (
                validation_data
                if isinstance(validation_data, (tuple, list))
                else (validation_data, None)
            )
            check_images_input(
                validation_x,
                validation_y,
                self.image_shape,
                "validation_data",
                self._classes(),
                self.likelihood != "gaussian",
            )
        return super().fit(x, y, *args, validation_data=validation_data, **kwargs)

    def _classes(self):
        return self.num_classes if self.conditional else 0

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """keras.Model.evaluate on images alone (see `fit`); the ELBO with sampled z."""
        check_images_input(
            x, y, self.image_shape, "evaluate", self._classes(), self.likelihood != "gaussian"
        )
        return super().evaluate(x, y, *args, **kwargs)

    def train_step(self, data):
        images, labels = _inputs_of(data)
        if self.binarize_training_inputs:
            images = self.binarize(images)
        terms, gradients = self.objective_gradients(images, labels=labels)
        self.optimizer.apply(gradients, self.trainable_variables)
        return {**self._record(terms), **distribution.as_step_logs(self.schedule_values())}

    def test_step(self, data):
        # z is sampled, as in training: the ELBO is an expectation over q(z|x), and
        # decoding the posterior mean would overstate it.
        images, labels = _inputs_of(data)
        return self._record(self.objective_terms(images, labels=labels))

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
            "prior": self.prior,
            "num_pseudo_inputs": self.num_pseudo_inputs,
            "top_latent_dims": self.top_latent_dims,
            "top_hidden_units": list(self.top_hidden_units),
            "conditional": self.conditional,
            "num_classes": self.num_classes,
            "input_mean": self.input_mean,
            "input_scale": self.input_scale,
            "product_likelihood": self.product_likelihood,
            "gaussian_mean": self.gaussian_mean,
        }

    @classmethod
    def from_config(cls, config):
        # Models saved before gaussian_mean existed had a sigmoid mean, tables included.
        return super().from_config({"gaussian_mean": "sigmoid", **config})


def _standardization(mean, scale, features, likelihood, prior):
    """(mean, scale) as lists of `features` floats, or (None, None); refuses what would
    mean nothing: one without the other, a non-positive scale, or a likelihood of binary
    or [0, 1] data (standardized values are neither)."""
    if mean is None and scale is None:
        return None, None
    if mean is None or scale is None:
        raise ValueError("input_mean and input_scale come together (or neither)")
    mean = [float(m) for m in np.ravel(mean)]
    scale = [float(s) for s in np.ravel(scale)]
    if len(mean) != features or len(scale) != features:
        raise ValueError(
            f"input_mean and input_scale need {features} values (one per feature), got "
            f"{len(mean)} and {len(scale)}"
        )
    if not all(math.isfinite(m) for m in mean) or not all(
        math.isfinite(s) and s > 0 for s in scale
    ):
        raise ValueError("input_mean must be finite and input_scale finite and positive")
    if likelihood != "gaussian" or prior != "standard":
        raise ValueError(
            "standardized inputs (input_mean, input_scale) take likelihood='gaussian' and "
            f"prior='standard', got {likelihood!r} and {prior!r}"
        )
    return mean, scale


def _inputs_of(data):
    # Keras hands the step the images, (images,) when it packs them, or (images,
    # labels) for a conditional model; `fit` has refused labels for any other. uint8
    # batches (keras_vae's pipelines) become floats here, in the model's graph.
    if isinstance(data, (tuple, list)):
        images, labels = data[0], (data[1] if len(data) > 1 else None)
    else:
        images, labels = data, None
    if images.dtype == "uint8":
        images = to_unit_float(images)
    return images, labels
