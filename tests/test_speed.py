"""The speed options change the speed only: pipelines, fused Adam, XLA, steps per call."""

import collections
import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_vae import config as config_lib
from keras_vae import optimizers, pipeline, training
from keras_vae.model import VAE


def _images(n=50, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 4, 4), dtype=np.uint8)


def _batches(dataset, count):
    return [b.numpy() for b in dataset.take(count)]


def test_epoch_order_is_a_permutation_that_changes_with_the_epoch():
    first = pipeline.epoch_order(20, 3, 0).numpy()
    assert sorted(first) == list(range(20))
    assert not np.array_equal(first, pipeline.epoch_order(20, 3, 1).numpy())
    np.testing.assert_array_equal(first, pipeline.epoch_order(20, 3, 0).numpy())


def test_pipelines_give_the_same_batches_epoch_after_epoch():
    images = _images(10)
    steps = pipeline.steps_per_epoch(10, 4)
    assert steps == 3  # 4 + 4 + 2
    batched_epochs = pipeline.training_dataset(images, 4, 7, "batched")
    per_example_epochs = pipeline.training_dataset(images, 4, 7, "per_example")
    batched = _batches(batched_epochs, 9) + _batches(batched_epochs, 9)  # Two passes.
    per_example = _batches(per_example_epochs, 9) + _batches(per_example_epochs, 9)
    assert [len(b) for b in batched] == [4, 4, 2, 4, 4, 2]
    assert batched[0].dtype == np.uint8 and per_example[0].dtype == np.float32
    for b, p in zip(batched, per_example):
        np.testing.assert_array_equal(b.astype(np.float32) / 255.0, p)
    for epoch in (batched[:3], batched[3:]):  # Each epoch visits every image once ...
        seen = np.concatenate(epoch).reshape(10, -1)
        assert sorted(map(bytes, seen)) == sorted(map(bytes, images.reshape(10, -1)))
    assert not np.array_equal(batched[0], batched[3])  # ... in a new order.


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: pipeline.training_dataset(_images(), 4, 0, "cached"), "pipeline must be"),
        (lambda: pipeline.training_dataset(_images().astype(np.float64), 4, 0), "uint8 or float32"),
        (lambda: pipeline.evaluation_dataset(_images().astype(np.int32), 4), "uint8 or float32"),
    ],
)
def test_pipelines_reject_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_model_converts_uint8_batches_like_the_float_pipeline():
    images = _images(6)
    keras.utils.set_random_seed(1)
    model = VAE(image_shape=(4, 4), latent_dims=2, hidden_units=(8,), seed=1)
    model.compile()
    as_bytes = model.evaluate(images, batch_size=6, verbose=0, return_dict=True)
    keras.utils.set_random_seed(1)
    model = VAE(image_shape=(4, 4), latent_dims=2, hidden_units=(8,), seed=1)
    model.compile()
    as_floats = model.evaluate(
        images.astype(np.float32) / 255.0, batch_size=6, verbose=0, return_dict=True
    )
    assert as_bytes == pytest.approx(as_floats, rel=1e-6)


def _loss_curve(images, epochs=3, mixed_precision=False, **speed):
    """Per-epoch training losses of a tiny run with the given TrainConfig speed options."""
    train = dataclasses.replace(
        config_lib.TrainConfig(batch_size=8, seed=5, mixed_precision=mixed_precision), **speed
    )
    config = config_lib.Config(
        model=config_lib.ModelConfig(latent_dims=2, hidden_units=(16, 8), likelihood="bernoulli"),
        train=train,
        model_dir="unused",
    )
    keras.utils.set_random_seed(train.seed)
    model = training.build_model(config, images.shape[1:])
    model.binarize_training_inputs = True
    training.compile_model(model, train)
    history = model.fit(
        pipeline.training_dataset(images, train.batch_size, train.seed, train.input_pipeline),
        epochs=epochs,
        verbose=0,
        shuffle=False,
    )
    steps = pipeline.steps_per_epoch(len(images), train.batch_size)
    assert int(model.optimizer.iterations) == epochs * steps  # One pass per epoch.
    return np.array(history.history["loss"])


@pytest.mark.parametrize(
    "slow_option",
    [
        {"input_pipeline": "per_example"},
        {"fused_optimizer": False},
        {"steps_per_execution": 1},
        {"product_likelihood": False},
    ],
    ids=lambda option: next(iter(option)),
)
def test_each_speed_option_leaves_the_loss_curve_unchanged(slow_option):
    images = _images(60)
    fast = _loss_curve(images, jit_compile="off")
    slow = _loss_curve(images, **{"jit_compile": "off", **slow_option})
    assert fast[0] > fast[-1]  # It trains ...
    np.testing.assert_allclose(slow, fast, rtol=1e-4)  # ... and the same way.


def test_xla_computes_the_same_step_for_the_same_draws():
    # XLA draws other random numbers for the same seed (its Philox is not TensorFlow's),
    # so the loss curves with and without it agree in distribution, not number by number;
    # with the draws fixed, the compiled loss and gradients are the plain graph's.
    keras.utils.set_random_seed(2)
    model = VAE(image_shape=(4, 4), latent_dims=2, hidden_units=(16, 8), seed=2)
    images = tf.constant(_images(8).astype(np.float32) / 255.0)
    noise = tf.constant(np.random.default_rng(3).normal(size=(8, 2)).astype(np.float32))

    def loss_and_gradients():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model.objective_terms(images, noise=noise)["objective"])
        return loss, tape.gradient(loss, model.trainable_variables)

    plain = tf.function(loss_and_gradients)()
    compiled = tf.function(loss_and_gradients, jit_compile=True)()
    np.testing.assert_allclose(compiled[0], plain[0], rtol=1e-5)
    for c, p in zip(compiled[1], plain[1]):
        np.testing.assert_allclose(c, p, rtol=1e-4, atol=1e-5)


