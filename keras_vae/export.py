"""Exports a trained VAE as a TF SavedModel with named serving signatures.

The SavedModel needs neither keras_vae nor Keras to load:
    m = tf.saved_model.load(path)
    m.signatures["encode"](images=x)            # {"mean", "log_variance"}
    m.signatures["decode"](z=z)                 # {"images"}
    m.signatures["sample"](num_samples=n, seed=s)  # {"images", "z"}: z ~ p(z), same seed same draws
    m.signatures["reconstruct"](images=x)       # {"images"}
    m.signatures["interpolate"](start_images=a, end_images=b, num_steps=n)
        # {"images": [batch, n, H, W], "z": [batch, n, latent_dims]}: straight paths
        # between the posterior means, ends included
    m.signatures["log_weights"](images=x, num_samples=k, seed=[a, b])
        # {"log_weights", "log_likelihood"}: [k, batch] log p(x,z) - log q(z|x) and log p(x|z)
        # for k draws z ~ q(z|x); what the evaluate command needs (ELBO, NLL).
    m.signatures["metadata"]()                  # {"json"}: what the model was trained on
    m.signatures["serving_default"]             # encode again: TF Serving's default
The run's record (its config.json: model, data and training settings, and the data
source with its checksums, split seed, validation fraction, image shape, binarization
and likelihood) is served by `metadata` and also stored as the plain file
`assets.extra/keras_vae_run.json`, which keras_vae reads without TensorFlow, so that a
bare SavedModel is scored on the same split as its run.
Images are float32 [batch, height, width] in [0, 1]; inputs of another shape or
dtype are rejected by the signature rather than broadcast. Every signature also
answers a bad value with tf.errors.InvalidArgumentError and a one-line reason,
before any maths: pixels that are NaN, infinite or outside [0, 1] ("images must be
finite and in [0, 1]"), a non-finite z, num_samples < 1, num_steps < 2, seeds of
the wrong shape, and requests that would decode more than
`handles.MAX_OUTPUT_FLOATS` (2**28) floats in one call (num_samples * H * W for
sample, num_samples * batch * H * W for log_weights, batch * num_steps * H * W for
interpolate: 342,392 28x28 images), which are to be split into smaller calls.
"""

import json
import os

import keras
import tensorflow as tf

from keras_vae import handles, model_dir


