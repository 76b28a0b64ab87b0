"""One short training run writes a complete model directory; an existing run is never touched."""

import json
import os

import numpy as np
import pytest
from conftest import tiny_config
from tensorboard.backend.event_processing import event_accumulator

from keras_vae import model_dir, training
from keras_vae.errors import ModelDirError


def _scalars(folder):
    acc = event_accumulator.EventAccumulator(folder, size_guidance={"tensors": 0, "images": 0})
    acc.Reload()
    return acc


def test_model_directory_layout(trained_run):
    path, _ = trained_run
    for name in (
        "config.json",
        "metrics.json",
        "checkpoints/latest.keras",
        "checkpoints/best.keras",
        "saved_model/saved_model.pb",
        "figures/reconstruction.png",
        "figures/samples.png",
        "figures/encodings.png",
        "figures/manifold.png",
    ):
        assert os.path.isfile(os.path.join(path, name)), name
    leftovers = [n for _, _, files in os.walk(path) for n in files if n.startswith(".tmp")]
    assert not leftovers and not os.path.exists(os.path.join(path, "saved_model.tmp"))


def test_config_records_the_resolved_config_and_data_source(trained_run):
    path, _ = trained_run
    with open(os.path.join(path, "config.json")) as f:
        written = json.load(f)
    assert written["data"]["binarize"] == "dynamic"  # "auto", resolved for a Bernoulli model
    assert written["data_source"]["kind"] == "idx"
    assert written["data_source"]["num_train"] == 180
    assert written["data_source"]["num_validation"] == 20
    assert written["model"]["hidden_units"] == [16]
    assert "tensorflow" in written["versions"]


def test_metrics_hold_each_split(trained_run):
    path, metrics = trained_run
    with open(os.path.join(path, "metrics.json")) as f:
        assert json.load(f) == metrics
    for split in ("train", "validation", "test"):
        m = metrics[split]
        assert m["elbo"] == pytest.approx(-(m["reconstruction"] + m["kl"]), rel=1e-4)
        assert 0 < m["reconstruction"] < 784 * np.log(2) + 1
        assert m["kl"] >= 0
    assert metrics["epochs"] == 3


def test_tensorboard_logs_scalars_and_images(trained_run):
    path, _ = trained_run
    logs = os.path.join(path, "logs")
    train = _scalars(os.path.join(logs, "train")).Tags()["tensors"]
    validation = _scalars(os.path.join(logs, "validation")).Tags()["tensors"]
    for tag in ("loss", "reconstruction", "kl", "elbo"):
        assert f"epoch_{tag}" in train and f"epoch_{tag}" in validation
    assert "epoch_beta" in train and "epoch_learning_rate" in train
    images = _scalars(os.path.join(logs, "images"))
    tags = images.Tags()["tensors"]
    assert {"reconstructions", "samples"} <= set(tags)
    # image_every_epochs=1: one image per epoch.
    assert len(images.Tensors("samples")) == 3


def test_best_checkpoint_loads(trained_run):
    import keras

    path, _ = trained_run
    model = keras.saving.load_model(os.path.join(path, "checkpoints", "best.keras"))
    assert model.latent_dims == 2


def test_existing_run_is_refused_and_left_intact(trained_run):
    path, _ = trained_run
    before = {n: os.path.getmtime(os.path.join(d, n)) for d, _, fs in os.walk(path) for n in fs}
    with pytest.raises(ModelDirError, match="already holds a finished keras_vae run"):
        training.train_and_evaluate(tiny_config(path, "mnist_sample"))
    after = {n: os.path.getmtime(os.path.join(d, n)) for d, _, fs in os.walk(path) for n in fs}
    assert before == after


