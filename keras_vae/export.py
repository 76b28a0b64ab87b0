"""Exports a trained VAE as a TF SavedModel with named serving signatures.

The SavedModel needs neither keras_vae nor Keras to load:
    m = tf.saved_model.load(path)
    m.signatures["encode"](images=x)            # {"mean", "log_variance"}
    m.signatures["decode"](z=z)                 # {"images"}
    m.signatures["sample"](num_samples=n, seed=s)  # {"images"}, the same for the same seed
    m.signatures["reconstruct"](images=x)       # {"images"}
    m.signatures["interpolate"](start_images=a, end_images=b, num_steps=n)
        # {"images": [batch, n, H, W], "z": [batch, n, latent_dims]}: straight paths
        # between the posterior means, ends included
    m.signatures["log_weights"](images=x, num_samples=k, seed=[a, b])
        # {"log_weights", "log_likelihood"}: [k, batch] log p(x,z) - log q(z|x) and log p(x|z)
        # for k draws z ~ q(z|x); what the evaluate command needs (ELBO, NLL).
Images are float32 [batch, height, width] in [0, 1]; inputs of another shape or
dtype are rejected by the signature rather than broadcast.
"""

import keras
import tensorflow as tf

from keras_vae import importance


def export_saved_model(model, path: str) -> None:
    """Writes `model`'s serving signatures to the SavedModel directory `path`."""
    height, width = model.image_shape
    images_spec = tf.TensorSpec([None, height, width], tf.float32, name="images")
    z_spec = tf.TensorSpec([None, model.latent_dims], tf.float32, name="z")

    # Loaded signatures do not check shapes themselves: a [N, 784] batch would be
    # reshaped and silently accepted. ensure_shape makes it an error.
    def checked_images(images):
        return tf.ensure_shape(images, [None, height, width])

    def encode(images):
        mean, log_variance = model.encode(checked_images(images))
        return {"mean": mean, "log_variance": log_variance}

    def decode(z):
        return {"images": model.decode_images(tf.ensure_shape(z, [None, model.latent_dims]))}

    def sample(num_samples, seed):
        # Stateless, so the same seed gives the same images in every process.
        checks = [tf.debugging.assert_positive(num_samples, message="num_samples must be positive")]
        with tf.control_dependencies(checks):
            z = tf.random.stateless_normal(
                tf.stack([num_samples, model.latent_dims]), seed=tf.stack([seed, 0])
            )
        return {"images": model.decode_images(z)}

    def reconstruct(images):
        # The posterior mean, not a sample: serving should be deterministic.
        mean, _ = model.encode(checked_images(images))
        return {"images": model.decode_images(mean)}

    def interpolate(start_images, end_images, num_steps):
        checks = [
            tf.debugging.assert_greater_equal(
                num_steps, 2, message="num_steps must be at least 2 (the two ends)"
            ),
            tf.debugging.assert_equal(
                tf.shape(start_images)[0],
                tf.shape(end_images)[0],
                message="start_images and end_images must hold as many images",
            ),
        ]
        # Graph ops run in any order unless told: without this, a mismatched batch
        # could fail first in the subtraction below with a message that names no input.
        with tf.control_dependencies(checks):
            start_images = tf.identity(start_images)
            end_images = tf.identity(end_images)
            num_steps = tf.identity(num_steps)
        start, _ = model.encode(checked_images(start_images))
        end, _ = model.encode(checked_images(end_images))
        t = tf.reshape(tf.linspace(0.0, 1.0, num_steps), [1, -1, 1])
        z = start[:, None] + t * (end - start)[:, None]  # [batch, steps, latent]
        images = model.decode_images(tf.reshape(z, [-1, model.latent_dims]))
        shape = tf.concat([tf.shape(z)[:2], [height, width]], axis=0)
        return {"images": tf.reshape(images, shape), "z": z}

    # Not XLA-compiled as a whole: see keras_vae/importance.py for why this is faster.
    @tf.function(
        input_signature=[
            images_spec,
            tf.TensorSpec([], tf.int32, name="num_samples"),
            tf.TensorSpec([2], tf.int64, name="seed"),
        ],
    )
    def log_weights(images, num_samples, seed):
        out = importance.log_weights(model, checked_images(images), num_samples, seed)
        return {"log_weights": out["log_weights"], "log_likelihood": out["log_likelihood"]}

    log_weights.get_concrete_function()  # ExportArchive takes traced tf.functions.

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("encode", encode, input_signature=[images_spec])
    archive.add_endpoint("decode", decode, input_signature=[z_spec])
    archive.add_endpoint(
        "sample",
        sample,
        input_signature=[
            tf.TensorSpec([], tf.int32, name="num_samples"),
            tf.TensorSpec([], tf.int64, name="seed"),
        ],
    )
    archive.add_endpoint("reconstruct", reconstruct, input_signature=[images_spec])
    archive.add_endpoint(
        "interpolate",
        interpolate,
        input_signature=[
            tf.TensorSpec([None, height, width], tf.float32, name="start_images"),
            tf.TensorSpec([None, height, width], tf.float32, name="end_images"),
            tf.TensorSpec([], tf.int32, name="num_steps"),
        ],
    )
    archive.add_endpoint("log_weights", log_weights)
    archive.write_out(path, verbose=False)