def test_xla_trains_to_the_same_loss_within_noise():
    images = _images(60)
    compiled = _loss_curve(images, jit_compile="on")
    plain = _loss_curve(images, jit_compile="off")
    np.testing.assert_allclose(compiled, plain, rtol=0.02)


def test_mixed_precision_trains_in_bfloat16_with_float32_weights_and_losses():
    images = _images(60)
    mixed = _loss_curve(images, mixed_precision=True, jit_compile="off")
    full = _loss_curve(images, jit_compile="off")
    assert np.all(np.isfinite(mixed)) and mixed[0] > mixed[-1]
    np.testing.assert_allclose(mixed, full, rtol=0.02)  # bfloat16 keeps ~3 digits.
    assert keras.config.dtype_policy().name == "float32"  # The global policy is restored.


def test_fused_adam_matches_keras_adam_step_by_step():
    rng = np.random.default_rng(0)
    start = rng.normal(size=(5, 3)).astype(np.float32)
    results = []
    for optimizer in (
        keras.optimizers.Adam(0.1, epsilon=1e-4),
        optimizers.FusedAdam(0.1, epsilon=1e-4),
    ):
        variable = keras.Variable(start)
        for step in range(5):
            gradient = tf.constant(rng.normal(size=(5, 3)).astype(np.float32) * (step + 1))
            optimizer.apply([gradient], [variable])
        results.append(variable.numpy())
        rng = np.random.default_rng(0)
        rng.normal(size=(5, 3))  # The same gradients for the second optimizer.
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5, atol=1e-5)
    assert not np.allclose(results[0], start)


def test_fused_adam_computes_its_scalars_once_per_step_not_once_per_variable():
    variables = [keras.Variable(np.ones(shape, np.float32)) for shape in [(3, 2), (2,), (4,)]]
    gradients = [tf.ones(v.shape) for v in variables]
    optimizer = optimizers.FusedAdam(0.1)
    optimizer.build(variables)
    graph = tf.function(lambda: optimizer.apply(gradients, variables)).get_concrete_function()
    ops_of = collections.Counter(op.type for op in graph.graph.get_operations())
    assert ops_of["ResourceApplyAdam"] == 3
    assert ops_of["Pow"] == 2  # beta_1^t and beta_2^t, shared by the three variables.


def test_fused_adam_is_registered_for_checkpoints():
    optimizer = optimizers.FusedAdam(learning_rate=0.01, epsilon=1e-4)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(optimizer))
    assert type(restored) is optimizers.FusedAdam
    assert restored.get_config()["epsilon"] == pytest.approx(1e-4)


def test_jit_compile_auto_follows_the_device():
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    assert training.use_jit_compile("auto") is has_gpu
    assert training.use_jit_compile("on") is True
    assert training.use_jit_compile("off") is False


def test_the_product_likelihood_leaves_the_evaluations_numbers_unchanged():
    # The SavedModel's log_weights and score run seeded_log_weights: with and without
    # the product form, the same seed gives the same bound.
    images = (np.random.default_rng(0).random((6, 28, 28)) < 0.2).astype(np.float32)
    fast = VAE(latent_dims=3, hidden_units=(16,), seed=0)
    exact = VAE(latent_dims=3, hidden_units=(16,), seed=0, product_likelihood=False)
    exact.set_weights(fast.get_weights())
    seed = tf.constant([3, 4], tf.int64)
    a = fast.score(images, 50, seed)
    b = exact.score(images, 50, seed)
    for key in ("log_likelihood", "elbo", "reconstruction"):
        np.testing.assert_allclose(np.asarray(a[key]), np.asarray(b[key]), rtol=1e-6, atol=2e-4)
    assert VAE.from_config(exact.get_config()).product_likelihood is False


def test_the_optimizer_built_before_fit_traces_the_step_once_with_the_same_numbers():
    # Built lazily, Adam's slots are created inside the first traced step, which
    # tf.function then traces again; compile_model builds them first.
    images = _images(100)
    config = config_lib.Config(
        model=config_lib.ModelConfig(latent_dims=2, hidden_units=(16,), likelihood="bernoulli"),
        train=config_lib.TrainConfig(batch_size=20, seed=0),
        model_dir="unused",
    )
    weights, traces = [], []
    for built_first in (True, False):
        keras.utils.set_random_seed(0)
        model = training.build_model(config, (4, 4))
        if built_first:
            training.compile_model(model, config.train)
            assert model.optimizer.built
        else:
            train = config.train
            adam = optimizers.FusedAdam(train.learning_rate, epsilon=train.adam_epsilon)
            model.compile(optimizer=adam, steps_per_execution=train.steps_per_execution)
        step = model.train_step
        count = []
        model.train_step = lambda data, step=step, count=count: count.append(1) or step(data)
        model.fit(
            pipeline.training_dataset(images, 20, 0, "batched"), epochs=2, verbose=0, shuffle=False
        )
        weights.append([v.numpy() for v in model.trainable_variables])
        traces.append(len(count))
    assert traces == [1, 2]
    for a, b in zip(*weights, strict=True):
        np.testing.assert_array_equal(a, b)
