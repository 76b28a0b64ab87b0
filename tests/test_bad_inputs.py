"""A catalogue of bad inputs, one table row each: what is given and the clear error it must get.

Three tables, each driven by one parametrized test:

- COMMANDS: `python -m keras_vae.{train,evaluate,visualize}` with bad flags, data files
  and model directories. Each must exit non-zero with a last stderr line
  "keras_vae.PROGRAM: error: ..." holding the row's phrase, print no traceback, and
  leave every file it was pointed at as it was, creating none. They all fail before
  TensorFlow loads, so a row costs a fraction of a second.
- SIGNATURES: the exported SavedModel, loaded with `tf.saved_model.load` alone, called
  with inputs of the wrong rank, size, dtype, value or count: InvalidArgumentError
  (TypeError for a missing input) naming the problem, never a silent answer or an OOM.
- API: keras_vae's Python functions given the same kinds of mistakes: ValueError,
  TypeError or a keras_vae.errors class, with a phrase of the message.
"""

import dataclasses
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable

import numpy as np
import pytest
from conftest import REPO, _write_synthetic_folder, synthetic_digits, write_idx

from keras_vae import config as config_lib
from keras_vae import data as data_lib
from keras_vae import eval_config, model_dir
from keras_vae.errors import ConfigError, DataError, ModelDirError

# --- files the rows point at ---------------------------------------------------------------


