"""`python -m keras_vae.train` end to end: the default command offline, and one-line errors."""

import json
import os
import subprocess
import sys

import pytest
from conftest import SHARED_DATA, _write_synthetic_folder, synthetic_digits, write_idx

PROGRAM = "keras_vae.train"
FAST = ["--hidden_units=16", "--batch_size=100", "--verbose=0"]


def train(*flags, env=None, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", PROGRAM, *flags],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def assert_one_line_error(result, *fragments):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{PROGRAM}: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.stdout + result.stderr


def test_default_command_trains_on_the_full_mnist_offline(tmp_path):
    # The README's main job, shortened to one epoch, on a machine without network.
    run_dir = tmp_path / "run"
    result = train(
        "--latent_dims=2",
        "--epochs=1",
        f"--model_dir={run_dir}",
        f"--data_dir={tmp_path / 'tfds'}",
        *FAST,
        env={"KERAS_VAE_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr
    assert "epoch 1/1: train loss" in result.stdout
    assert "test ELBO" in result.stdout
    with open(run_dir / "config.json") as f:
        source = json.load(f)["data_source"]
    assert source["kind"] == "bundled" and source["name"] == "mnist"
    assert source["num_train"] == 54000 and source["num_test"] == 10000
    assert (run_dir / "saved_model" / "saved_model.pb").exists()


def test_run_files_follow_the_umask(tmp_path):
    run_dir = tmp_path / "run"
    folder = _write_synthetic_folder(tmp_path / "idx", train=60, test=20)
    result = subprocess.run(
        ["bash", "-c", f"umask 022 && exec {sys.executable} -m {PROGRAM} "
         f"--dataset=idx:{folder} --epochs=1 --model_dir={run_dir} " + " ".join(FAST)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    modes = {}
    for root, _, files in os.walk(run_dir):
        for name in files:
            path = os.path.join(root, name)
            modes[os.path.relpath(path, run_dir)] = os.stat(path).st_mode & 0o777
    for name in ("config.json", "metrics.json", "saved_model/assets.extra/keras_vae_run.json"):
        assert modes[name] == 0o644, (name, oct(modes[name]))
    assert not [name for name, mode in modes.items() if mode == 0o600]


def _corrupt_folder(tmp_path, kind):
    folder = _write_synthetic_folder(tmp_path / kind, train=40, test=40)
    _, labels = synthetic_digits(40, 0)  # the training labels just written
    target = folder / "train-images-idx3-ubyte.gz"
    if kind == "bad_magic":
        write_idx(target, labels)  # a labels file where images belong
    elif kind == "truncated":
        import gzip

        raw = gzip.decompress(target.read_bytes())
        target.write_bytes(gzip.compress(raw[:-100]))
    elif kind == "truncated_gzip":
        target.write_bytes(target.read_bytes()[:200])
    elif kind == "count_mismatch":
        write_idx(folder / "train-labels-idx1-ubyte.gz", labels[:30])
    elif kind == "missing_file":
        target.unlink()
    return folder


@pytest.mark.parametrize(
    "kind, fragment",
    [
        ("bad_magic", "magic number"),
        ("truncated", "truncated"),
        ("truncated_gzip", "gzip"),
        ("count_mismatch", "40 images but 30 labels"),
        ("missing_file", "no train-images-idx3-ubyte"),
    ],
)
def test_corrupt_data_is_reported_in_one_line(tmp_path, kind, fragment):
    folder = _corrupt_folder(tmp_path, kind)
    result = train(f"--dataset=idx:{folder}", f"--model_dir={tmp_path / 'run'}", *FAST)
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--latent_dims=-1"], "latent_dims"),
        (["--latent_dims=0"], "latent_dims"),
        (["--latent_dims=two"], "latent_dims"),
        (["--beta=-0.5"], "beta"),
        (["--likelihood=poisson"], "likelihood"),
        (["--dataset=cifar100"], "unknown dataset"),
        (["--dataset=idx:/no/such/folder"], "/no/such/folder"),
        (["--hidden_units="], "hidden_units"),
        (["--hidden_units=512,abc"], "hidden_units"),
        (["--epochs=0"], "epochs"),
        (["--binarize=sometimes"], "binarize"),
        (["--num_samples=0"], "num_samples must be a positive integer"),
        (["--objective=vimco"], "flag --objective=vimco: value should be one of <elbo|iwae>"),
        (["--kl_warmup_epochs=-1"], "kl_warmup_epochs"),
        (["--capacity_max=-2"], "capacity_max"),
        (["--capacity_gamma=-1"], "capacity_gamma"),
        (["--capacity_epochs=-1"], "capacity_epochs"),
        (["--capacity_epochs=5"], "capacity_epochs needs capacity_max > 0"),
        (["--objective=iwae", "--beta=4"], "beta must be 1 with objective=iwae"),
        (["--objective=iwae", "--kl_warmup_epochs=5"], "kl_warmup_epochs"),
        (["--objective=iwae", "--capacity_max=25"], "capacity_max"),
        (["--capacity_max=25", "--kl_warmup_epochs=5"], "kl_warmup_epochs"),
        (["--no_such_flag=1"], "no_such_flag"),
        (["stray_argument"], "unexpected arguments"),
    ],
)
def test_bad_flags_are_reported_in_one_line(tmp_path, flags, fragment):
    result = train(*flags, f"--model_dir={tmp_path / 'run'}")
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--objective=iwae", "--num_samples=7"],
         {"model": {"objective": "iwae", "num_samples": 7}}),
        (["--capacity_gamma=50", "--capacity_epochs=3", "--capacity_max=9"],
         {"model": {"capacity_max": 9, "capacity_gamma": 50}, "train": {"capacity_epochs": 3}}),
        (["--kl_warmup_epochs=2", "--learning_rate_schedule=burda"],
         {"train": {"kl_warmup_epochs": 2, "learning_rate_schedule": "burda"}}),
    ],
)
def test_objective_flags_become_config_fields(flags, expected):
    # Flag parsing and Config building only: no TensorFlow, no training. (Configs check
    # their values as they are built, so each set of flags is a valid combination.)
    script = (
        "import json; from keras_vae import cli, config, train; "
        f"cli.flags.FLAGS(['x', *{flags!r}]); "
        "print(json.dumps(cli.config_from_flags(config.Config).to_dict()))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout.strip().splitlines()[-1])
    for section, fields in expected.items():
        for key, value in fields.items():
            assert config[section][key] == value, (section, key)


def test_flagfile_is_read(tmp_path):
    flagfile = tmp_path / "flags.txt"
    flagfile.write_text("--latent_dims=-3\n--epochs=1\n")
    result = train(f"--flagfile={flagfile}", f"--model_dir={tmp_path / 'run'}")
    assert_one_line_error(result, "latent_dims must be a positive integer, got -3")


def test_unwritable_model_dir(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    result = train("--dataset=mnist_sample", f"--model_dir={blocker / 'run'}", *FAST)
    assert_one_line_error(result, "model_dir")
    assert blocker.read_text() == "not a folder"


def test_existing_model_dir_is_left_untouched(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text('{"earlier": true}')
    (run_dir / "notes.txt").write_text("keep me")
    result = train("--dataset=mnist_sample", f"--model_dir={run_dir}", *FAST)
    assert_one_line_error(result, "not written by keras_vae")
    assert sorted(os.listdir(run_dir)) == ["config.json", "notes.txt"]
    assert (run_dir / "config.json").read_text() == '{"earlier": true}'


@pytest.mark.slow
@pytest.mark.skipif(
    not os.path.isdir(os.path.join(SHARED_DATA, "fashion_mnist")),
    reason="needs ../shared/data/fashion_mnist",
)
def test_full_fashion_mnist_from_idx_files(tmp_path):
    # Real data: 60,000 + 10,000 Fashion-MNIST images read from Debian's gzipped IDX files.
    run_dir = tmp_path / "run"
    result = train(
        "--latent_dims=2",
        "--epochs=1",
        "--batch_size=256",
        "--hidden_units=64",
        "--verbose=0",
        f"--dataset=idx:{os.path.join(SHARED_DATA, 'fashion_mnist')}",
        f"--model_dir={run_dir}",
    )
    assert result.returncode == 0, result.stderr
    with open(run_dir / "metrics.json") as f:
        metrics = json.load(f)
    with open(run_dir / "config.json") as f:
        source = json.load(f)["data_source"]
    assert source["num_train"] + source["num_validation"] == 60000 and source["num_test"] == 10000
    # One epoch of a small model: well below the 543 nats of a uniform Bernoulli.
    assert metrics["test"]["elbo"] > -400
    for name in ("encodings.png", "manifold.png", "reconstruction.png", "samples.png"):
        assert (run_dir / "figures" / name).exists()
