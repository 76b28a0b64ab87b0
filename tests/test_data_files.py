"""The readers of binarized_mnist (.amat) and frey_face (.mat), their bad files, and the
data sets built on them: small synthetic files here, the real ones in two slower tests."""

import dataclasses
import gzip
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.io
from conftest import SHARED_DATA

from keras_vae import amat, data, frey_face
from keras_vae import config as config_lib
from keras_vae.errors import ConfigError, DataError


def _amat_text(images01: np.ndarray) -> str:
    return "".join(" ".join(map(str, row)) + "\n" for row in images01.reshape(len(images01), -1))


def _bits(n, seed=0):
    return (np.random.default_rng(seed).random((n, 28, 28)) < 0.3).astype(np.uint8)


def _write_amat_folder(folder, gz=True, sizes=(6, 3, 2)):
    folder.mkdir(exist_ok=True)
    written = {}
    for (split, stem), n in zip(amat.SPLIT_STEMS.items(), sizes):
        bits = _bits(n, seed=n)
        text = _amat_text(bits).encode()
        path = folder / (stem + ".amat" + (".gz" if gz else ""))
        path.write_bytes(gzip.compress(text) if gz else text)
        written[split] = bits
    return written


@pytest.mark.parametrize("gz", [True, False], ids=["amat.gz", "amat"])
def test_amat_files_read_as_the_bits_they_hold(tmp_path, gz):
    written = _write_amat_folder(tmp_path / "bm", gz=gz)
    loaded = amat.load_folder(str(tmp_path / "bm"))
    for split, bits in written.items():
        assert loaded[split].dtype == np.uint8
        np.testing.assert_array_equal(loaded[split], bits * 255)


def _bad_amat(tmp_path, text: bytes, gz=False):
    path = tmp_path / ("bad.amat" + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(text) if gz else text)
    with pytest.raises(DataError) as info:
        amat.read(str(path))
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


def test_an_amat_line_of_783_values_is_named(tmp_path):
    lines = _amat_text(_bits(3)).splitlines()
    lines[1] = lines[1][:-2]  # One value fewer.
    message = _bad_amat(tmp_path, ("\n".join(lines) + "\n").encode())
    assert "line 2 has 783 values, expected 784" in message


def test_an_amat_value_of_2_is_named(tmp_path):
    text = _amat_text(_bits(2)).replace("0", "2", 1)
    assert "line 1 holds the value '2'" in _bad_amat(tmp_path, text.encode())


def test_an_amat_value_that_is_not_a_bit_is_named(tmp_path):
    text = _amat_text(_bits(2))
    text = text[: len(text) // 2 + 1] + "0.5 " + text[len(text) // 2 + 1 :]
    message = _bad_amat(tmp_path, text.encode())
    assert "line 2" in message


def test_a_truncated_amat_gz_is_named(tmp_path):
    packed = gzip.compress(_amat_text(_bits(4)).encode())
    path = tmp_path / "cut.amat.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DataError, match="is truncated"):
        amat.read(str(path))


def test_an_amat_cut_mid_line_is_named(tmp_path):
    text = _amat_text(_bits(3)).encode()
    assert "line 3 has" in _bad_amat(tmp_path, text[:-100])


def test_an_empty_amat_and_a_missing_split_are_named(tmp_path):
    assert "is empty" in _bad_amat(tmp_path, b"")
    (tmp_path / "bm").mkdir()
    with pytest.raises(DataError, match="binarized_mnist_train.amat"):
        amat.load_folder(str(tmp_path / "bm"))


def _faces(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 20), dtype=np.uint8)


def _write_frey(folder, images=None, **variables):
    folder.mkdir(exist_ok=True)
    if images is not None:
        # One face a column, 28 rows of 20 pixels row-major, as Frey's file stores them.
        variables["ff"] = images.reshape(len(images), -1).T
    scipy.io.savemat(folder / "frey_rawface.mat", variables)
    return str(folder / "frey_rawface.mat")


def test_frey_faces_read_upright_and_28_by_20(tmp_path):
    faces = _faces(5)
    loaded = frey_face.read(_write_frey(tmp_path / "ff", faces))
    assert loaded.shape == (5, 28, 20) and loaded.dtype == np.uint8
    np.testing.assert_array_equal(loaded, faces)


