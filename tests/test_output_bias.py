"""The decoder's starting point (--output_bias): Burda et al.'s pixel-mean bias, against numpy."""

import keras
import numpy as np
import pytest
from conftest import _write_synthetic_folder, tiny_config

from keras_vae import VAE, data, objectives, training
from keras_vae import config as config_lib
from keras_vae.errors import ConfigError

MEANS = np.array([0.0, 1e-4, 0.02, 0.16, 0.3, 0.5, 0.77, 0.98, 1.0], np.float32)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_sigmoid_likelihoods_start_at_the_logit_of_the_clipped_mean(likelihood):
    clipped = np.clip(MEANS.astype(np.float64), 1e-3, 1 - 1e-3)
    bias = np.asarray(objectives.output_for_pixel_means(MEANS, likelihood))
    np.testing.assert_allclose(bias, np.log(clipped / (1 - clipped)), rtol=1e-5, atol=1e-5)


def test_the_continuous_bernoulli_starts_at_its_true_mean_not_at_lambda():
    bias = objectives.output_for_pixel_means(MEANS, "continuous_bernoulli")
    means = np.asarray(objectives.continuous_bernoulli_mean(bias))
    bound = np.log(999.0)
    # Within reach of logits in [-6.9, 6.9] (means from 0.144 to 0.856) the mean is hit;
    # the rest take the nearest end of the range.
    reachable = (MEANS > 0.15) & (MEANS < 0.85)
    np.testing.assert_allclose(means[reachable], MEANS[reachable], atol=1e-5)
    np.testing.assert_allclose(np.asarray(bias)[MEANS < 0.1], -bound, atol=1e-4)
    np.testing.assert_allclose(np.asarray(bias)[MEANS > 0.9], bound, atol=1e-4)
    # lambda = sigmoid(bias) is not the mean: 0.3 needs lambda near 0.18.
    assert abs(float(keras.ops.sigmoid(bias[4])) - 0.3) > 0.05


def test_pixel_means_reads_in_chunks_and_scales_uint8():
    images = np.random.default_rng(0).integers(0, 256, (10, 3, 2)).astype(np.uint8)
    np.testing.assert_allclose(
        data.pixel_means(images, chunk=3), images.mean(axis=0) / 255.0, rtol=1e-6
    )
    grey = images.astype(np.float32) / 255.0
    np.testing.assert_allclose(data.pixel_means(grey, chunk=4), grey.mean(axis=0), rtol=1e-6)


def test_the_model_refuses_means_of_another_size_or_standardized_values():
    model = VAE(image_shape=(3, 2), latent_dims=2, hidden_units=(4,), seed=0)
    model.start_at_pixel_means(np.full((3, 2), 0.25, np.float32))
    np.testing.assert_allclose(model.decoder.output_head.bias.numpy(), np.log(1 / 3), rtol=1e-5)
    with pytest.raises(ValueError, match="7 pixels given to a model of 6"):
        model.start_at_pixel_means(np.zeros(7, np.float32))
    table = VAE(
        image_shape=(1, 2), latent_dims=1, hidden_units=(4,), likelihood="gaussian",
        input_mean=[0.0, 1.0], input_scale=[1.0, 2.0],
    )  # fmt: skip
    with pytest.raises(ValueError, match="standardized"):
        table.start_at_pixel_means(np.zeros(2, np.float32))


class _BiasAtStart(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.bias = self.model.decoder.output_head.bias.numpy().copy()


@pytest.mark.parametrize("output_bias", ["zero", "data_mean"])
def test_training_starts_the_decoder_where_output_bias_says(tmp_path, output_bias):
    folder = _write_synthetic_folder(tmp_path / "idx")
    config = tiny_config(tmp_path / "run", f"idx:{folder}", epochs=1, output_bias=output_bias)
    seen = _BiasAtStart()
    training.train_and_evaluate(config, callbacks=(seen,))
    if output_bias == "zero":
        np.testing.assert_array_equal(seen.bias, 0.0)
        return
    splits = data.load_splits(config_lib.resolve(config).data, config.train.seed)
    means = splits.train_images.reshape(len(splits.train_images), -1).mean(axis=0) / 255.0
    clipped = np.clip(means, 1e-3, 1 - 1e-3)
    np.testing.assert_allclose(seen.bias, np.log(clipped / (1 - clipped)), rtol=1e-4, atol=1e-4)


def test_a_standardized_table_with_data_mean_is_refused_before_anything_is_written(tmp_path):
    table = tmp_path / "table.csv"
    rows = np.random.default_rng(0).normal(size=(40, 3))
    table.write_text("a,b,c\n" + "\n".join(",".join(f"{v:.4f}" for v in r) for r in rows))
    config = tiny_config(
        tmp_path / "run", f"csv:{table}", likelihood="gaussian", output_bias="data_mean"
    )
    with pytest.raises(ConfigError, match="output_bias=data_mean .* standardized"):
        training.train_and_evaluate(config)
    assert not (tmp_path / "run").exists()