def export_saved_model(model, path: str, record: dict | None = None) -> None:
    """Writes `model`'s serving signatures to the SavedModel directory `path`.

    record: what the model was trained on (a run's config.json); served by the
    `metadata` signature and written to assets.extra/keras_vae_run.json. Without one
    (a model built in Python), the record holds the model's own settings only.
    """
    record = dict(record) if record is not None else {"model": model.get_config()}
    record_json = json.dumps(record, sort_keys=True)
    shape = list(model.image_shape)  # [H, W] grey, [H, W, C] colour or [D] vectors
    images_spec = tf.TensorSpec([None, *shape], tf.float32, name="images")
    z_spec = tf.TensorSpec([None, model.code_dims], tf.float32, name="z")

    pixels = model.pixels

    # Graph ops run in any order unless told: each check runs under
    # tf.control_dependencies before the maths, so a bad input fails with its own
    # message rather than somewhere inside the decoder (or not at all: NaN pixels
    # would come back as NaN codes).
    def after(checks, *tensors):
        with tf.control_dependencies(checks):
            return [tf.identity(t) for t in tensors]

    # Loaded signatures do not check shapes themselves: a [N, 784] batch would be
    # reshaped and silently accepted. ensure_shape makes it an error.
    def checked_images(images, name="images"):
        images = tf.ensure_shape(images, [None, *shape])
        if model.likelihood == "gaussian":  # Any real value, as standardized columns are.
            valid = tf.reduce_all(tf.math.is_finite(images))
            return after([tf.debugging.Assert(valid, [f"{name} must be finite"])], images)[0]
        # False for NaN too, so one reduction covers both.
        valid = tf.reduce_all((images >= 0.0) & (images <= 1.0))
        return after(
            [tf.debugging.Assert(valid, [f"{name} must be finite and in [0, 1]"])], images
        )[0]

    def checked_count(count, name, minimum, floats_per_unit, requirement):
        """A scalar count >= minimum whose output, count * floats_per_unit floats, is in bounds."""
        count = tf.ensure_shape(count, [])
        total = tf.cast(count, tf.int64) * tf.cast(floats_per_unit, tf.int64)
        checks = [
            tf.debugging.Assert(count >= minimum, [f"{name} must be {requirement}"]),
            tf.debugging.Assert(
                total <= handles.MAX_OUTPUT_FLOATS,
                [
                    f"{name} asks for more than {handles.MAX_OUTPUT_FLOATS} output floats in "
                    "one call; split the request into smaller calls"
                ],
            ),
        ]
        return after(checks, count)[0]

    if model.conditional:
        archive = keras.export.ExportArchive()
        archive.track(model)
        _add_conditional_endpoints(
            archive, model, images_spec, z_spec, checked_images, checked_count, after
        )
        archive.add_endpoint(
            "metadata", lambda: {"json": tf.constant(record_json)}, input_signature=[]
        )
        _write(archive, path, record)
        return

    def encode(images):
        mean, log_variance = model.encode(checked_images(images))
        return {"mean": mean, "log_variance": log_variance}

    def decode(z):
        z = tf.ensure_shape(z, [None, model.code_dims])
        (z,) = after(
            [tf.debugging.Assert(tf.reduce_all(tf.math.is_finite(z)), ["z must be finite"])], z
        )
        return {"images": model.decode_images(z)}

    def sample(num_samples, seed):
        num_samples = checked_count(num_samples, "num_samples", 1, pixels, "positive")
        seed = tf.ensure_shape(seed, [])
        # Stateless, so the same seed gives the same images in every process.
        z = model.sample_prior(num_samples, tf.stack([seed, 0]))
        return {"images": model.decode_images(z), "z": z}

    def reconstruct(images):
        # The posterior mean, not a sample: serving should be deterministic.
        mean, _ = model.encode(checked_images(images))
        return {"images": model.decode_images(mean)}

    def interpolate(start_images, end_images, num_steps):
        start_images = checked_images(start_images, "start_images")
        end_images = checked_images(end_images, "end_images")
        batch = tf.shape(start_images)[0]
        # Without this, a mismatched batch could fail first in the subtraction below
        # with a message that names no input.
        start_images, end_images = after(
            [
                tf.debugging.assert_equal(
                    batch,
                    tf.shape(end_images)[0],
                    message="start_images and end_images must hold as many images",
                )
            ],
            start_images,
            end_images,
        )
        num_steps = checked_count(
            num_steps, "num_steps", 2, batch * pixels, "at least 2 (the two ends)"
        )
        start, _ = model.encode(start_images)
        end, _ = model.encode(end_images)
        t = tf.reshape(tf.linspace(0.0, 1.0, num_steps), [1, -1, 1])
        z = start[:, None] + t * (end - start)[:, None]  # [batch, steps, latent]
        images = model.decode_images(tf.reshape(z, [-1, model.code_dims]))
        out_shape = tf.concat([tf.shape(z)[:2], shape], axis=0)
        return {"images": tf.reshape(images, out_shape), "z": z}

    # Not XLA-compiled as a whole: see VAE.seeded_log_weights for why this is faster.
    @tf.function(
        input_signature=[
            images_spec,
            tf.TensorSpec([], tf.int32, name="num_samples"),
            tf.TensorSpec([2], tf.int64, name="seed"),
        ],
    )
    def log_weights(images, num_samples, seed):
        images = checked_images(images)
        num_samples = checked_count(
            num_samples, "num_samples", 1, tf.shape(images)[0] * pixels, "positive"
        )
        seed = tf.ensure_shape(seed, [2])
        out = model.seeded_log_weights(images, num_samples, seed)
        return {"log_weights": out["log_weights"], "log_likelihood": out["log_likelihood"]}

    log_weights.get_concrete_function()  # ExportArchive takes traced tf.functions.

    @tf.function(
        input_signature=[
            images_spec,
            tf.TensorSpec([], tf.int32, name="num_samples"),
            tf.TensorSpec([2], tf.int64, name="seed"),
        ],
    )
    def score(images, num_samples, seed):
        images = checked_images(images)
        num_samples = checked_count(
            num_samples, "num_samples", 1, tf.shape(images)[0] * pixels, "positive"
        )
        return model.score(images, num_samples, tf.ensure_shape(seed, [2]))

    score.get_concrete_function()

    archive = keras.export.ExportArchive()
    archive.track(model)
    # The first endpoint is also the SavedModel's serving_default.
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
            tf.TensorSpec([None, *shape], tf.float32, name="start_images"),
            tf.TensorSpec([None, *shape], tf.float32, name="end_images"),
            tf.TensorSpec([], tf.int32, name="num_steps"),
        ],
    )
    archive.add_endpoint("log_weights", log_weights)
    archive.add_endpoint("score", score)
    if model.top_latent_dims:
        # Each layer's posterior means, for the active units per layer (Burda et al.).
        archive.add_endpoint(
            "layer_means",
            lambda images: {
                f"mean_{i + 1}": m for i, m in enumerate(model.layer_means(checked_images(images)))
            },
            input_signature=[images_spec],
        )
    archive.add_endpoint("metadata", lambda: {"json": tf.constant(record_json)}, input_signature=[])
    _write(archive, path, record)


def _write(archive, path: str, record: dict) -> None:
    archive.write_out(path, verbose=False)
    os.makedirs(os.path.join(path, model_dir.RUN_RECORD_FOLDER), exist_ok=True)
    model_dir.write_json(os.path.join(path, model_dir.SAVED_MODEL_RECORD), record)


