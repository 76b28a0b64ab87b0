"""TensorBoard output: projector files read back by TensorBoard, and the callback's images."""

import io
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from PIL import Image
from tensorboard.backend.event_processing import (
    data_provider,
    event_accumulator,
    plugin_event_multiplexer,
)
from tensorboard.plugins import base_plugin, projector
from tensorboard.plugins.projector import metadata as projector_metadata
from tensorboard.plugins.projector import projector_plugin
from werkzeug.test import Client

from keras_vae import callbacks, figures, latent
from keras_vae import projector as projector_lib
from keras_vae.model import VAE

CLASSES = ("zero", "one", "two", "three")


def _points(n=30, latent_dims=3, size=6, seed=0):
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((n, latent_dims)).astype(np.float32)
    labels = rng.integers(0, len(CLASSES), n)
    images = rng.random((n, size, size)).astype(np.float32)
    return means, labels, images


@pytest.fixture
def written(tmp_path):
    means, labels, images = _points()
    log_dir = str(tmp_path / "logs" / "projector")
    files = projector_lib.write_projector(log_dir, means, labels, CLASSES, images)
    return log_dir, files, (means, labels, images)


def _config(log_dir):
    config = projector.ProjectorConfig()
    with open(os.path.join(log_dir, projector_metadata.PROJECTOR_FILENAME)) as f:
        text_format.Parse(f.read(), config)
    return config


def test_files_are_listed_and_no_temporaries_remain(written):
    log_dir, files, _ = written
    assert sorted(files) == sorted(os.listdir(log_dir))
    assert {"sprite.png", "metadata.tsv", "projector_config.pbtxt", "checkpoint"} <= set(files)
    assert any("tfevents" in name for name in files)  # What makes the folder a run.


def test_config_names_the_embedding_with_relative_paths(written):
    log_dir, _, _ = written
    (embedding,) = _config(log_dir).embeddings
    assert embedding.metadata_path == "metadata.tsv"
    assert embedding.sprite.image_path == "sprite.png"
    assert list(embedding.sprite.single_image_dim) == [6, 6]
    tensor = tf.train.load_checkpoint(log_dir).get_tensor(embedding.tensor_name)
    np.testing.assert_allclose(tensor, written[2][0])


def test_metadata_has_a_header_and_a_row_per_point(written):
    log_dir, _, (_, labels, _) = written
    with open(os.path.join(log_dir, "metadata.tsv")) as f:
        rows = [line.rstrip("\n").split("\t") for line in f]
    assert rows[0] == ["index", "label", "class"]
    assert rows[1:] == [[str(i), str(y), CLASSES[y]] for i, y in enumerate(labels)]


def test_sprite_is_a_square_grid_of_inverted_images(written):
    log_dir, _, (_, _, images) = written
    sprite = np.asarray(Image.open(os.path.join(log_dir, "sprite.png")))
    side = math.ceil(math.sqrt(len(images)))
    assert sprite.shape == (side * 6, side * 6) and sprite.dtype == np.uint8
    for i in (0, 7, len(images) - 1):
        r, c = divmod(i, side)
        tile = sprite[r * 6 : (r + 1) * 6, c * 6 : (c + 1) * 6] / 255.0
        # Inverted: dark digits on the projector's white canvas.
        np.testing.assert_allclose(tile, 1.0 - images[i], atol=0.5 / 255 + 1e-6)
    assert np.all(sprite[-6:, -6:] == 255)  # Unused tiles are blank.


def test_max_points_keeps_the_first(tmp_path):
    means, labels, images = _points(n=30, latent_dims=2)
    log_dir = str(tmp_path / "projector")
    projector_lib.write_projector(log_dir, means, labels, CLASSES, images, max_points=10)
    (embedding,) = _config(log_dir).embeddings
    np.testing.assert_allclose(
        tf.train.load_checkpoint(log_dir).get_tensor(embedding.tensor_name), means[:10]
    )
    assert Image.open(os.path.join(log_dir, "sprite.png")).size == (4 * 6, 4 * 6)