def _idx_folder(tmp, kind):
    """A small MNIST-format folder (40 training, 20 test images), broken as `kind` says."""
    folder = _write_synthetic_folder(tmp / kind, train=40, test=20)
    images, labels = synthetic_digits(40, 0)  # What the folder's training files hold.
    train_images = folder / "train-images-idx3-ubyte.gz"
    train_labels = folder / "train-labels-idx1-ubyte.gz"
    if kind == "idx_missing_file":
        (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    elif kind == "idx_wrong_magic":
        write_idx(train_images, labels)  # A labels file where the images belong.
    elif kind == "idx_truncated_gzip":
        train_images.write_bytes(train_images.read_bytes()[:200])
    elif kind == "idx_truncated_data":
        raw = gzip.decompress(train_images.read_bytes())
        train_images.write_bytes(gzip.compress(raw[:-100]))
    elif kind == "idx_count_mismatch":
        write_idx(train_labels, labels[:30])
    elif kind == "idx_test_20x20":
        write_idx(folder / "t10k-images-idx3-ubyte.gz", synthetic_digits(20, 1, size=20)[0])
    elif kind == "idx_20x20":
        write_idx(train_images, synthetic_digits(40, 0, size=20)[0])
        write_idx(folder / "t10k-images-idx3-ubyte.gz", synthetic_digits(20, 1, size=20)[0])
    elif kind == "idx_colour":
        write_idx(train_images, np.repeat(images[..., None], 3, axis=-1))  # [40, 28, 28, 3]
    elif kind == "idx_text_file":
        # find_file takes the uncompressed name first: a CSV export saved under it.
        train_images.unlink()
        (folder / "train-images-idx3-ubyte").write_text("label,pixel0,pixel1\n5,0,0\n")
    elif kind == "idx_empty_file":
        train_labels.unlink()
        (folder / "train-labels-idx1-ubyte").write_bytes(b"")
    elif kind == "idx_one_image":
        write_idx(train_images, images[:1])
        write_idx(train_labels, labels[:1])
    else:
        raise AssertionError(f"no IDX folder kind {kind}")
    return folder


def _run_copy(tmp, run, name="run"):
    """A copy of the session's trained run: a row that damaged it would spoil no other."""
    return shutil.copytree(run(), tmp / name)


def _other_program(tmp, run):
    folder = tmp / "other_program"
    folder.mkdir()
    (folder / "weights.h5").write_bytes(b"\x89HDF\r\n")
    (folder / "notes.txt").write_text("not keras_vae's")
    return folder


def _partial_run(tmp, run):
    # Killed after config.json, before the SavedModel.
    folder = tmp / "partial_run"
    folder.mkdir()
    shutil.copy(os.path.join(run(), "config.json"), folder)
    return folder


def _partial_truncated_config(tmp, run):
    # Killed while config.json was being written (by an older keras_vae, or by hand).
    folder = _partial_run(tmp, run)
    config = folder / "config.json"
    config.write_bytes(config.read_bytes()[:100])
    return folder


def _run_without_pb(tmp, run):
    folder = _run_copy(tmp, run, "run_without_pb")
    (folder / "saved_model" / "saved_model.pb").unlink()
    return folder


def _truncated_config(tmp, run):
    folder = _run_copy(tmp, run, "truncated_config")
    config = folder / "config.json"
    config.write_bytes(config.read_bytes()[:100])
    return folder


def _config_missing_fields(tmp, run):
    folder = _run_copy(tmp, run, "config_missing_fields")
    (folder / "config.json").write_text('{"model": {"latent_dims": 2}}\n')
    return folder


def _garbage_saved_model(tmp, run):
    folder = tmp / "garbage_saved_model"
    folder.mkdir()
    (folder / "saved_model.pb").write_text("not a protocol buffer")
    return folder


def _a_file(tmp, run):
    path = tmp / "a_file.txt"
    path.write_text("earlier work")
    return path


BUILDERS = {
    "run": _run_copy,
    "other_program": _other_program,
    "partial_run": _partial_run,
    "partial_truncated_config": _partial_truncated_config,
    "run_without_pb": _run_without_pb,
    "truncated_config": _truncated_config,
    "config_missing_fields": _config_missing_fields,
    "garbage_saved_model": _garbage_saved_model,
    "a_file": _a_file,
}


def _build(names, tmp, run):
    """Builds the named files under `tmp`; returns {name: path} for the rows' placeholders."""
    paths = {}
    for name in names:
        if name.startswith("idx_"):
            paths[name] = _idx_folder(tmp, name)
        else:
            paths[name] = BUILDERS[name](tmp, run)
    return {name: str(path) for name, path in paths.items()}


def _snapshot(root):
    """Every directory and file under `root`, with each file's size, mtime and hash."""
    state = {}
    for folder, _, files in os.walk(root):
        state[os.path.relpath(folder, root) + "/"] = None
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            stat = os.stat(path)
            state[os.path.relpath(path, root)] = (stat.st_size, stat.st_mtime_ns, digest)
    return state


def assert_unchanged(before, after):
    lost = sorted(set(before) - set(after))
    added = sorted(set(after) - set(before))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    assert not (lost or added or changed), f"lost {lost}, added {added}, changed {changed}"


@pytest.fixture
def run_source(request):
    """Gets the session's trained run only for rows that need one (it costs ~10 s once)."""
    return lambda: request.getfixturevalue("trained_run")[0]


# --- the commands ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Command:
    id: str
    program: str  # train, evaluate or visualize
    flags: tuple[str, ...]  # str.format'ed with {tmp} and the paths of `files`
    phrase: str  # must be in the last stderr line
    files: tuple[str, ...] = ()  # BUILDERS names or idx_* folder kinds


def _train(id, flags, phrase, files=()):
    # Every train row names a model_dir inside the snapshot, so that a row that did
    # not fail would be caught writing there.
    if not any(f.startswith("--model_dir") for f in flags):
        flags = (*flags, "--model_dir={tmp}/new_run")
    return Command(id, "train", tuple(flags), phrase, tuple(files))


def _evaluate(id, flags, phrase, files=()):
    return Command(id, "evaluate", tuple(flags), phrase, tuple(files))


def _visualize(id, flags, phrase, files=()):
    return Command(id, "visualize", tuple(flags), phrase, tuple(files))


COMMANDS = [
    # Flags: wrong types, out of range, conflicting, unknown, stray.
    _train("train-latent_dims-not-an-integer", ["--latent_dims=abc"], "flag --latent_dims=abc"),
    _train("train-epochs-zero", ["--epochs=0"], "epochs must be a positive integer, got 0"),
    _train("train-beta-negative", ["--beta=-1"], "beta must be a finite number >= 0, got -1"),
    _train("train-num_samples-zero", ["--num_samples=0"], "num_samples must be a positive integer"),
    _train(
        "train-validation_fraction-above-1",
        ["--validation_fraction=1.5"],
        "validation_fraction must be between 0 and 1, got 1.5",
    ),
    _train("train-seed-negative", ["--seed=-1"], "seed must be in [0, 2**31), got -1"),
    _train("train-learning_rate-nan", ["--learning_rate=nan"], "learning_rate must be a positive"),
    _train("train-hidden_units-negative", ["--hidden_units=16,-4"], "hidden_units must be positive integers"),
    _train(
        "train-iwae-with-beta-2",
        ["--objective=iwae", "--beta=2"],
        "beta must be 1 with objective=iwae",
    ),
    _train(
        "train-capacity_epochs-without-capacity_max",
        ["--capacity_epochs=3"],
        "capacity_epochs needs capacity_max > 0",
    ),
    _train(
        "train-kl_warmup-with-iwae",
        ["--objective=iwae", "--kl_warmup_epochs=2"],
        "kl_warmup_epochs applies to objective=elbo only",
    ),
    _train("train-unknown-dataset", ["--dataset=cifar100"], "unknown dataset 'cifar100'"),
    _train("train-enum-flag-bad-value", ["--jit_compile=maybe"], "flag --jit_compile=maybe"),
    _train("train-misspelt-flag", ["--latent_dim=2"], "Unknown command line flag 'latent_dim'"),
    # The model options of the "beyond one Gaussian layer" issue, where they do not apply.
    _train(
        "train-conditional-on-unlabelled-data",
        ["--conditional", "--dataset=binarized_mnist", "--data_dir={tmp}"],
        "conditional needs labels, and binarized_mnist has none",
    ),
    _train(
        "train-conditional-with-vampprior",
        ["--conditional", "--prior=vamp"],
        "conditional takes prior=standard and one stochastic layer",
    ),
    _train(
        "train-pseudo-inputs-without-vampprior",
        ["--num_pseudo_inputs=100"],
        "num_pseudo_inputs applies to prior=vamp only",
    ),
    _train(
        "train-top-hidden-units-without-a-top-layer",
        ["--top_hidden_units=20"],
        "top_hidden_units applies with a second stochastic layer only",
    ),
    _train(
        "train-continuous-bernoulli-on-bits",
        ["--likelihood=continuous_bernoulli", "--binarize=dynamic"],
        "likelihood=continuous_bernoulli is a density of grey levels",
    ),
    _train(
        "train-binarized-mnist-binarized-again",
        ["--dataset=binarized_mnist", "--binarize=static", "--data_dir={tmp}"],
        "binarized_mnist is already binary",
    ),
    _train(
        "train-frey-face-without-data-dir",
        ["--dataset=frey_face", "--likelihood=gaussian"],
        "name their folder with data_dir",
    ),
    _train(
        "train-early-stopping-negative",
        ["--early_stopping_epochs=-1"],
        "early_stopping_epochs must be an integer >= 0, got -1",
    ),
    _train("train-unknown-prior", ["--prior=flow"], "flag --prior=flow"),
    _train("train-positional-argument", ["stray"], "unexpected arguments ['stray']"),
    _train(
        "train-gaussian_sigma-infinite",
        ["--likelihood=gaussian", "--gaussian_sigma=inf"],
        "gaussian_sigma must be a finite positive number, got inf",
    ),
    _train(
        "train-latent_dims-huge",
        ["--latent_dims=1000000000"],
        "latent_dims and hidden_units must be at most 100,000",
    ),
    _train(
        "train-model-too-large",
        ["--hidden_units=90000,90000"],
        "the model would have 16,342,020,788 weights",
    ),
    _train("train-batch_size-huge", ["--batch_size=1000000000"], "batch_size must be an integer"),
    _train("train-distribution-unknown", ["--distribution=tpu"], "flag --distribution=tpu"),
    _train(
        "train-multi_worker-without-TF_CONFIG",
        ["--distribution=multi_worker"],
        "needs the TF_CONFIG environment variable",
    ),
    # Data: an idx: folder with a missing, mislabelled, truncated or foreign file.
    _train(
        "train-idx-folder-missing",
        ["--dataset=idx:{tmp}/no_such_folder"],
        "no_such_folder does not exist",
    ),
    _train(
        "train-idx-missing-file",
        ["--dataset=idx:{idx_missing_file}"],
        "has no t10k-labels-idx1-ubyte or t10k-labels-idx1-ubyte.gz",
        ["idx_missing_file"],
    ),
    _train(
        "train-idx-wrong-magic",
        ["--dataset=idx:{idx_wrong_magic}"],
        "has magic number 0x00000801, expected 0x00000803",
        ["idx_wrong_magic"],
    ),
    _train(
        "train-idx-truncated-gzip",
        ["--dataset=idx:{idx_truncated_gzip}"],
        "is truncated (its gzip stream ends early)",
        ["idx_truncated_gzip"],
    ),
    _train(
        "train-idx-truncated-data",
        ["--dataset=idx:{idx_truncated_data}"],
        "(truncated)",
        ["idx_truncated_data"],
    ),
    _train(
        "train-idx-label-count-mismatch",
        ["--dataset=idx:{idx_count_mismatch}"],
        "train split has 40 images but 30 labels",
        ["idx_count_mismatch"],
    ),
    _train(
        "train-idx-test-images-20x20",
        ["--dataset=idx:{idx_test_20x20}"],
        "its training examples are (28, 28) but its test examples are (20, 20)",
        ["idx_test_20x20"],
    ),
    _train(
        "train-idx-colour-images",
        ["--dataset=idx:{idx_colour}"],
        "has magic number 0x00000804, expected 0x00000803",
        ["idx_colour"],
    ),
    _train(
        "train-idx-text-file-named-like-idx",
        ["--dataset=idx:{idx_text_file}"],
        "expected 0x00000803 (not an MNIST-format IDX file",
        ["idx_text_file"],
    ),
    _train(
        "train-idx-empty-file",
        ["--dataset=idx:{idx_empty_file}"],
        "is too short to be an IDX file (0 bytes)",
        ["idx_empty_file"],
    ),
    _train(
        "train-idx-one-training-image",
        ["--dataset=idx:{idx_one_image}"],
        "1 training images are too few",
        ["idx_one_image"],
    ),
    # Model directories: an earlier run, or a file, where the new run would go.
    _train(
        "train-into-a-finished-run",
        ["--dataset=mnist_sample", "--model_dir={run}"],
        "already holds a finished keras_vae run; choose a new or empty model_dir",
        ["run"],
    ),
    _train(
        "train-into-an-unfinished-run-with-other-settings",
        ["--dataset=mnist_sample", "--likelihood=bernoulli", "--model_dir={partial_run}"],
        "holds an unfinished run with other settings (data.dataset:",
        ["partial_run"],
    ),
    _train(
        "train-into-an-unfinished-run-with-truncated-config",
        ["--dataset=mnist_sample", "--model_dir={partial_truncated_config}"],
        "has an unreadable config.json",
        ["partial_truncated_config"],
    ),
    _train(
        "train-into-a-folder-of-another-program",
        ["--dataset=mnist_sample", "--model_dir={other_program}"],
        "already holds files; choose a new or empty model_dir",
        ["other_program"],
    ),
    _train(
        "train-model_dir-is-a-file",
        ["--dataset=mnist_sample", "--model_dir={a_file}"],
        "exists and is not a directory",
        ["a_file"],
    ),
    _train(
        "train-model_dir-under-a-file",
        ["--dataset=mnist_sample", "--model_dir={a_file}/run"],
        "cannot be created",
        ["a_file"],
    ),
    # evaluate: flags.
    _evaluate(
        "evaluate-num_importance_samples-zero",
        ["--model_dir={run}", "--num_importance_samples=0"],
        "num_importance_samples must be a positive integer, got 0",
        ["run"],
    ),
    _evaluate(
        "evaluate-num_importance_samples-not-an-integer",
        ["--model_dir={run}", "--num_importance_samples=abc"],
        "flag --num_importance_samples=abc",
        ["run"],
    ),
    _evaluate(
        "evaluate-unknown-split",
        ["--model_dir={run}", "--split=dev"],
        "flag --split=dev: value should be one of <train|validation|test>",
        ["run"],
    ),
    _evaluate(
        "evaluate-seed-negative", ["--model_dir={run}", "--seed=-1"], "seed must be in", ["run"]
    ),
    _evaluate(
        "evaluate-model_dir-and-saved_model",
        ["--model_dir={run}", "--saved_model={run}/saved_model"],
        "give exactly one of model_dir",
        ["run"],
    ),
    _evaluate(
        "evaluate-positional-argument",
        ["--model_dir={run}", "stray"],
        "unexpected arguments ['stray']",
        ["run"],
    ),
    _evaluate(
        "evaluate-bare-saved_model-other-data-validation",
        ["--saved_model={run}/saved_model", "--dataset=mnist_sample", "--split=validation"],
        "cannot be rebuilt",
        ["run"],
    ),
    _evaluate(
        "evaluate-output-folder-missing",
        ["--model_dir={run}", "--output={tmp}/no_such_folder/eval.json"],
        "no_such_folder does not exist",
        ["run"],
    ),
    _evaluate(
        "evaluate-output-is-a-directory",
        ["--model_dir={run}", "--output={other_program}"],
        "is a directory",
        ["run", "other_program"],
    ),
    # evaluate: model directories.
    _evaluate("evaluate-model_dir-missing", ["--model_dir={tmp}/gone"], "gone does not exist"),
    _evaluate(
        "evaluate-folder-of-another-program",
        ["--model_dir={other_program}"],
        "is not a keras_vae run (no config.json)",
        ["other_program"],
    ),
    _evaluate(
        "evaluate-run-without-saved_model",
        ["--model_dir={partial_run}"],
        "has no saved_model/",
        ["partial_run"],
    ),
    _evaluate(
        "evaluate-saved_model-without-pb",
        ["--model_dir={run_without_pb}"],
        "has a saved_model/ without saved_model.pb",
        ["run_without_pb"],
    ),
    _evaluate(
        "evaluate-truncated-config-json",
        ["--model_dir={truncated_config}"],
        "config.json is not a readable keras_vae config",
        ["truncated_config"],
    ),
    _evaluate(
        "evaluate-bare-saved_model-of-another-program",
        ["--saved_model={other_program}", "--dataset=mnist_sample"],
        "is not a TF SavedModel directory",
        ["other_program"],
    ),
    # evaluate: data.
    _evaluate(
        "evaluate-on-20x20-images",
        ["--model_dir={run}", "--dataset=idx:{idx_20x20}"],
        "the data's images are (20, 20) but the model takes (28, 28)",
        ["run", "idx_20x20"],
    ),
    _evaluate(
        "evaluate-on-idx-wrong-magic",
        ["--model_dir={run}", "--dataset=idx:{idx_wrong_magic}"],
        "has magic number 0x00000801",
        ["run", "idx_wrong_magic"],
    ),
    # visualize: flags.
    _visualize("visualize-steps-1", ["--model_dir={run}", "--steps=1"], "steps must be", ["run"]),
    _visualize(
        "visualize-num_samples-zero",
        ["--model_dir={run}", "--num_samples=0"],
        "num_samples must be a positive integer, got 0",
        ["run"],
    ),
    _visualize(
        "visualize-num_samples-huge",
        ["--model_dir={run}", "--num_samples=1000000000"],
        "would hold 1000000000 images, more than 10000",
        ["run"],
    ),
    _visualize(
        "visualize-traversal_range-infinite",
        ["--model_dir={run}", "--traversal_range=inf"],
        "traversal_range must be a positive number",
        ["run"],
    ),
    _visualize(
        "visualize-strengths-nan",
        ["--model_dir={run}", "--strengths=1,nan"],
        "strengths must be finite numbers",
        ["run"],
    ),
    _visualize(
        "visualize-manifold_size-not-an-integer",
        ["--model_dir={run}", "--manifold_size=abc"],
        "flag --manifold_size=abc",
        ["run"],
    ),
    _visualize(
        "visualize-class-not-in-the-data",
        ["--model_dir={run}", "--towards=42"],
        "class '42' is not in the data",
        ["run"],
    ),
    _visualize(
        "visualize-out-is-a-file",
        ["--model_dir={run}", "--out={a_file}"],
        "exists and is not a directory",
        ["run", "a_file"],
    ),
    # visualize: model directories and data.
    _visualize(
        "visualize-config-json-missing-fields",
        ["--model_dir={config_missing_fields}"],
        "config.json is not a readable keras_vae config",
        ["config_missing_fields"],
    ),
    _visualize(
        "visualize-saved_model-without-pb",
        ["--model_dir={run_without_pb}"],
        "without saved_model.pb",
        ["run_without_pb"],
    ),
    _visualize(
        "visualize-on-idx-empty-file",
        ["--model_dir={run}", "--dataset=idx:{idx_empty_file}"],
        "too short to be an IDX file",
        ["run", "idx_empty_file"],
    ),
    _visualize(
        "visualize-on-20x20-images",
        ["--model_dir={run}", "--dataset=idx:{idx_20x20}"],
        "the data's images are (20, 20) but the model takes (28, 28)",
        ["run", "idx_20x20"],
    ),
]


@pytest.mark.parametrize("row", COMMANDS, ids=[row.id for row in COMMANDS])
def test_command_rejects_bad_input(row, tmp_path, run_source):
    paths = _build(row.files, tmp_path, run_source)
    flags = [flag.format(tmp=tmp_path, **paths) for flag in row.flags]
    before = _snapshot(tmp_path)
    program = f"keras_vae.{row.program}"
    result = subprocess.run(
        [sys.executable, "-m", program, *flags],
        capture_output=True,
        text=True,
        timeout=120,
        # In tmp_path, so that even a default output path would land in the snapshot.
        cwd=tmp_path,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]),
            "KERAS_VAE_OFFLINE": "1",
        },
    )
    assert result.returncode != 0, result.stdout[-2000:]
    assert "Traceback" not in result.stdout + result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, "nothing on stderr"
    assert lines[-1].startswith(f"{program}: error: "), result.stderr[-2000:]
    assert row.phrase in lines[-1], lines[-1]
    assert_unchanged(before, _snapshot(tmp_path))