def test_model_dir_under_a_file_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ModelDirError, match="not a directory"):
        model_dir.check_writable(str(blocker / "run"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only folders")
def test_read_only_parent_is_refused(tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    with pytest.raises(ModelDirError, match="not writable"):
        model_dir.check_writable(str(parent / "run"))


def test_the_optimizer_options_reach_the_optimizer():
    from keras_vae import config as config_lib
    from keras_vae.model import VAE

    for clip, expected in ((0.0, None), (2.5, 2.5)):
        model = VAE(latent_dims=2, hidden_units=(8,))
        training.compile_model(model, config_lib.TrainConfig(global_clipnorm=clip))
        assert model.optimizer.global_clipnorm == expected
    model = VAE(latent_dims=2, hidden_units=(8,))
    training.compile_model(model, config_lib.TrainConfig(optimizer="adagrad", learning_rate=0.02))
    assert type(model.optimizer).__name__ == "Adagrad"
    assert float(model.optimizer.learning_rate) == pytest.approx(0.02)


def test_a_continuous_bernoulli_run_trains_exports_and_is_scored_as_a_density(tmp_path):
    import keras
    import tensorflow as tf
    from conftest import _write_synthetic_folder, tiny_config

    from keras_vae import eval_config, evaluation

    folder = _write_synthetic_folder(tmp_path / "idx")
    config = tiny_config(tmp_path / "run", f"idx:{folder}", likelihood="continuous_bernoulli")
    metrics = training.train_and_evaluate(config)
    assert np.isfinite(metrics["test"]["elbo"])
    # Grey pixels are kept grey (auto: no binarization for a density of grey levels).
    assert json.load(open(tmp_path / "run" / "config.json"))["data"]["binarize"] == "none"
    z = np.random.default_rng(0).standard_normal((4, 2)).astype(np.float32)
    served = tf.saved_model.load(str(tmp_path / "run" / "saved_model"))
    images = served.signatures["decode"](z=tf.constant(z))["images"].numpy()
    model = keras.saving.load_model(str(tmp_path / "run" / "checkpoints" / "latest.keras"))
    np.testing.assert_allclose(images, np.asarray(model.decode_images(z)), rtol=1e-5, atol=1e-6)
    # The pixels are the distribution's means, which lie strictly between 0 and 1.
    assert images.shape == (4, 28, 28) and 0 < images.min() and images.max() < 1
    c = eval_config.resolve(
        eval_config.EvalConfig(model_dir=str(tmp_path / "run"), num_importance_samples=3)
    )
    report = evaluation.evaluate_run(c, print_fn=lambda *a, **k: None)
    assert report["likelihood"] == "continuous_bernoulli" and report["nll_kind"] == "density"


def test_a_vamp_prior_run_exports_its_prior_to_the_saved_model(tmp_path):
    import keras
    from conftest import _write_synthetic_folder, tiny_config

    from keras_vae import handles, inference

    folder = _write_synthetic_folder(tmp_path / "idx")
    config = tiny_config(
        tmp_path / "run", f"idx:{folder}", prior="vamp", num_pseudo_inputs=6, kl_warmup_epochs=1
    )
    metrics = training.train_and_evaluate(config)
    assert np.isfinite(metrics["test"]["elbo"])
    model = keras.saving.load_model(str(tmp_path / "run" / "checkpoints" / "latest.keras"))
    assert model.prior == "vamp" and model.pseudo_inputs.shape == (6, 784)
    saved = handles.load_saved_model(str(tmp_path / "run" / "saved_model"))
    images = np.random.default_rng(0).random((3, 28, 28)).astype(np.float32)
    kept, served = handles.as_handle(model), saved
    for a, b in zip(kept.log_weights(images, 4, [1, 2]), served.log_weights(images, 4, [1, 2])):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)
    # Samples come from the mixture, the same from the Keras model and the SavedModel.
    np.testing.assert_allclose(
        inference.sample(model, 5, seed=3), inference.sample(saved, 5, seed=3), atol=1e-5
    )
    np.testing.assert_allclose(
        saved.sample_latents(5, 3), np.asarray(model.sample_prior(5, [3, 0])), atol=1e-5
    )


@pytest.mark.parametrize(
    "model, phrase",
    [
        ({"num_pseudo_inputs": 100}, "num_pseudo_inputs applies to prior=vamp only"),
        ({"prior": "vamp", "capacity_max": 5.0}, "capacity_max needs the closed-form KL"),
    ],
)
def test_prior_options_that_do_not_apply_are_refused(model, phrase):
    from keras_vae import config as config_lib
    from keras_vae.errors import ConfigError

    with pytest.raises(ConfigError, match=phrase):
        config_lib.ModelConfig(**model)


@pytest.mark.parametrize(
    "options",
    [
        {"latent_dims": 4, "top_latent_dims": 2, "top_hidden_units": (6,)},
        {"prior": "vamp", "num_pseudo_inputs": 5},
    ],
    ids=["two-layers", "vamp"],
)
def test_models_without_a_closed_form_kl_are_scored_with_a_consistent_elbo(tmp_path, options):
    # The ELBO is never above the importance-weighted bound of the same draws' model.
    import keras
    from conftest import _write_synthetic_folder, tiny_config

    from keras_vae import eval_config, evaluation, handles

    folder = _write_synthetic_folder(tmp_path / "idx")
    training.train_and_evaluate(tiny_config(tmp_path / "run", f"idx:{folder}", **options))
    c = eval_config.resolve(
        eval_config.EvalConfig(model_dir=str(tmp_path / "run"), num_importance_samples=20)
    )
    report = evaluation.evaluate_run(c, print_fn=lambda *a, **k: None)
    assert report["elbo"] <= report["log_likelihood"] + 1e-6
    assert report["elbo"] == pytest.approx(-(report["reconstruction"] + report["kl"]))
    if "top_latent_dims" in options:  # Active units of z1 and of z2.
        assert len(report["active_units_per_layer"]) == 2
        assert all(0 <= n <= d for n, d in zip(report["active_units_per_layer"], (4, 2)))
    model = keras.saving.load_model(str(tmp_path / "run" / "checkpoints" / "latest.keras"))
    images = np.random.default_rng(0).random((2, 28, 28)).astype(np.float32)
    saved = handles.load_saved_model(str(tmp_path / "run" / "saved_model"))
    for a, b in zip(handles.as_handle(model).log_weights(images, 3, [4, 5]),
                    saved.log_weights(images, 3, [4, 5])):  # fmt: skip
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(
    "model, phrase",
    [
        ({"top_hidden_units": (7,)}, "top_hidden_units applies with a second stochastic layer"),
        ({"top_latent_dims": 5, "prior": "vamp"}, "takes prior=standard"),
    ],
)
def test_two_layer_options_that_do_not_apply_are_refused(model, phrase):
    from keras_vae import config as config_lib
    from keras_vae.errors import ConfigError

    with pytest.raises(ConfigError, match=phrase):
        config_lib.ModelConfig(**model)


def test_a_conditional_run_serves_labelled_signatures_and_is_scored_given_labels(tmp_path):
    import keras
    import tensorflow as tf
    from conftest import _write_synthetic_folder, tiny_config

    from keras_vae import eval_config, evaluation, handles, inference

    folder = _write_synthetic_folder(tmp_path / "idx")
    training.train_and_evaluate(tiny_config(tmp_path / "run", f"idx:{folder}", conditional=True))
    assert sorted(os.listdir(tmp_path / "run" / "figures")) == [
        "analogies.png", "class_samples.png", "reconstruction.png"
    ]  # fmt: skip
    model = keras.saving.load_model(str(tmp_path / "run" / "checkpoints" / "latest.keras"))
    saved = handles.load_saved_model(str(tmp_path / "run" / "saved_model"))
    assert saved.num_classes == model.num_classes == 10
    images = np.random.default_rng(0).random((4, 28, 28)).astype(np.float32)
    labels = np.array([0, 3, 7, 9])
    for a, b in zip(handles.as_handle(model).log_weights(images, 3, [1, 2], labels=labels),
                    saved.log_weights(images, 3, [1, 2], labels=labels)):  # fmt: skip
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(
        inference.sample(model, 4, 5, labels), inference.sample(saved, 4, 5, labels), atol=1e-5
    )
    # transfer: encoded with its label, decoded with the target's.
    served = tf.saved_model.load(str(tmp_path / "run" / "saved_model"))
    moved = served.signatures["transfer"](
        images=tf.constant(images),
        labels=tf.constant(labels, tf.int64),
        target_labels=tf.constant([1] * 4, tf.int64),
    )["images"].numpy()
    np.testing.assert_allclose(
        moved, inference.transfer(model, images, labels, [1])[:, 0], rtol=1e-4, atol=1e-5
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="labels must be integers from 0 to 9"):
        served.signatures["decode"](z=tf.zeros([1, 2]), labels=tf.constant([10], tf.int64))
    with pytest.raises(ValueError, match="needs a label per image"):
        saved.encode(images)
    c = eval_config.resolve(
        eval_config.EvalConfig(model_dir=str(tmp_path / "run"), num_importance_samples=5)
    )
    report = evaluation.evaluate_run(c, print_fn=lambda *a, **k: None)
    assert report["conditional"] and report["elbo"] <= report["log_likelihood"] + 1e-6


@pytest.mark.parametrize(
    "model, data, phrase",
    [
        ({"conditional": True, "prior": "vamp"}, {}, "conditional takes prior=standard"),
        ({"conditional": True}, {"dataset": "binarized_mnist"}, "binarized_mnist has none"),
    ],
)
def test_conditional_options_that_do_not_apply_are_refused(model, data, phrase):
    from keras_vae import config as config_lib
    from keras_vae.errors import ConfigError

    with pytest.raises(ConfigError, match=phrase):
        config_lib.Config(model=config_lib.ModelConfig(**model), data=config_lib.DataConfig(**data))


@pytest.mark.slow
def test_a_conditional_vae_on_mnist_draws_the_class_it_is_asked_for(tmp_path):
    # An independent classifier, logistic regression on the training images (about 91%
    # right on the test digits), names the class of >= 90% of the class-conditional
    # samples: z ~ N(0, I) decoded with each label, 100 per class.
    import keras

    from keras_vae import config as config_lib
    from keras_vae import data as data_lib
    from keras_vae import inference

    config = config_lib.Config(
        model=config_lib.ModelConfig(latent_dims=2, conditional=True, likelihood="bernoulli"),
        data=config_lib.DataConfig(dataset="mnist"),
        train=config_lib.TrainConfig(epochs=3, verbose=0, image_every_epochs=3),
        model_dir=str(tmp_path / "run"),
    )
    training.train_and_evaluate(config)
    splits = data_lib.load_splits(config_lib.resolve(config).data, 0)
    keras.utils.set_random_seed(0)
    classifier = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10, "softmax")])
    classifier.compile("adam", "sparse_categorical_crossentropy")
    pixels = splits.train_images.reshape(-1, 784).astype(np.float32) / 255.0
    classifier.fit(pixels, splits.train_labels, epochs=10, batch_size=256, verbose=0)
    model = keras.saving.load_model(str(tmp_path / "run" / "checkpoints" / "latest.keras"))
    labels = np.repeat(np.arange(10), 100)
    samples = inference.sample(model, len(labels), seed=0, labels=labels)
    named = classifier.predict(samples.reshape(-1, 784), verbose=0).argmax(axis=1)
    assert np.mean(named == labels) >= 0.9