@pytest.mark.parametrize(
    "variables, phrase",
    [
        ({"faces": np.zeros((560, 3), np.uint8)}, "holds no variable 'ff' (its variables: faces)"),
        ({"ff": np.zeros((784, 3), np.uint8)}, "'ff' is (784, 3), expected [560, N]"),
        ({"ff": np.full((560, 2), 300.0)}, "values outside 0..255"),
        ({"ff": np.full((560, 2), 0.5)}, "non-integer grey levels"),
    ],
    ids=["no-ff", "wrong-shape", "out-of-range", "fractional"],
)
def test_a_bad_frey_file_is_named(tmp_path, variables, phrase):
    path = _write_frey(tmp_path / "ff", **variables)
    with pytest.raises(DataError) as info:
        frey_face.read(path)
    assert phrase in str(info.value) and path in str(info.value)


def test_a_file_that_is_not_matlab_is_named(tmp_path):
    path = tmp_path / "frey_rawface.mat"
    path.write_text("not a MATLAB file\n" * 20)
    with pytest.raises(DataError, match="is not a readable MATLAB file"):
        frey_face.read(str(path))


def _data(dataset, folder, **kw):
    return config_lib.DataConfig(dataset=dataset, data_dir=str(folder), **kw)


def test_binarized_mnist_keeps_its_own_splits_and_bits(tmp_path):
    written = _write_amat_folder(tmp_path / "bm")
    splits = data.load_splits(_data("binarized_mnist", tmp_path / "bm", binarize="none"), seed=3)
    np.testing.assert_array_equal(splits.train_images, written["train"] * 255)
    np.testing.assert_array_equal(splits.validation_images, written["validation"] * 255)
    np.testing.assert_array_equal(splits.test_images, written["test"] * 255)
    assert splits.source["kind"] == "files" and set(splits.source["sha256"]) == {
        "binarized_mnist_train.amat.gz",
        "binarized_mnist_valid.amat.gz",
        "binarized_mnist_test.amat.gz",
    }
    assert data.dataset_of_source(splits.source) == "binarized_mnist"


@pytest.mark.parametrize(
    "build, phrase",
    [
        (lambda: config_lib.DataConfig(dataset="binarized_mnist", binarize="dynamic"),
         "already binary"),
        (lambda: config_lib.DataConfig(dataset="binarized_mnist", validation_fraction=0.2),
         "has its own validation set"),
        (lambda: config_lib.DataConfig(dataset="mnist", test_fraction=0.2),
         "has its own test set"),
        (lambda: config_lib.Config(
            model=config_lib.ModelConfig(likelihood="gaussian"),
            data=config_lib.DataConfig(dataset="binarized_mnist", binarize="none")),
         "binarized_mnist's pixels are 0 or 1"),
        (lambda: config_lib.Config(
            model=config_lib.ModelConfig(likelihood="continuous_bernoulli"),
            data=config_lib.DataConfig(dataset="mnist", binarize="dynamic")),
         "likelihood=continuous_bernoulli is a density of grey levels; with binarize=dynamic"),
    ],
    ids=["binarize-dynamic", "validation_fraction", "test_fraction-on-mnist", "gaussian",
         "continuous-bernoulli-on-bits"],
)  # fmt: skip
def test_what_does_not_fit_these_data_sets_is_refused(build, phrase):
    with pytest.raises(ConfigError, match=phrase):
        build()


def test_auto_binarization_leaves_binarized_mnist_as_it_is(tmp_path):
    config = config_lib.Config(
        data=config_lib.DataConfig(dataset="binarized_mnist", data_dir=str(tmp_path)),
        model_dir=str(tmp_path / "run"),
    )
    assert config_lib.resolve(config).data.binarize == "none"
    no_folder = config_lib.Config(
        data=config_lib.DataConfig(dataset="frey_face"), model_dir=str(tmp_path / "run")
    )
    with pytest.raises(ConfigError, match="name their folder with data_dir"):
        config_lib.resolve(no_folder)