# --- the SavedModel's signatures -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Call:
    id: str
    signature: str
    inputs: Callable  # (tf, valid images float32 [3, 28, 28]) -> keyword arguments
    phrase: str
    error: str = "InvalidArgumentError"  # or TypeError


def _with(x, index, value):
    x = x.copy()
    x[index] = value
    return x


SIGNATURES = [
    Call("encode-rank-2", "encode", lambda tf, x: dict(images=x.reshape(3, 784)), "[3,784]"),
    Call("encode-rank-4", "encode", lambda tf, x: dict(images=x[..., None]), "[3,28,28,1] is not"),
    Call(
        "encode-20x20",
        "encode",
        lambda tf, x: dict(images=x[:, :20, :20]),
        "[3,20,20] is not compatible with expected shape [?,28,28]",
    ),
    Call(
        "encode-float64",
        "encode",
        lambda tf, x: dict(images=tf.constant(x, tf.float64)),
        "expected to be a float tensor but is a double tensor",
    ),
    Call(
        "encode-uint8",
        "encode",
        lambda tf, x: dict(images=tf.constant(x * 255, tf.uint8)),
        "expected to be a float tensor but is a uint8 tensor",
    ),
    Call(
        "encode-nan-pixel",
        "encode",
        lambda tf, x: dict(images=_with(x, (1, 5, 5), np.nan)),
        "images must be finite and in [0, 1]",
    ),
    Call(
        "encode-pixels-0-to-255",
        "encode",
        lambda tf, x: dict(images=x * 255),
        "images must be finite and in [0, 1]",
    ),
    Call(
        "reconstruct-negative-pixel",
        "reconstruct",
        lambda tf, x: dict(images=_with(x, (0, 0, 0), -0.01)),
        "images must be finite and in [0, 1]",
    ),
    Call(
        "reconstruct-infinite-pixel",
        "reconstruct",
        lambda tf, x: dict(images=_with(x, (2, 27, 27), np.inf)),
        "images must be finite and in [0, 1]",
    ),
    Call(
        "decode-z-too-wide",
        "decode",
        lambda tf, x: dict(z=np.zeros((3, 5), np.float32)),
        "z [3,5] is not compatible with expected shape [?,2]",
    ),
    Call(
        "decode-z-nan",
        "decode",
        lambda tf, x: dict(z=np.array([[0.0, np.nan]], np.float32)),
        "z must be finite",
    ),
    Call(
        "sample-zero",
        "sample",
        lambda tf, x: dict(num_samples=tf.constant(0), seed=tf.constant(0, tf.int64)),
        "num_samples must be positive",
    ),
    Call(
        "sample-negative",
        "sample",
        lambda tf, x: dict(num_samples=tf.constant(-5), seed=tf.constant(0, tf.int64)),
        "num_samples must be positive",
    ),
    Call(
        "sample-2**30",
        "sample",
        lambda tf, x: dict(num_samples=tf.constant(2**30), seed=tf.constant(0, tf.int64)),
        "split the request into smaller calls",
    ),
    Call(
        "sample-num_samples-not-a-scalar",
        "sample",
        lambda tf, x: dict(num_samples=tf.constant([2, 3]), seed=tf.constant(0, tf.int64)),
        "num_samples [2] is not compatible with expected shape []",
    ),
    Call(
        "sample-seed-shape-2",
        "sample",
        lambda tf, x: dict(num_samples=tf.constant(2), seed=tf.constant([1, 2], tf.int64)),
        "seed [2] is not compatible with expected shape []",
    ),
    Call(
        "sample-seed-int32",
        "sample",
        lambda tf, x: dict(num_samples=tf.constant(2), seed=tf.constant(1)),
        "expected to be a int64 tensor but is a int32 tensor",
    ),
    Call(
        "log_weights-zero-samples",
        "log_weights",
        lambda tf, x: dict(
            images=x, num_samples=tf.constant(0), seed=tf.constant([1, 2], tf.int64)
        ),
        "num_samples must be positive",
    ),
    Call(
        "log_weights-2**30-samples",
        "log_weights",
        lambda tf, x: dict(
            images=x, num_samples=tf.constant(2**30), seed=tf.constant([1, 2], tf.int64)
        ),
        "split the request into smaller calls",
    ),
    Call(
        "log_weights-scalar-seed",
        "log_weights",
        lambda tf, x: dict(images=x, num_samples=tf.constant(4), seed=tf.constant(1, tf.int64)),
        "seed [] is not compatible with expected shape [2]",
    ),
    Call(
        "log_weights-seed-of-3",
        "log_weights",
        lambda tf, x: dict(
            images=x, num_samples=tf.constant(4), seed=tf.constant([1, 2, 3], tf.int64)
        ),
        "seed [3] is not compatible with expected shape [2]",
    ),
    Call(
        "log_weights-nan-pixel",
        "log_weights",
        lambda tf, x: dict(
            images=_with(x, (0, 14, 14), np.nan),
            num_samples=tf.constant(4),
            seed=tf.constant([1, 2], tf.int64),
        ),
        "images must be finite and in [0, 1]",
    ),
    Call(
        "log_weights-flat-images",
        "log_weights",
        lambda tf, x: dict(
            images=x.reshape(3, 784), num_samples=tf.constant(4), seed=tf.constant([1, 2], tf.int64)
        ),
        "images [3,784] is not compatible",
    ),
    Call(
        "interpolate-one-step",
        "interpolate",
        lambda tf, x: dict(start_images=x, end_images=x, num_steps=tf.constant(1)),
        "num_steps must be at least 2",
    ),
    Call(
        "interpolate-mismatched-batches",
        "interpolate",
        lambda tf, x: dict(start_images=x, end_images=x[:2], num_steps=tf.constant(3)),
        "start_images and end_images must hold as many images",
    ),
    Call(
        "interpolate-2**30-steps",
        "interpolate",
        lambda tf, x: dict(start_images=x, end_images=x, num_steps=tf.constant(2**30)),
        "num_steps asks for more than",
    ),
    Call(
        "interpolate-end-pixels-above-1",
        "interpolate",
        lambda tf, x: dict(start_images=x, end_images=x + 1, num_steps=tf.constant(3)),
        "end_images must be finite and in [0, 1]",
    ),
    Call(
        "interpolate-missing-num_steps",
        "interpolate",
        lambda tf, x: dict(start_images=x, end_images=x),
        "missing required arguments: num_steps",
        error="TypeError",
    ),
]


