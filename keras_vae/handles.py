"""One numpy-in, numpy-out view of a trained VAE, whether a Keras model or a SavedModel.

    handle = handles.load_saved_model("runs/vae-.../saved_model")   # TensorFlow only
    handle = handles.as_handle(vae)                                  # an in-memory VAE
    mean, log_variance = handle.encode(images)      # images float32 [N, H, W] in [0, 1]
    pixels = handle.decode(z)                       # z [N, latent_dims] -> [N, H, W]
    log_w, log_px = handle.log_weights(images, k, [a, b])  # each [k, N]; ValueError for
                                                    # k < 1, a seed not of 2 or too large a call

A conditional model (handle.num_classes > 0) takes the images' labels too, as the
keyword `labels` of encode, decode and log_weights; an unconditional one has
num_classes 0 and refuses labels.

The evaluation, inference and visualize code work through this view, so everything
they compute from a training run can be computed from the deployed SavedModel alone,
in a process that never imports keras_vae's model or training code.
"""

import json
import os

import numpy as np
import tensorflow as tf

from keras_vae.errors import ModelDirError, first_line

# What a keras_vae SavedModel must serve to be usable here (see keras_vae/export.py).
REQUIRED_SIGNATURES = ("encode", "decode", "log_weights")
# The most floats one call may decode: the exported signatures refuse larger requests
# (sample: num_samples * H * W; log_weights: num_samples * batch * H * W), which would
# otherwise run out of memory or for hours. 2**28 floats are 1 GiB: 342,392 28x28 images.
MAX_OUTPUT_FLOATS = 2**28


def check_log_weights_args(images_shape, image_shape, num_samples, seed) -> None:
    """Raises ValueError for arguments `log_weights` cannot use, before TensorFlow sees them."""
    if tuple(images_shape[1:]) != tuple(image_shape):
        raise ValueError(
            f"images must be [N, {', '.join(map(str, image_shape))}], got shape "
            f"{tuple(images_shape)}"
        )
    if not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
    decoded = int(num_samples) * images_shape[0] * int(np.prod(image_shape))
    if decoded > MAX_OUTPUT_FLOATS:
        raise ValueError(
            f"num_samples * batch * values per example is {decoded}, above the limit of "
            f"{MAX_OUTPUT_FLOATS} floats per call; split the request into smaller calls"
        )
    if np.shape(seed) != (2,):
        raise ValueError(f"seed must be two integers, got shape {np.shape(seed)}")


def _likelihood_of(loaded) -> str | None:
    """The likelihood in a SavedModel's run record (None for an older keras_vae's)."""
    metadata = loaded.signatures.get("metadata")
    if metadata is None:
        return None
    record = json.loads(metadata()["json"].numpy().decode())
    return (record.get("model") or {}).get("likelihood")


def check_labels_arg(labels, count, num_classes):
    """The labels as int64 [count] for a conditional model (num_classes > 0), None for
    another; ValueError for labels missing, given to an unconditional model, or out of
    range."""
    if not num_classes:
        if labels is not None:
            raise ValueError("this VAE is not conditional: it takes no labels")
        return None
    if labels is None:
        raise ValueError(
            f"this conditional VAE needs a label per image (integers from 0 to {num_classes - 1})"
        )
    labels = np.asarray(labels)
    if labels.shape != (count,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be {count} integers, got {labels.dtype} of shape {labels.shape}"
        )
    if count and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"labels must be from 0 to {num_classes - 1}, got {labels.min()} to {labels.max()}"
        )
    return labels.astype(np.int64)