def test_colour_images_make_a_colour_sprite_and_vectors_none(tmp_path):
    means, labels, _ = _points(n=5, latent_dims=2)
    colour = np.random.default_rng(0).random((5, 3, 2, 3)).astype(np.float32)
    log_dir = str(tmp_path / "colour")
    projector_lib.write_projector(log_dir, means, labels, CLASSES, colour)
    sprite = np.asarray(Image.open(os.path.join(log_dir, "sprite.png")))
    assert sprite.shape == (3 * 3, 3 * 2, 3)  # 3x3 tiles of 3x2 RGB images.
    np.testing.assert_array_equal(sprite[3:6, 0:2], np.round(colour[3] * 255))  # Not inverted.
    assert list(_config(log_dir).embeddings[0].sprite.single_image_dim) == [2, 3]
    log_dir = str(tmp_path / "vectors")
    written = projector_lib.write_projector(log_dir, means, labels, CLASSES, None)
    assert "sprite.png" not in written and not os.path.exists(os.path.join(log_dir, "sprite.png"))
    assert not _config(log_dir).embeddings[0].sprite.image_path


@pytest.mark.parametrize(
    "means, labels, images, message",
    [
        (np.zeros(5), np.zeros(5), np.zeros((5, 2, 2)), "2-D"),
        (np.zeros((5, 2)), np.zeros(4), np.zeros((5, 2, 2)), "differ in length"),
        (np.zeros((5, 2)), np.zeros(5), np.zeros((6, 2, 2)), "differ in length"),
        (np.zeros((5, 2)), np.zeros(5), np.zeros((5, 4)), r"\[N, H, W\]"),
        (np.zeros((5, 2)), np.zeros(5), np.zeros((5, 4, 4, 2)), r"\[N, H, W, 3\]"),
        (np.zeros((0, 2)), np.zeros(0), np.zeros((0, 2, 2)), "empty"),
        (np.zeros((17, 2)), np.zeros(17), np.zeros((17, 1, 2100)), "max_points <= 9"),
    ],
)
def test_bad_inputs_are_refused_before_writing(tmp_path, means, labels, images, message):
    log_dir = tmp_path / "projector"
    with pytest.raises(ValueError, match=message):
        projector_lib.write_projector(str(log_dir), means, labels, CLASSES, images)
    assert not log_dir.exists()


def test_tensorboard_projector_plugin_serves_the_embedding(written):
    log_dir, _, (means, labels, _) = written
    logs = os.path.dirname(log_dir)
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(logs)
    multiplexer.Reload()
    plugin = projector_plugin.ProjectorPlugin(
        base_plugin.TBContext(
            logdir=logs, data_provider=data_provider.MultiplexerDataProvider(multiplexer, logs)
        )
    )
    apps = plugin.get_plugin_apps()

    def get(route, **args):
        response = Client(apps[route]).get("/", query_string=args)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_data()

    assert json.loads(get("/runs")) == ["projector"]
    (embedding,) = json.loads(get("/info", run="projector"))["embeddings"]
    assert embedding["tensorShape"] == list(means.shape)
    name = embedding["tensorName"]
    served = np.frombuffer(get("/tensor", run="projector", name=name), np.float32)
    np.testing.assert_allclose(served.reshape(means.shape), means)
    rows = get("/metadata", run="projector", name=name).decode().splitlines()
    assert len(rows) == len(labels) + 1 and rows[1].split("\t")[1] == str(labels[0])
    sprite = Image.open(io.BytesIO(get("/sprite_image", run="projector", name=name)))
    assert sprite.size == (36, 36)


def test_manifold_latents_vary_the_two_most_informative_dimensions():
    z, dims, cols = figures.manifold_latents(3, np.array([0.1, 2.0, 0.0, 1.0]))
    assert dims == (1, 3) and cols == 3 and z.shape == (9, 4)
    grid = figures.normal_quantile_grid(3)
    np.testing.assert_array_equal(z[:, [1, 3]], grid)
    assert not z[:, [0, 2]].any()
    assert "z[1]" in figures.manifold_description(3, dims, 4)
    z, dims, cols = figures.manifold_latents(3, np.array([0.1, 2.0]))
    np.testing.assert_array_equal(z, grid)
    z, dims, cols = figures.manifold_latents(3, np.array([0.5]))
    assert z.shape == (3, 1) and cols == 3 and np.all(np.diff(z[:, 0]) > 0)