@pytest.fixture(scope="module")
def loaded(trained_run):
    """The run's SavedModel through TensorFlow alone, and valid images for it."""
    import tensorflow as tf

    m = tf.saved_model.load(os.path.join(trained_run[0], "saved_model"))
    images = np.random.default_rng(0).random((3, 28, 28)).astype(np.float32)
    return tf, m, images


@pytest.mark.parametrize("row", SIGNATURES, ids=[row.id for row in SIGNATURES])
def test_signature_rejects_bad_input(row, loaded):
    tf, m, images = loaded
    error = tf.errors.InvalidArgumentError if row.error == "InvalidArgumentError" else TypeError
    inputs = {
        k: tf.constant(v) if isinstance(v, np.ndarray) else v
        for k, v in row.inputs(tf, images).items()
    }
    with pytest.raises(error) as caught:
        m.signatures[row.signature](**inputs)
    assert row.phrase in str(caught.value)


def test_signatures_accept_the_edges_of_valid_input(loaded):
    # The counterpart of the table: the checks must not turn away what is allowed.
    tf, m, images = loaded
    edges = images.copy()
    edges[0], edges[1] = 0.0, 1.0  # All-black and all-white images are in range.
    seed2 = tf.constant([1, 2], tf.int64)
    assert m.signatures["encode"](images=tf.constant(edges))["mean"].shape == (3, 2)
    assert m.signatures["reconstruct"](images=tf.constant(edges))["images"].shape == (3, 28, 28)
    out = m.signatures["sample"](num_samples=tf.constant(1), seed=tf.constant(7, tf.int64))
    assert out["images"].shape == (1, 28, 28)
    out = m.signatures["interpolate"](
        start_images=tf.constant(edges), end_images=tf.constant(images), num_steps=tf.constant(2)
    )
    assert out["images"].shape == (3, 2, 28, 28)
    out = m.signatures["log_weights"](
        images=tf.constant(edges), num_samples=tf.constant(1), seed=seed2
    )
    assert out["log_weights"].shape == (1, 3) and np.all(np.isfinite(out["log_weights"]))
    # An empty batch asks for nothing and gets nothing.
    assert m.signatures["encode"](images=tf.zeros([0, 28, 28]))["mean"].shape == (0, 2)