class KerasHandle:
    """A keras_vae VAE held in memory.

    jit_compile=True compiles `log_weights` whole with XLA; the default graph is faster
    on CPU (see VAE.seeded_log_weights), and the benchmark times both.
    """

    def __init__(self, model, jit_compile=False):
        self.model = model
        # Whether inputs must lie in [0, 1] (Bernoulli, continuous Bernoulli) or may be
        # any finite value (Gaussian).
        self.unit_interval = model.likelihood != "gaussian"
        self.latent_dims = int(model.code_dims)
        self.num_classes = model.num_classes if model.conditional else 0
        self.image_shape = tuple(model.image_shape)
        self._log_weights = tf.function(
            model.seeded_log_weights,
            jit_compile=jit_compile,
        )
        self._score = tf.function(model.score)

    def encode(self, images, labels=None):
        labels = check_labels_arg(labels, len(images), self.num_classes)
        mean, log_variance = self.model.encode(tf.constant(images, tf.float32), labels)
        return np.asarray(mean), np.asarray(log_variance)

    def decode(self, z, labels=None):
        labels = check_labels_arg(labels, len(z), self.num_classes)
        return np.asarray(self.model.decode_images(tf.constant(z, tf.float32), labels))

    def layer_means(self, images):
        """Posterior means per stochastic layer, a list of [N, size] arrays."""
        return [np.asarray(m) for m in self.model.layer_means(tf.constant(images, tf.float32))]

    def sample_latents(self, num_samples, seed):
        """z ~ p(z), [num_samples, latent_dims]: the model's prior, from an int seed."""
        return np.asarray(self.model.sample_prior(int(num_samples), tf.constant([seed, 0])))

    def log_weights(self, images, num_samples, seed, labels=None):
        check_log_weights_args(np.shape(images), self.image_shape, num_samples, seed)
        labels = check_labels_arg(labels, len(images), self.num_classes)
        out = self._log_weights(
            tf.constant(images),
            tf.constant(num_samples, tf.int32),
            tf.constant(seed, tf.int64),
            None if labels is None else tf.constant(labels),
        )
        return out["log_weights"].numpy(), out["log_likelihood"].numpy()

    def score(self, images, num_samples, seed, labels=None):
        """Per-example {"log_likelihood", "elbo", "reconstruction", "kl"} ([N] each)."""
        check_log_weights_args(np.shape(images), self.image_shape, num_samples, seed)
        labels = check_labels_arg(labels, len(images), self.num_classes)
        out = self._score(
            tf.constant(images),
            tf.constant(num_samples, tf.int32),
            tf.constant(seed, tf.int64),
            None if labels is None else tf.constant(labels),
        )
        return {k: v.numpy() for k, v in out.items()}


