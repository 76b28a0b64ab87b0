"""Users' own data: CSV tables (standardized inside the model), image folders (streamed),
tfds images of other shapes, likelihood=auto, and scoring new files with --input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_vae import config as config_lib
from keras_vae import data, image_folder, inputs, tables
from keras_vae.errors import ConfigError, DataError


def _csv(path, header, rows):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for row in rows:
            f.write(",".join(str(v) for v in row) + "\n")
    return str(path)


def _table(tmp_path, n=60, seed=0, name="t.csv"):
    rng = np.random.default_rng(seed)
    a = rng.normal(5.0, 3.0, n)
    b = 2 * a + rng.normal(0, 0.5, n) - 100
    label = rng.integers(0, 3, n)
    return _csv(tmp_path / name, ["a", "b", "kind"], zip(a, b, label))


def _png_folder(root, sizes, grey=False, classes=("cat", "dog"), per_class=6, seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in classes:
        os.makedirs(os.path.join(root, c), exist_ok=True)
        for i in range(per_class):
            h, w = sizes[i % len(sizes)]
            shape = (h, w) if grey else (h, w, 3)
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(
                os.path.join(root, c, f"{i:02d}.png")
            )
    return str(root)


# --- Tables.


def test_a_table_is_read_by_column_with_its_labels(tmp_path):
    path = _csv(tmp_path / "t.csv", ["x", "label", "y"], [(1.5, 0, -2), (2, 1, 3e2)])
    rows, labels, columns = tables.read(path, "label")
    np.testing.assert_array_equal(rows, [[1.5, -2], [2, 300]])
    assert labels.tolist() == [0, 1] and columns == ["x", "y"] and rows.dtype == np.float32


@pytest.mark.parametrize(
    "header, rows, label_column, phrase",
    [
        (["a", "b"], [(1, "cat")], None, "line 2, column 'b': 'cat' is not a number"),
        (["a", "b"], [(1, 2), (1, "nan")], None, "line 3, column 'b': nan is not a finite"),
        (["a", "b"], [(1, "inf")], None, "column 'b': inf is not a finite number"),
        (["a", "b"], [(1, 2, 3)], None, "line 2: 3 values, but the header names 2"),
        (["a", "b"], [(1, 2)], "label", "no column 'label'"),
        (["a", "b"], [(1, 0.5)], "b", "column 'b': labels must be integers >= 0, got 0.5"),
        (["a", "b"], [(1, -1)], "b", "labels must be integers >= 0, got -1"),
        (["a", "a"], [(1, 2)], None, "must name every column once"),
        (["a", "b"], [], None, "no rows of data"),
        (["a"], [(1,)], "a", "no column is left to model"),
    ],
)
def test_a_bad_table_is_named_with_its_line_and_column(
    tmp_path, header, rows, label_column, phrase
):
    path = _csv(tmp_path / "bad.csv", header, rows)
    with pytest.raises(DataError) as info:
        tables.read(path, label_column)
    assert phrase in str(info.value) and path in str(info.value), str(info.value)


def test_an_empty_or_binary_csv_file_is_named(tmp_path):
    (tmp_path / "empty.csv").write_text("\n\n")
    with pytest.raises(DataError, match="is empty"):
        tables.read(str(tmp_path / "empty.csv"))
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00a,b\n")
    with pytest.raises(DataError, match="not a readable CSV"):
        tables.read(str(tmp_path / "bin.csv"))


def test_a_csv_data_set_is_split_with_a_fixed_seed_and_standardized_by_its_training_rows(
    tmp_path,
):
    path = _table(tmp_path)
    config = config_lib.DataConfig(
        dataset=f"csv:{path}", label_column="kind", binarize="none", test_fraction=0.2
    )
    splits = data.load_splits(config, seed=3)
    assert splits.image_shape == (2,) and splits.train_images.dtype == np.float32
    assert (len(splits.train_images), len(splits.validation_images), len(splits.test_images)) == (
        43,
        5,
        12,
    )
    mean, scale = splits.standardization
    np.testing.assert_allclose(mean, splits.train_images.mean(0), rtol=1e-5)
    np.testing.assert_allclose(scale, splits.train_images.std(0), rtol=1e-5)
    assert splits.source["standardized"] and splits.source["columns"] == ["a", "b"]
    assert splits.class_names == ("0", "1", "2") and splits.source["labelled"]
    # Another run seed: another validation split, the same test rows.
    again = data.load_splits(config, seed=4)
    np.testing.assert_array_equal(again.test_images, splits.test_images)
    assert data.dataset_of_source(splits.source) == f"csv:{os.path.abspath(path)}"


def test_a_table_of_zeros_and_ones_is_not_standardized_and_is_modelled_as_bernoulli(tmp_path):
    rng = np.random.default_rng(0)
    path = _csv(tmp_path / "b.csv", ["a", "b", "c"], rng.integers(0, 2, (20, 3)))
    config = config_lib.DataConfig(dataset=f"csv:{path}", binarize="none")
    assert data.load_splits(config, 0).standardization is None
    assert data.data_values(config) == "binary"


def test_a_standardizing_model_reports_log_p_of_raw_rows_with_the_jacobian(tmp_path):
    from keras_vae.model import VAE

    rng = np.random.default_rng(1)
    mean, scale = np.array([3.0, -2.0, 100.0]), np.array([0.5, 2.0, 40.0])
    raw = (rng.normal(size=(7, 3)) * scale + mean).astype(np.float32)
    settings = dict(
        image_shape=(3,), latent_dims=2, hidden_units=(8,), likelihood="gaussian", seed=0
    )
    plain = VAE(**settings, gaussian_variance="learned", gaussian_mean="linear")
    scaled = VAE(**settings, gaussian_variance="learned", input_mean=mean, input_scale=scale)
    scaled.set_weights(plain.get_weights())
    noise = rng.normal(size=(4, 7, 2)).astype(np.float32)
    standardized = ((raw - mean) / scale).astype(np.float32)
    a = plain.log_weights(standardized, noise)["log_likelihood"]
    b = scaled.log_weights(raw, noise)["log_likelihood"]
    np.testing.assert_allclose(np.asarray(b), np.asarray(a) - np.log(scale).sum(), rtol=1e-5)
    # E[x|z] comes back on the raw scale.
    z = rng.normal(size=(5, 2)).astype(np.float32)
    np.testing.assert_allclose(
        np.asarray(scaled.decode_images(z)),
        np.asarray(plain.decode_images(z)) * scale + mean,
        rtol=1e-4,
        atol=1e-4,
    )
    rebuilt = VAE.from_config(scaled.get_config())
    assert rebuilt.input_mean == scaled.input_mean and rebuilt.input_scale == scaled.input_scale


def test_a_standardized_models_mean_reaches_both_sides_of_each_columns_mean():
    import keras

    from keras_vae.model import VAE

    mean, scale = np.array([3.0, -2.0]), np.array([0.5, 2.0])
    model = VAE(
        image_shape=(2,), latent_dims=1, hidden_units=(4,), likelihood="gaussian",
        input_mean=mean, input_scale=scale, seed=0,
    )  # fmt: skip
    assert model.gaussian_mean == "linear"
    # A sigmoid mean (what tables had before) could only give raw means above the column's.
    head = model.decoder.output_head
    head.kernel.assign(np.zeros(head.kernel.shape, np.float32))
    head.bias.assign(np.array([-3.0, 1.5], np.float32))
    decoded = np.asarray(model.decode_images(np.zeros((1, 1), np.float32)))[0]
    np.testing.assert_allclose(decoded, mean + np.array([-3.0, 1.5]) * scale, rtol=1e-6)
    # Pixels keep the sigmoid; a model saved before the option loads with the sigmoid it had.
    assert VAE(image_shape=(2,), likelihood="gaussian").gaussian_mean == "sigmoid"
    config = model.get_config()
    del config["gaussian_mean"]
    old = keras.saving.deserialize_keras_object(
        {**keras.saving.serialize_keras_object(model), "config": config}
    )
    assert old.gaussian_mean == "sigmoid" and old.decoder.mean_activation == "sigmoid"


@pytest.mark.parametrize(
    "arguments, phrase",
    [
        (dict(input_mean=[0.0, 0.0]), "come together"),
        (dict(input_mean=[0.0], input_scale=[1.0]), "need 2 values"),
        (dict(input_mean=[0.0, 0.0], input_scale=[1.0, 0.0]), "finite and positive"),
        (dict(input_mean=[0.0, 0.0], input_scale=[1.0, 1.0], likelihood="bernoulli"), "gaussian"),
        (dict(likelihood="auto"), "resolved from the data"),
    ],
)
def test_standardization_arguments_that_mean_nothing_are_refused(arguments, phrase):
    from keras_vae.model import VAE

    settings = dict(image_shape=(2,), latent_dims=1, hidden_units=(4,), likelihood="gaussian")
    with pytest.raises(ValueError, match=phrase):
        VAE(**{**settings, **arguments})


# --- Image folders.


def test_an_image_folder_gives_labels_by_subfolder_and_decodes_on_demand(tmp_path):
    folder = _png_folder(tmp_path / "img", [(9, 7)])
    files, labels, classes, record = image_folder.read(folder, None)
    assert classes == ("cat", "dog") and labels.tolist() == [0] * 6 + [1] * 6
    assert files.shape == (12, 9, 7, 3) and record["channels"] == 3 and not record["resized"]
    from PIL import Image

    first = np.asarray(Image.open(files.paths[0]))
    np.testing.assert_array_equal(files[0], first)
    assert files[[1, 3]].shape == (2, 9, 7, 3) and files[1:4].shape == (3, 9, 7, 3)
    part = files.take(np.array([5, 0]))
    assert isinstance(part, image_folder.ImageFiles) and part.paths[1] == files.paths[0]


def test_grey_images_are_2_d_and_mixed_sizes_need_image_size(tmp_path):
    folder = _png_folder(tmp_path / "grey", [(8, 8), (10, 6)], grey=True, classes=("a",))
    with pytest.raises(DataError, match="different sizes .* pass --image_size=H,W"):
        image_folder.read(folder, None)
    files, _, classes, record = image_folder.read(folder, (5, 4))
    assert files.shape == (6, 5, 4) and record["resized"] and classes == ("a",)
    assert files[:].dtype == np.uint8 and files[:].shape == (6, 5, 4)


@pytest.mark.parametrize("case", ["empty", "empty_class", "corrupt", "mixed", "missing"])
def test_a_bad_image_folder_is_named(tmp_path, case):
    folder = tmp_path / "img"
    folder.mkdir()
    if case == "empty_class":
        (folder / "cat").mkdir()
    if case == "corrupt":
        _png_folder(folder, [(4, 4)], classes=("cat",))
        (folder / "cat" / "bad.png").write_bytes(b"not a png")
    if case == "mixed":
        _png_folder(folder, [(4, 4)], classes=("cat",))
        (folder / "loose.jpg").write_bytes(b"x")
    if case == "missing":
        folder = tmp_path / "nowhere"
    phrase = {
        "empty": "holds no PNG or JPEG files",
        "empty_class": "class folder .*cat holds no PNG",
        "corrupt": "bad.png is not a readable PNG or JPEG",
        "mixed": "both images .* and class subfolders",
        "missing": "does not exist",
    }[case]
    with pytest.raises(DataError, match=phrase):
        image_folder.read(str(folder), None)


def test_a_streamed_folder_gives_the_batches_of_the_decoded_array(tmp_path):
    from keras_vae import pipeline

    folder = _png_folder(tmp_path / "img", [(6, 5)], per_class=7)
    files, labels, _, _ = image_folder.read(folder, None)
    decoded = files[:]
    for streamed, stored in zip(
        pipeline.training_dataset(files, 4, seed=3, labels=labels),
        pipeline.training_dataset(decoded, 4, seed=3, labels=labels),
    ):
        np.testing.assert_array_equal(streamed[0], stored[0])
        np.testing.assert_array_equal(streamed[1], stored[1])
    batches = list(pipeline.evaluation_dataset(files.take(slice(0, 5)), 2))
    np.testing.assert_array_equal(np.concatenate(batches), decoded[:5])


def test_an_image_folder_data_set_keeps_its_splits_on_disk_and_refuses_binarization(tmp_path):
    folder = _png_folder(tmp_path / "img", [(6, 5)], per_class=10)
    splits = data.load_splits(config_lib.DataConfig(dataset=f"images:{folder}", binarize="none"), 0)
    assert isinstance(splits.validation_images, image_folder.ImageFiles)
    assert len(splits.train_images) + len(splits.validation_images) + len(splits.test_images) == 20
    assert splits.image_shape == (6, 5, 3) and splits.source["listing_sha256"]
    with pytest.raises(ConfigError, match="streamed from disk"):
        config_lib.DataConfig(dataset=f"images:{folder}", binarize="dynamic")
    with pytest.raises(ConfigError, match="image_size applies to images: folders only"):
        config_lib.DataConfig(dataset="mnist", image_size=(8, 8))
    with pytest.raises(ConfigError, match="label_column applies to csv"):
        config_lib.DataConfig(dataset="mnist", label_column="y")


# --- tfds of other shapes, offline.


def test_tfds_colour_images_load_with_their_shape_offline():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=12, policy=tfds.testing.MockPolicy.USE_CODE):
        for name, shape in (("cifar10", (32, 32, 3)), ("svhn_cropped", (32, 32, 3))):
            config = config_lib.DataConfig(dataset=name, binarize="none")
            splits = data.load_splits(config, 0, downloads_reachable=lambda url: True)
            assert splits.image_shape == shape and splits.train_images.dtype == np.uint8
        splits = data.load_splits(
            config_lib.DataConfig(dataset="tfds:mnist", binarize="none"), 0, lambda url: True
        )
        assert splits.image_shape == (28, 28)  # Grey: [H, W], as the MNIST family.


# --- likelihood=auto.


@pytest.mark.parametrize(
    "dataset, binarize, likelihood, variance",
    [
        ("mnist_sample", "auto", "continuous_bernoulli", "fixed"),
        ("mnist_sample", "dynamic", "bernoulli", "fixed"),
        ("table", "auto", "gaussian", "learned"),
        ("binary_npz", "auto", "bernoulli", "fixed"),
        ("unit_npz", "auto", "continuous_bernoulli", "fixed"),
    ],
)
def test_likelihood_auto_is_what_fits_the_data(tmp_path, dataset, binarize, likelihood, variance):
    if dataset == "table":
        dataset = f"csv:{_table(tmp_path)}"
    elif dataset.endswith("npz"):
        rng = np.random.default_rng(0)
        x = rng.integers(0, 2, (20, 4)) if dataset == "binary_npz" else rng.random((20, 4))
        np.savez(tmp_path / "d.npz", x_train=x.astype(np.float32), x_test=x[:5].astype(np.float32))
        dataset = f"npz:{tmp_path / 'd.npz'}"
    config = config_lib.Config(
        config_lib.ModelConfig(),
        config_lib.DataConfig(dataset=dataset, binarize=binarize),
        config_lib.TrainConfig(),
        str(tmp_path / "run"),
    )
    assert config.model.likelihood == "auto"
    resolved = config_lib.resolve(config, data.data_values)
    assert resolved.model.likelihood == likelihood
    assert resolved.model.gaussian_variance == variance
    assert resolved.data.binarize == ("dynamic" if likelihood == "bernoulli" and binarize != "auto"
                                      else "none")  # fmt: skip


# --- Scoring new files.


def test_input_tables_are_read_by_the_models_column_names(tmp_path):
    source = {"columns": ["a", "b"], "label_column": "kind", "kind": "csv"}
    path = _csv(tmp_path / "new.csv", ["b", "kind", "extra", "a"], [(2, 1, 9, 1), (4, 0, 9, 3)])
    examples = inputs.read(path, [2], source)
    np.testing.assert_array_equal(examples.images, [[1, 2], [3, 4]])
    assert examples.labels.tolist() == [1, 0] and examples.source["labelled"]
    missing = _csv(tmp_path / "missing.csv", ["b"], [(1,)])
    with pytest.raises(DataError, match="has no column 'a', which the model takes"):
        inputs.read(missing, [2], source)


def test_input_arrays_and_images_of_the_wrong_shape_are_named(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 5), np.float32))
    with pytest.raises(DataError, match=r"shape \(5,\), but the model takes \(4,\)"):
        inputs.read(str(tmp_path / "x.npy"), [4], {})
    folder = _png_folder(tmp_path / "img", [(6, 5)], classes=("a",))
    with pytest.raises(DataError, match="is 6x5, but the model takes 7x7 images"):
        inputs.read(folder, [7, 7, 3], {})
    resized = inputs.read(folder, [7, 7, 3], {"resize_to": [7, 7]})
    assert data.unit_floats(resized.images).shape == (6, 7, 7, 3)
    assert resized.names[0] == os.path.join("a", "00.png")
    with pytest.raises(DataError, match="expected a .csv, .npz or .npy file"):
        (tmp_path / "x.txt").write_text("1")
        inputs.read(str(tmp_path / "x.txt"), [4], {})


def _cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )


@pytest.mark.parametrize(
    "flags, phrase",
    [
        (["--dataset=csv:bad.csv"], "bad.csv, line 3, column 'b': 'x' is not a number"),
        (["--dataset=csv:t.csv", "--label_column=nope"], "has no column 'nope'"),
        (["--dataset=images:empty"], "holds no PNG or JPEG files"),
        (["--dataset=csv:t.csv", "--likelihood=bernoulli"], "holds real values"),
    ],
)
def test_bad_own_data_stops_the_train_command_with_one_line(tmp_path, flags, phrase):
    _csv(tmp_path / "bad.csv", ["a", "b"], [(1, 2), (3, "x")])
    _table(tmp_path)
    (tmp_path / "empty").mkdir()
    result = _cli(
        "keras_vae.train", *flags, "--epochs=1", f"--model_dir={tmp_path / 'run'}", cwd=tmp_path
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert phrase in result.stderr, result.stderr
    assert not os.path.exists(tmp_path / "run" / "checkpoints")


# A fresh process that does not import keras_vae: TensorFlow and the SavedModel alone.
_SERVE = r"""
import json, sys
import numpy as np
import tensorflow as tf
saved_model, examples, seed = sys.argv[1], np.load(sys.argv[2]), int(sys.argv[3])
assert "keras_vae" not in sys.modules
served = tf.saved_model.load(saved_model).signatures["score"]
out = served(images=tf.constant(examples, tf.float32), num_samples=tf.constant(64),
             seed=tf.constant([seed, 0], tf.int64))