# --- the Python API -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Api:
    id: str
    call: Callable  # (ctx) -> anything; must raise
    error: type
    phrase: str
    files: tuple[str, ...] = ()  # built under ctx.tmp; the row must leave them unchanged


@pytest.fixture(scope="module")
def models(trained_run):
    """The run as a SavedModel handle and as an in-memory Keras handle, with labelled images."""
    import keras

    from keras_vae import handles
    from keras_vae import model as _  # noqa: F401  Registers VAE for load_model.

    path = trained_run[0]
    vae = keras.saving.load_model(os.path.join(path, "checkpoints", "latest.keras"), compile=False)
    images, labels = synthetic_digits(20, seed=5)
    return dict(
        saved=handles.load_saved_model(os.path.join(path, "saved_model")),
        keras=handles.KerasHandle(vae),
        x=images / np.float32(255),
        labels=labels,
    )


@dataclasses.dataclass
class Ctx:
    saved: object
    keras: object
    x: np.ndarray
    labels: np.ndarray
    tmp: object
    paths: dict


def _inference():
    from keras_vae import inference

    return inference


def _handles():
    from keras_vae import handles

    return handles


def _evaluation():
    from keras_vae import evaluation

    return evaluation


def _latent():
    from keras_vae import latent

    return latent


def _load_idx(folder):
    return data_lib.load_splits(
        config_lib.DataConfig(dataset=f"idx:{folder}", binarize="none"), seed=0
    )