def test_frey_faces_test_split_is_the_same_for_every_run_seed(tmp_path):
    faces = _faces(100)
    _write_frey(tmp_path / "ff", faces)
    config = _data("frey_face", tmp_path / "ff", binarize="none")
    one, other = data.load_splits(config, seed=1), data.load_splits(config, seed=2)
    assert one.test_images.shape == (10, 28, 20) and one.image_shape == (28, 20)
    np.testing.assert_array_equal(one.test_images, other.test_images)
    assert not np.array_equal(one.validation_images, other.validation_images)
    everything = np.concatenate([one.train_images, one.validation_images, one.test_images])
    assert sorted(map(bytes, everything)) == sorted(map(bytes, faces))
    assert one.source["test_split"] == {"fraction": 0.1, "seed": data.TEST_SPLIT_SEED}


def test_the_command_names_a_bad_amat_file_in_one_line(tmp_path):
    _write_amat_folder(tmp_path / "bm", gz=False)
    path = tmp_path / "bm" / "binarized_mnist_valid.amat"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[1][:-2], *lines[2:]]) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "keras_vae.train", "--dataset=binarized_mnist",
         f"--data_dir={tmp_path / 'bm'}", f"--model_dir={tmp_path / 'run'}"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "binarized_mnist_valid.amat: line 2 has 783 values" in lines[0]
    assert not os.path.exists(tmp_path / "run")


REAL = pytest.mark.skipif(
    not os.path.isdir(os.path.join(SHARED_DATA, "binarized_mnist")), reason="no ../shared/data"
)


@pytest.mark.slow
@REAL
def test_the_real_binarized_mnist_is_larochelles_split():
    folder = os.path.join(SHARED_DATA, "binarized_mnist")
    splits = data.load_splits(_data("binarized_mnist", folder, binarize="none"), seed=0)
    shapes = (splits.train_images.shape, splits.validation_images.shape, splits.test_images.shape)
    assert shapes == ((50000, 28, 28), (10000, 28, 28), (10000, 28, 28))
    assert data.is_binary(splits.train_images)
    # About 13% of the pixels are on, in every split.
    for images in (splits.train_images, splits.validation_images, splits.test_images):
        assert 0.12 < images.mean() / 255 < 0.14


@pytest.mark.slow
@REAL
def test_a_run_on_the_real_frey_faces_trains_exports_and_draws(tmp_path):
    from keras_vae import training

    config = config_lib.Config(
        model=config_lib.ModelConfig(latent_dims=2, hidden_units=(16,), likelihood="gaussian"),
        data=_data("frey_face", os.path.join(SHARED_DATA, "frey_face")),
        train=config_lib.TrainConfig(epochs=2, batch_size=100, verbose=0),
        model_dir=str(tmp_path / "run"),
    )
    metrics = training.train_and_evaluate(config)
    assert np.isfinite(metrics["test"]["elbo"])
    import tensorflow as tf

    loaded = tf.saved_model.load(str(tmp_path / "run" / "saved_model"))
    out = loaded.signatures["decode"](z=tf.zeros([3, 2]))
    assert out["images"].shape == (3, 28, 20)
    assert os.path.isfile(tmp_path / "run" / "figures" / "samples.png")


def test_a_run_on_files_that_moved_is_scored_with_data_dir(tmp_path):
    # The record names the folder the run read; --data_dir points it at the same files
    # elsewhere (another machine), and the report says which files were read.
    from keras_vae import eval_config, evaluation, training

    _write_amat_folder(tmp_path / "bm", sizes=(40, 10, 10))
    config = config_lib.Config(
        model=config_lib.ModelConfig(latent_dims=2, hidden_units=(8,)),
        data=_data("binarized_mnist", tmp_path / "bm"),
        train=config_lib.TrainConfig(epochs=1, batch_size=20, verbose=0),
        model_dir=str(tmp_path / "run"),
    )
    training.train_and_evaluate(config)
    os.rename(tmp_path / "bm", tmp_path / "moved")
    lost = eval_config.EvalConfig(model_dir=str(tmp_path / "run"), num_importance_samples=2)
    with pytest.raises(DataError, match="does not exist"):
        eval_config.load_images(eval_config.resolve(lost))
    found = dataclasses.replace(lost, data_dir=str(tmp_path / "moved"))
    report = evaluation.evaluate_run(eval_config.resolve(found), print_fn=lambda *a, **k: None)
    assert report["num_examples"] == 10
    assert report["data_source"]["path"] == str(tmp_path / "moved")