print(json.dumps({k: v.numpy().tolist() for k, v in out.items()}))
"""


@pytest.mark.slow
def test_train_on_a_csv_and_an_image_folder_then_score_new_examples_in_a_fresh_process(tmp_path):
    import csv

    _table(tmp_path, n=200)
    new = _table(tmp_path, n=9, seed=5, name="new.csv")
    folder = _png_folder(tmp_path / "img", [(10, 8), (12, 9)], per_class=12)
    new_folder = _png_folder(tmp_path / "new_img", [(7, 7)], classes=("x",), per_class=3, seed=9)
    common = ["--epochs=2", "--latent_dims=2", "--hidden_units=16", "--batch_size=16"]
    for name, flags in (
        ("csv_run", ["--dataset=csv:t.csv", "--label_column=kind"]),
        ("images_run", [f"--dataset=images:{folder}", "--image_size=8,8"]),
    ):
        result = _cli("keras_vae.train", *flags, *common, f"--model_dir={name}", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "csv_run" / "config.json").read_text())
    assert record["model"]["likelihood"] == "gaussian" and record["data_source"]["standardized"]
    assert json.loads((tmp_path / "images_run" / "config.json").read_text())["model"][
        "likelihood"
    ] == ("continuous_bernoulli")
    for name, given, expected in (
        ("csv_run", new, tables.read(new, "kind")[0]),
        ("images_run", new_folder, None),
    ):
        out = tmp_path / f"{name}-scores.csv"
        result = _cli(
            "keras_vae.score",
            f"--saved_model={name}/saved_model",
            f"--input={given}",
            f"--output={out}",
            "--num_importance_samples=64",
            "--seed=7",
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
        rows = list(csv.DictReader(open(out)))
        if expected is None:  # The images as the score command read them (resized to 8x8).
            saved = json.loads((tmp_path / name / "config.json").read_text())["data_source"]
            expected = data.unit_floats(inputs.read(given, [8, 8, 3], saved).images)
            assert rows[0]["name"] == os.path.join("x", "00.png")
        np.save(tmp_path / "examples.npy", expected)
        served = subprocess.run(
            [sys.executable, "-c", _SERVE, f"{name}/saved_model", "examples.npy", "7"],
            capture_output=True, text=True, cwd=tmp_path, timeout=600,
        )  # fmt: skip
        assert served.returncode == 0, served.stderr
        numbers = json.loads(served.stdout.strip().splitlines()[-1])
        np.testing.assert_allclose(
            [float(r["log_likelihood"]) for r in rows], numbers["log_likelihood"], rtol=1e-5
        )
        assert len(rows) == len(expected)