def _evaluate_bare_saved_model(c):
    # The post-TensorFlow check: a bare SavedModel knows its image size only once loaded.
    from keras_vae import evaluation

    config = eval_config.resolve(
        eval_config.EvalConfig(
            saved_model=os.path.join(c.paths["run"], "saved_model"),
            dataset=f"idx:{c.paths['idx_20x20']}",
            num_importance_samples=2,
            output=str(c.tmp / "eval.json"),
        )
    )
    return evaluation.evaluate_run(config, print_fn=lambda *a, **k: None)


def _visualize_bare_saved_model(c):
    from keras_vae import visualization, visualize_config

    config = visualize_config.resolve(
        visualize_config.VisualizeConfig(
            saved_model=os.path.join(c.paths["run"], "saved_model"),
            dataset=f"idx:{c.paths['idx_20x20']}",
            out=str(c.tmp / "figures"),
        )
    )
    return visualization.visualize(config, print_fn=lambda *a, **k: None)


API = [
    Api(
        "inference-encode_means-flat-images",
        lambda c: _inference().encode_means(c.saved, c.x.reshape(20, 784)),
        ValueError,
        "images must be [N, 28, 28], got shape (20, 784)",
    ),
    Api(
        "inference-reconstruct-uint8-images",
        lambda c: _inference().reconstruct(c.saved, (c.x * 255).astype(np.uint8)),
        ValueError,
        "images must be floats in [0, 1], got dtype uint8",
    ),
    Api(
        "inference-encode_means-nan-pixel",
        lambda c: _inference().encode_means(c.keras, _with(c.x, (3, 3, 3), np.nan)),
        ValueError,
        "images must be finite and in [0, 1]; 1 pixels are not",
    ),
    Api(
        "inference-reconstruct-keras-pixels-0-to-255",
        lambda c: _inference().reconstruct(c.keras, c.x * 255),
        ValueError,
        "images must be finite and in [0, 1]",
    ),
    Api(
        "inference-sample-zero",
        lambda c: _inference().sample(c.saved, 0, seed=0),
        ValueError,
        "num_samples must be at least 1, got 0",
    ),
    Api(
        "inference-sample-2**30",
        lambda c: _inference().sample(c.keras, 2**30, seed=0),
        ValueError,
        "split the request into smaller calls",
    ),
    Api(
        "inference-decode-codes-too-wide",
        lambda c: _inference().decode(c.saved, np.zeros((4, 5))),
        ValueError,
        "codes must end in 2 latent dims, got (4, 5)",
    ),
    Api(
        "inference-interpolate-mismatched-batches",
        lambda c: _inference().interpolate(c.saved, c.x[:3], c.x[3:5], 5),
        ValueError,
        "3 start images but 2 end images",
    ),
    Api(
        "inference-interpolate-one-step",
        lambda c: _inference().interpolate(c.saved, c.x[:2], c.x[2:4], 1),
        ValueError,
        "at least 2 steps",
    ),
    Api(
        "inference-interpolate-unknown-method",
        lambda c: _inference().interpolate(c.saved, c.x[:2], c.x[2:4], 5, "cubic"),
        ValueError,
        "method must be linear or spherical, got 'cubic'",
    ),
    Api(
        "inference-traverse-dimension-out-of-range",
        lambda c: _inference().traverse(c.saved, c.x[0], dims=[2], values=[0.0, 1.0]),
        ValueError,
        "latent dimension 2 is out of range 0..1",
    ),
    Api(
        "inference-attribute_vector-absent-class",
        lambda c: _inference().attribute_vector(c.saved, c.x, c.labels, towards=42, away_from=0),
        ValueError,
        "no examples of class 42",
    ),
    Api(
        "inference-attribute_vector-labels-too-short",
        lambda c: _inference().attribute_vector(c.saved, c.x, c.labels[:-1], 1, 0),
        ValueError,
        "labels must hold one label per code: 20 codes",
    ),
    Api(
        "inference-add_attribute-vector-of-1",
        lambda c: _inference().add_attribute(c.saved, c.x[:2], np.ones(1), [0.0, 1.0]),
        ValueError,
        "codes must be [B, L] and the vector [L], got (2, 2) and (1,)",
    ),
    Api(
        "latent-linear_path-one-start-for-3-ends",
        lambda c: _latent().linear_path(np.zeros((1, 2)), np.ones((3, 2)), 4),
        ValueError,
        "start and end codes must both be [B, L], got shapes (1, 2) and (3, 2)",
    ),
    Api(
        "latent-traversal-base-not-a-vector",
        lambda c: _latent().traversal(np.zeros((2, 2)), [0], [0.0]),
        ValueError,
        "the base code must be one vector",
    ),
    Api(
        "handles-as_handle-not-a-model",
        lambda c: _handles().as_handle("runs/vae"),
        TypeError,
        "expected a keras_vae VAE or handle, got str",
    ),
    Api(
        "handles-keras-log_weights-zero-samples",
        lambda c: c.keras.log_weights(c.x, 0, [1, 2]),
        ValueError,
        "num_samples must be a positive integer, got 0",
    ),
    Api(
        "handles-saved-log_weights-2**30-samples",
        lambda c: c.saved.log_weights(c.x, 2**30, [1, 2]),
        ValueError,
        "split the request into smaller calls",
    ),
    Api(
        "handles-saved-log_weights-seed-of-3",
        lambda c: c.saved.log_weights(c.x, 4, [1, 2, 3]),
        ValueError,
        "seed must be two integers, got shape (3,)",
    ),
    Api(
        "evaluation-per_example_bounds-zero-samples",
        lambda c: _evaluation().per_example_bounds(c.saved, c.x, 0, seed=0),
        ValueError,
        "num_samples must be a positive integer, got 0",
    ),
    Api(
        "evaluation-evaluate_images-flat-images",
        lambda c: _evaluation().evaluate_images(c.saved, c.x.reshape(20, 784), 5),
        ValueError,
        "images must be [N, 28, 28]",
    ),
    # Files.
    Api(
        "handles-load_saved_model-folder-of-another-program",
        lambda c: _handles().load_saved_model(c.paths["other_program"]),
        ModelDirError,
        "is not a SavedModel (no saved_model.pb)",
        ("other_program",),
    ),
    Api(
        "handles-load_saved_model-garbage-pb",
        lambda c: _handles().load_saved_model(c.paths["garbage_saved_model"]),
        ModelDirError,
        "cannot load SavedModel",
        ("garbage_saved_model",),
    ),
    Api(
        "model_dir-check_writable-existing-run",
        lambda c: model_dir.check_writable(c.paths["run"]),
        ModelDirError,
        "already holds a keras_vae run",
        ("run",),
    ),
    Api(
        "model_dir-check_run-finished-run",
        lambda c: model_dir.check_run(
            c.paths["run"], config_lib.load(os.path.join(c.paths["run"], "config.json")).to_dict()
        ),
        ModelDirError,
        "already holds a finished keras_vae run",
        ("run",),
    ),
    Api(
        "data-load_model_data-truncated-config",
        lambda c: data_lib.load_model_data(c.paths["truncated_config"], None, None, None, 0),
        ModelDirError,
        "config.json is not a readable keras_vae config (JSONDecodeError",
        ("truncated_config",),
    ),
    Api(
        "data-load_splits-label-count-mismatch",
        lambda c: _load_idx(c.paths["idx_count_mismatch"]),
        DataError,
        "40 images but 30 labels",
        ("idx_count_mismatch",),
    ),
    Api(
        "data-load_splits-colour-images",
        lambda c: _load_idx(c.paths["idx_colour"]),
        DataError,
        "magic number 0x00000804",
        ("idx_colour",),
    ),
    Api(
        "eval_config-resolve-zero-samples",
        lambda c: eval_config.resolve(
            eval_config.EvalConfig(model_dir=c.paths["run"], num_importance_samples=0)
        ),
        ConfigError,
        "num_importance_samples must be a positive integer",
        ("run",),
    ),
    Api(
        "evaluation-bare-saved_model-on-20x20-images",
        _evaluate_bare_saved_model,
        DataError,
        "the data's images are (20, 20) but the model takes (28, 28)",
        ("run", "idx_20x20"),
    ),
    Api(
        "visualization-bare-saved_model-on-20x20-images",
        _visualize_bare_saved_model,
        DataError,
        "the data's images are (20, 20) but the model takes (28, 28)",
        ("run", "idx_20x20"),
    ),
]


@pytest.mark.parametrize("row", API, ids=[row.id for row in API])
def test_api_rejects_bad_input(row, models, tmp_path, run_source):
    paths = _build(row.files, tmp_path, run_source)
    ctx = Ctx(tmp=tmp_path, paths=paths, **models)
    before = _snapshot(tmp_path)
    with pytest.raises(row.error) as caught:
        row.call(ctx)
    assert row.phrase in str(caught.value)
    assert len(str(caught.value).strip().splitlines()) == 1, str(caught.value)
    assert_unchanged(before, _snapshot(tmp_path))


def test_the_catalogue_is_large_and_its_ids_unique():
    ids = [row.id for table in (COMMANDS, SIGNATURES, API) for row in table]
    assert len(ids) == len(set(ids))
    assert len(COMMANDS) >= 32 and len(SIGNATURES) >= 20 and len(API) >= 20