class SavedModelHandle:
    """A keras_vae SavedModel, through its named signatures."""

    def __init__(self, loaded, path=None):
        self.loaded = loaded
        self.path = path
        self._encode = loaded.signatures["encode"]
        self._decode = loaded.signatures["decode"]
        self._log_weights = loaded.signatures["log_weights"]
        self.latent_dims = int(self._encode.structured_outputs["mean"].shape[-1])
        self.image_shape = tuple(self._encode.structured_input_signature[1]["images"].shape[1:])
        classes = loaded.signatures.get("classes")
        self.num_classes = int(classes()["num_classes"]) if classes is not None else 0
        self.unit_interval = _likelihood_of(loaded) != "gaussian"

    def _labelled(self, labels, count):
        labels = check_labels_arg(labels, count, self.num_classes)
        return {} if labels is None else {"labels": tf.constant(labels)}

    def encode(self, images, labels=None):
        out = self._encode(
            images=tf.constant(images, tf.float32), **self._labelled(labels, len(images))
        )
        return out["mean"].numpy(), out["log_variance"].numpy()

    def decode(self, z, labels=None):
        out = self._decode(z=tf.constant(z, tf.float32), **self._labelled(labels, len(z)))
        return out["images"].numpy()

    def layer_means(self, images):
        """Posterior means per stochastic layer; a one-layer model's is its code's."""
        signature = self.loaded.signatures.get("layer_means")
        if signature is None:
            return None
        out = signature(images=tf.constant(images, tf.float32))
        return [out[f"mean_{i + 1}"].numpy() for i in range(len(out))]

    def sample_latents(self, num_samples, seed):
        """z ~ p(z), as the SavedModel's `sample` signature draws them (its prior's)."""
        sample = self.loaded.signatures["sample"]
        if "z" not in sample.structured_outputs:  # An older keras_vae's: N(0, I) only.
            return np.random.default_rng(seed).standard_normal((num_samples, self.latent_dims))
        if self.num_classes:  # z does not depend on the labels the images are drawn with.
            size = {"labels": tf.zeros([num_samples], tf.int64)}
        else:
            size = {"num_samples": tf.constant(num_samples, tf.int32)}
        return sample(seed=tf.constant(seed, tf.int64), **size)["z"].numpy()

    def log_weights(self, images, num_samples, seed, labels=None):
        check_log_weights_args(np.shape(images), self.image_shape, num_samples, seed)
        out = self._log_weights(
            images=tf.constant(images),
            num_samples=tf.constant(num_samples, tf.int32),
            seed=tf.constant(seed, tf.int64),
            **self._labelled(labels, len(images)),
        )
        return out["log_weights"].numpy(), out["log_likelihood"].numpy()

    def score(self, images, num_samples, seed, labels=None):
        """Per-example {"log_likelihood", "elbo", "reconstruction", "kl"}: the SavedModel's
        `score` signature (exported by keras_vae since it has one)."""
        check_log_weights_args(np.shape(images), self.image_shape, num_samples, seed)
        signature = self.loaded.signatures.get("score")
        if signature is None:
            return self._score_from_log_weights(images, num_samples, seed, labels)
        out = signature(
            images=tf.constant(images, tf.float32),
            num_samples=tf.constant(num_samples, tf.int32),
            seed=tf.constant(seed, tf.int64),
            **self._labelled(labels, len(images)),
        )
        return {k: v.numpy() for k, v in out.items()}

    def _score_from_log_weights(self, images, num_samples, seed, labels):
        # An older keras_vae's SavedModel (one Gaussian layer, N(0, I) prior, no score
        # signature): the same numbers from log_weights, which draws the same z for the
        # same seed, and the closed-form KL of encode's posterior.
        log_w, log_px = self.log_weights(images, num_samples, seed, labels)
        mean, log_variance = self.encode(images, labels)
        kl = -0.5 * np.sum(1 + log_variance - mean**2 - np.exp(log_variance), axis=-1)
        top = log_w.max(axis=0)
        reconstruction = -log_px.mean(axis=0)
        return {
            "log_likelihood": top + np.log(np.mean(np.exp(log_w - top), axis=0)),
            "elbo": -(reconstruction + kl),
            "reconstruction": reconstruction,
            "kl": kl,
        }


def load_saved_model(path: str) -> SavedModelHandle:
    """The SavedModel at `path`; ModelDirError if it is missing or not keras_vae's."""
    if not os.path.isdir(path):
        raise ModelDirError(f"no SavedModel at {path} (not a directory)")
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise ModelDirError(f"{path} is not a SavedModel (no saved_model.pb)")
    try:
        loaded = tf.saved_model.load(path)
    except (OSError, ValueError, tf.errors.OpError) as e:
        raise ModelDirError(f"cannot load SavedModel {path}: {first_line(e)}") from None
    missing = set(REQUIRED_SIGNATURES) - set(loaded.signatures)
    if missing:
        raise ModelDirError(
            f"SavedModel {path} was not written by keras_vae "
            f"(no {', '.join(sorted(missing))} signature)"
        )
    return SavedModelHandle(loaded, path)


def as_handle(model):
    """`model` as a handle: handles pass through, a keras_vae VAE is wrapped."""
    if isinstance(model, (KerasHandle, SavedModelHandle)):
        return model
    if hasattr(model, "decode_images") and hasattr(model, "encode"):
        return KerasHandle(model)
    raise TypeError(f"expected a keras_vae VAE or handle, got {type(model).__name__}")