def _add_conditional_endpoints(
    archive, model, images_spec, z_spec, checked_images, checked_count, after
):
    """The signatures of a conditional VAE: each takes a label per image or code.

    encode(images, labels), decode(z, labels), sample(labels, seed): an image of each
    label from z ~ p(z); reconstruct(images, labels); transfer(images, labels,
    target_labels): each image encoded with its label and decoded with its target label
    (style and content, Kingma et al. 2014); log_weights(images, labels, num_samples,
    seed): of log p(x|y); classes(): {"num_classes"}.
    """
    classes = model.num_classes
    labels_spec = tf.TensorSpec([None], tf.int64, name="labels")
    pixels = model.pixels

    def checked_labels(labels, count, name="labels"):
        labels = tf.ensure_shape(labels, [None])
        checks = [
            tf.debugging.assert_equal(
                tf.shape(labels)[0], count, message=f"{name} must hold one label per image"
            ),
            tf.debugging.Assert(
                tf.reduce_all((labels >= 0) & (labels < classes)),
                [f"{name} must be integers from 0 to {classes - 1}"],
            ),
        ]
        return after(checks, labels)[0]

    def encode(images, labels):
        images = checked_images(images)
        labels = checked_labels(labels, tf.shape(images)[0])
        mean, log_variance = model.encode(images, labels)
        return {"mean": mean, "log_variance": log_variance}

    def decode(z, labels):
        z = tf.ensure_shape(z, [None, model.code_dims])
        (z,) = after(
            [tf.debugging.Assert(tf.reduce_all(tf.math.is_finite(z)), ["z must be finite"])], z
        )
        return {"images": model.decode_images(z, checked_labels(labels, tf.shape(z)[0]))}

    def sample(labels, seed):
        labels = checked_labels(labels, tf.shape(labels)[0])
        z = model.sample_prior(tf.shape(labels)[0], tf.stack([tf.ensure_shape(seed, []), 0]))
        return {"images": model.decode_images(z, labels), "z": z}

    def reconstruct(images, labels):
        images = checked_images(images)
        labels = checked_labels(labels, tf.shape(images)[0])
        mean, _ = model.encode(images, labels)
        return {"images": model.decode_images(mean, labels)}

    def transfer(images, labels, target_labels):
        images = checked_images(images)
        count = tf.shape(images)[0]
        labels = checked_labels(labels, count)
        target_labels = checked_labels(target_labels, count, "target_labels")
        mean, _ = model.encode(images, labels)
        return {"images": model.decode_images(mean, target_labels)}

    @tf.function(
        input_signature=[
            images_spec,
            labels_spec,
            tf.TensorSpec([], tf.int32, name="num_samples"),
            tf.TensorSpec([2], tf.int64, name="seed"),
        ],
    )
    def log_weights(images, labels, num_samples, seed):
        images = checked_images(images)
        labels = checked_labels(labels, tf.shape(images)[0])
        num_samples = checked_count(
            num_samples, "num_samples", 1, tf.shape(images)[0] * pixels, "positive"
        )
        out = model.seeded_log_weights(images, num_samples, tf.ensure_shape(seed, [2]), labels)
        return {"log_weights": out["log_weights"], "log_likelihood": out["log_likelihood"]}

    log_weights.get_concrete_function()

    @tf.function(
        input_signature=[
            images_spec,
            labels_spec,
            tf.TensorSpec([], tf.int32, name="num_samples"),
            tf.TensorSpec([2], tf.int64, name="seed"),
        ],
    )
    def score(images, labels, num_samples, seed):
        images = checked_images(images)
        labels = checked_labels(labels, tf.shape(images)[0])
        num_samples = checked_count(
            num_samples, "num_samples", 1, tf.shape(images)[0] * pixels, "positive"
        )
        return model.score(images, num_samples, tf.ensure_shape(seed, [2]), labels)

    score.get_concrete_function()
    seed_spec = tf.TensorSpec([], tf.int64, name="seed")
    target_spec = tf.TensorSpec([None], tf.int64, name="target_labels")
    archive.add_endpoint("encode", encode, input_signature=[images_spec, labels_spec])
    archive.add_endpoint("decode", decode, input_signature=[z_spec, labels_spec])
    archive.add_endpoint("sample", sample, input_signature=[labels_spec, seed_spec])
    archive.add_endpoint("reconstruct", reconstruct, input_signature=[images_spec, labels_spec])
    archive.add_endpoint(
        "transfer", transfer, input_signature=[images_spec, labels_spec, target_spec]
    )
    archive.add_endpoint("log_weights", log_weights)
    archive.add_endpoint("score", score)
    archive.add_endpoint(
        "classes", lambda: {"num_classes": tf.constant(classes, tf.int64)}, input_signature=[]
    )