def test_kl_per_dimension_averages_the_closed_form():
    mean = np.array([[1.0, 0.0], [3.0, 0.0]])
    log_variance = np.array([[0.0, np.log(2.0)], [0.0, np.log(2.0)]])
    np.testing.assert_allclose(
        latent.kl_per_dimension(mean, log_variance), [2.5, 0.5 * (1 - np.log(2.0))]
    )


def test_principal_components_find_the_line():
    t = np.linspace(-1, 1, 20)
    x = np.stack([t, 2 * t, -t], axis=1) + 5.0
    pcs, _ = latent.principal_components(x)
    np.testing.assert_allclose(np.abs(pcs[:, 0]), np.abs(t) * np.sqrt(6), atol=1e-6)
    np.testing.assert_allclose(pcs[:, 1], 0.0, atol=1e-6)


def _image_summaries(log_dir):
    acc = event_accumulator.EventAccumulator(log_dir, size_guidance={"tensors": 0})
    acc.Reload()
    shapes = {}
    for tag in acc.Tags()["tensors"]:
        (event,) = acc.Tensors(tag)
        width, height, png = tf.make_ndarray(event.tensor_proto)
        image = np.asarray(Image.open(io.BytesIO(png)))
        assert image.shape[:2] == (int(height), int(width))
        shapes[tag] = image.shape
    return acc, shapes


@pytest.mark.parametrize("latent_dims", [2, 3])
def test_image_summaries_include_manifold_and_encodings(tmp_path, latent_dims):
    model = VAE(image_shape=(4, 4), latent_dims=latent_dims, hidden_units=(8,), activation="tanh")
    model(np.zeros((1, 4, 4), np.float32))
    images, labels = np.random.default_rng(0).random((12, 4, 4)), np.arange(12) % 3
    callback = callbacks.ImageSummaries(
        str(tmp_path),
        images,
        every=1,
        epochs=1,
        seed=0,
        test_labels=labels,
        class_names=("a", "b", "c"),
        manifold_size=5,
    )
    callback.set_model(model)
    callback.on_epoch_end(0)
    callback.on_train_end()
    acc, shapes = _image_summaries(str(tmp_path))
    assert set(shapes) == {"reconstructions", "samples", "manifold", "encodings"}
    assert shapes["manifold"][:2] == (5 * 4, 5 * 4)
    width, height = (round(d * figures.FIGURE_DPI) for d in figures.ENCODINGS_FIGSIZE)
    assert shapes["encodings"] == (height, width, 3)
    description = acc.SummaryMetadata("manifold").summary_description
    assert ("largest average KL" in description) == (latent_dims > 2)


def test_image_summaries_without_labels_skip_encodings(tmp_path):
    model = VAE(image_shape=(4, 4), latent_dims=1, hidden_units=(8,), activation="tanh")
    model(np.zeros((1, 4, 4), np.float32))
    callback = callbacks.ImageSummaries(
        str(tmp_path), np.zeros((4, 4, 4)), every=1, epochs=1, seed=0, manifold_size=5
    )
    callback.set_model(model)
    callback.on_epoch_end(0)
    callback.on_train_end()
    _, shapes = _image_summaries(str(tmp_path))
    assert set(shapes) == {"reconstructions", "samples", "manifold"}
    assert shapes["manifold"][:2] == (4, 5 * 4)


def test_training_run_writes_projector_and_new_images(trained_run):
    path, _ = trained_run
    logs = os.path.join(path, "logs")
    (embedding,) = _config(os.path.join(logs, "projector")).embeddings
    tensor = tf.train.load_checkpoint(os.path.join(logs, "projector")).get_tensor(
        embedding.tensor_name
    )
    assert tensor.shape == (60, 2)  # The synthetic test split, latent_dims=2.
    acc = event_accumulator.EventAccumulator(os.path.join(logs, "images"))
    acc.Reload()
    assert {"manifold", "encodings"} <= set(acc.Tags()["tensors"])
