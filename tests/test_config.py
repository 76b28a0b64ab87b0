"""Tests of keras_vae.config: defaults, 'auto' resolution, validation messages, round trips."""

import dataclasses
import json

import pytest

from keras_vae import config as config_lib
from keras_vae import options
from keras_vae.config import Config, DataConfig, ModelConfig, TrainConfig
from keras_vae.errors import ConfigError


def _with(**sections):
    """A default Config (with a model_dir) with some fields of its sections replaced."""
    base = Config(model_dir="/tmp/keras_vae_run")
    return dataclasses.replace(
        base,
        **{
            name: dataclasses.replace(getattr(base, name), **fields)
            for name, fields in sections.items()
        },
    )


def _config_error(fn, *args):
    with pytest.raises(ConfigError) as info:
        fn(*(arg() if callable(arg) and not isinstance(arg, type) else arg for arg in args))
    message = str(info.value)
    assert "\n" not in message
    return message


def test_defaults_resolve():
    resolved = config_lib.resolve(Config(model_dir="/tmp/keras_vae_run"))
    # likelihood=auto: MNIST's grey pixels in [0, 1] get the continuous Bernoulli.
    assert resolved.model == dataclasses.replace(ModelConfig(), likelihood="continuous_bernoulli")
    assert resolved.train == TrainConfig()
    assert resolved.data.dataset == "mnist"
    assert resolved.data.binarize == "none"
    binary = config_lib.resolve(Config(data=DataConfig(binarize="dynamic"), model_dir="/tmp/r"))
    assert binary.model.likelihood == "bernoulli" and binary.data.binarize == "dynamic"


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


@pytest.mark.parametrize("likelihood, expected", [("bernoulli", "dynamic"), ("gaussian", "none")])
def test_resolve_maps_auto_binarize(likelihood, expected):
    resolved = config_lib.resolve(_with(model={"likelihood": likelihood}))
    assert resolved.data.binarize == expected


@pytest.mark.parametrize(
    "likelihood, binarize",
    [
        ("gaussian", "none"),
        ("bernoulli", "none"),
        ("bernoulli", "static"),
        ("bernoulli", "dynamic"),
    ],
)
def test_resolve_keeps_explicit_binarize(likelihood, binarize):
    resolved = config_lib.resolve(
        _with(model={"likelihood": likelihood}, data={"binarize": binarize})
    )
    assert resolved.data.binarize == binarize


def test_resolve_requires_a_model_dir():
    message = _config_error(config_lib.resolve, Config())
    assert "model_dir" in message


def test_resolve_does_not_mutate_its_argument():
    original = _with()
    config_lib.resolve(original)
    assert original.data.binarize == "auto"


@pytest.mark.parametrize(
    "sections, field",
    [
        ({"model": {"latent_dims": 0}}, "latent_dims"),
        ({"model": {"latent_dims": -1}}, "latent_dims"),
        ({"model": {"latent_dims": 2.5}}, "latent_dims"),
        ({"model": {"latent_dims": True}}, "latent_dims"),
        ({"model": {"beta": -1.0}}, "beta"),
        ({"model": {"beta": float("inf")}}, "beta"),
        ({"model": {"beta": float("nan")}}, "beta"),
        ({"model": {"likelihood": "poisson"}}, "likelihood"),
        ({"model": {"activation": "swishy"}}, "activation"),
        ({"model": {"hidden_units": ()}}, "hidden_units"),
        ({"model": {"hidden_units": (512, 0)}}, "hidden_units"),
        ({"model": {"gaussian_variance": "per_image"}}, "gaussian_variance"),
        ({"model": {"gaussian_sigma": 0.0}}, "gaussian_sigma"),
        ({"data": {"binarize": "sometimes"}}, "binarize"),
        ({"data": {"validation_fraction": 0.0}}, "validation_fraction"),
        ({"data": {"validation_fraction": 1.0}}, "validation_fraction"),
        ({"data": {"dataset": "cifar100"}}, "dataset"),
        ({"data": {"dataset": "idx:"}}, "dataset"),
        ({"train": {"epochs": 0}}, "epochs"),
        ({"train": {"batch_size": 0}}, "batch_size"),
        ({"train": {"learning_rate": 0.0}}, "learning_rate"),
        ({"train": {"learning_rate": -1e-3}}, "learning_rate"),
        ({"train": {"seed": -1}}, "seed"),
        ({"train": {"image_every_epochs": 0}}, "image_every_epochs"),
        ({"train": {"verbose": 3}}, "verbose"),
        ({"model": {"objective": "vimco"}}, "objective"),
        ({"model": {"num_samples": 0}}, "num_samples"),
        ({"model": {"num_samples": 2.0}}, "num_samples"),
        ({"model": {"capacity_max": -1.0}}, "capacity_max"),
        ({"model": {"capacity_max": float("nan")}}, "capacity_max"),
        ({"model": {"capacity_gamma": -1.0}}, "capacity_gamma"),
        ({"model": {"capacity_gamma": float("inf")}}, "capacity_gamma"),
        ({"train": {"kl_warmup_epochs": -1}}, "kl_warmup_epochs"),
        ({"train": {"capacity_epochs": -1}}, "capacity_epochs"),
        ({"model": {"objective": "iwae", "beta": 2.0}}, "beta"),
        ({"model": {"objective": "iwae", "capacity_max": 5.0}}, "capacity_max"),
        ({"model": {"objective": "iwae"}, "train": {"kl_warmup_epochs": 3}}, "kl_warmup_epochs"),
        ({"model": {"capacity_max": 5.0, "beta": 4.0}}, "beta"),
        ({"model": {"capacity_max": 5.0}, "train": {"kl_warmup_epochs": 3}}, "kl_warmup_epochs"),
        ({"train": {"capacity_epochs": 3}}, "capacity_epochs"),
    ],
)
def test_bad_value_raises_config_error_naming_the_field(sections, field):
    message = _config_error(config_lib.resolve, lambda: _with(**sections))
    assert field in message


@pytest.mark.parametrize(
    "sections",
    [
        {"model": {"objective": "iwae", "num_samples": 50}},
        {"model": {"num_samples": 5, "beta": 4.0}, "train": {"kl_warmup_epochs": 10}},
        {"model": {"capacity_max": 25.0, "capacity_gamma": 100.0}, "train": {"capacity_epochs": 5}},
        {"model": {"capacity_max": 25.0, "num_samples": 3}},
    ],
)
def test_objective_combinations_that_resolve(sections):
    resolved = config_lib.resolve(_with(**sections))
    expected = {"likelihood": "continuous_bernoulli", **sections["model"]}  # auto, on MNIST
    assert resolved.model == dataclasses.replace(ModelConfig(), **expected)


def test_unknown_dataset_message_lists_the_choices():
    message = _config_error(config_lib.resolve, lambda: _with(data={"dataset": "cifar100"}))
    assert "cifar100" in message
    assert "mnist_sample" in message and "idx:" in message


def test_idx_dataset_with_missing_folder(tmp_path):
    missing = str(tmp_path / "no_such_folder")
    message = _config_error(config_lib.resolve, _with(data={"dataset": "idx:" + missing}))
    assert missing in message
    assert "IDX" in message


def test_idx_dataset_with_existing_folder(tmp_path):
    resolved = config_lib.resolve(_with(data={"dataset": f"idx:{tmp_path}"}))
    assert resolved.data.dataset == f"idx:{tmp_path}"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("512,256", (512, 256)),
        ("64", (64,)),
        (" 128 , 64 ,", (128, 64)),
    ],
)
def test_parse_hidden_units(text, expected):
    assert options.parse_list(text, "hidden_units", int) == expected


@pytest.mark.parametrize("text", ["", " , ", "512,x", "512,-3", "0", "1.5"])
def test_parse_hidden_units_rejects(text):
    message = _config_error(
        lambda: ModelConfig(hidden_units=options.parse_list(text, "hidden_units", int))
    )
    assert "hidden_units" in message


@pytest.mark.parametrize(
    "name, kind",
    [
        ("fashion_mnist", "tfds"),
        ("kmnist", "tfds"),
        ("emnist/letters", "tfds"),
        ("emnist/balanced", "tfds"),
        ("mnist_sample", "bundled"),
        ("mnist", "bundled"),
        ("tfds:mnist", "tfds"),
        ("idx:/x", "idx"),
    ],
)
def test_dataset_kind(name, kind):
    assert config_lib.dataset_kind(name) == kind


@pytest.mark.parametrize(
    "name", ["emnist/nope", "emnist", "emnist/letters/extra", "cifar100", "MNIST", "idx:", ""]
)
def test_dataset_kind_rejects(name):
    message = _config_error(config_lib.dataset_kind, name)
    assert "dataset" in message


def test_to_dict_from_dict_round_trip_through_json():
    original = _with(
        model={
            "latent_dims": 16,
            "hidden_units": (300, 200, 100),
            "likelihood": "gaussian",
            "gaussian_variance": "learned",
            "num_samples": 5,
            "beta": 0.5,
        },
        data={"dataset": "fashion_mnist", "binarize": "none"},
        train={"epochs": 3, "seed": 42, "kl_warmup_epochs": 4},
    )
    original = dataclasses.replace(original, model_dir="/tmp/run")
    d = json.loads(json.dumps(original.to_dict()))
    assert d["model"]["hidden_units"] == [300, 200, 100]
    restored = Config.from_dict(d)
    assert restored == original
    assert isinstance(restored.model.hidden_units, tuple)
    assert restored.model.hidden_units == (300, 200, 100)


def test_from_dict_of_a_config_written_before_the_objective_fields():
    d = Config(model_dir="/tmp/run").to_dict()
    for name in ("objective", "num_samples", "capacity_max", "capacity_gamma"):
        del d["model"][name]
    for name in ("kl_warmup_epochs", "capacity_epochs"):
        del d["train"][name]
    assert Config.from_dict(d) == Config(model_dir="/tmp/run")


def test_from_dict_without_model_dir():
    d = Config().to_dict()
    del d["model_dir"]
    assert Config.from_dict(d).model_dir == ""


def test_load_reads_a_config_json(tmp_path):
    original = _with(model={"latent_dims": 8}, train={"batch_size": 64})
    path = tmp_path / "config.json"
    path.write_text(json.dumps(original.to_dict()))
    assert config_lib.load(str(path)) == original


def test_first_line_of_an_error():
    from keras_vae.errors import first_line

    assert first_line(ValueError("\n  bad thing\nmore context\n")) == "bad thing"
    assert first_line(ValueError("")) == "ValueError"


TWO_WORKERS = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}


@pytest.mark.parametrize(
    "tf_config, message",
    [
        (None, "needs the TF_CONFIG environment variable"),
        ("{not json", "TF_CONFIG is not a valid cluster description"),
        (json.dumps({"cluster": TWO_WORKERS}), "TF_CONFIG is not a valid cluster description"),
        (
            json.dumps({"cluster": TWO_WORKERS, "task": {"type": "worker", "index": 2}}),
            "task worker:2 is not one of its cluster's workers",
        ),
        (
            json.dumps({"cluster": TWO_WORKERS, "task": {"type": "ps", "index": 0}}),
            "task ps:0 is not one of its cluster's workers",
        ),
    ],
    ids=["missing", "not-json", "no-task", "index-out-of-range", "parameter-server"],
)
def test_bad_tf_config_is_one_clear_error(tf_config, message):
    environ = {} if tf_config is None else {"TF_CONFIG": tf_config}
    with pytest.raises(ConfigError, match=message):
        config_lib.cluster_task(environ)


def test_tf_config_names_the_task():
    spec = {
        "cluster": {**TWO_WORKERS, "chief": ["127.0.0.1:3"]},
        "task": {"type": "worker", "index": 1},
    }
    assert config_lib.cluster_task({"TF_CONFIG": json.dumps(spec)}) == ("worker", 1, 3)


@pytest.mark.parametrize(
    "build, field",
    [
        (lambda: ModelConfig(latent_dims=0), "latent_dims"),
        (lambda: ModelConfig(likelihood="poisson"), "likelihood"),
        (lambda: config_lib.DataConfig(binarize="sometimes"), "binarize"),
        (lambda: config_lib.DataConfig(dataset="cifar100"), "cifar100"),
        (lambda: TrainConfig(batch_size=0), "batch_size"),
        (lambda: TrainConfig(learning_rate_schedule="linear"), "learning_rate_schedule"),
        (
            lambda: Config(
                model=ModelConfig(objective="iwae"), train=TrainConfig(kl_warmup_epochs=2)
            ),
            "kl_warmup_epochs",
        ),
        (
            lambda: Config(
                model=ModelConfig(likelihood="gaussian"),
                data=config_lib.DataConfig(binarize="static"),
            ),
            "likelihood=gaussian",
        ),
    ],
)
def test_a_bad_value_fails_when_the_config_is_built(build, field):
    # In a notebook the mistake is named where it is made, not minutes later in training.
    assert field in _config_error(build)


def test_every_model_option_is_an_argument_of_the_vae():
    # training builds VAE(**ModelConfig fields): an option added to the config reaches
    # the model with no other edit.
    import inspect

    from keras_vae.model import VAE

    arguments = inspect.signature(VAE.__init__).parameters
    missing = [f.name for f in dataclasses.fields(ModelConfig) if f.name not in arguments]
    assert not missing


@pytest.mark.parametrize(
    "command, config_class",
    [
        ("train", "keras_vae.config.Config"),
        ("evaluate", "keras_vae.eval_config.EvalConfig"),
        ("visualize", "keras_vae.visualize_config.VisualizeConfig"),
    ],
)
def test_each_commands_flags_are_its_configs_declared_fields(command, config_class):
    # Flags are generated from the fields: one each, with the field's default and help.
    import subprocess
    import sys

    script = f"""
import dataclasses, importlib, json
from absl import flags
importlib.import_module("keras_vae.{command}")
module, name = "{config_class}".rsplit(".", 1)
cls = getattr(importlib.import_module(module), name)
def fields(c):
    for f in dataclasses.fields(c):
        if isinstance(f.type, type) and dataclasses.is_dataclass(f.type):
            yield from fields(f.type)
        else:
            yield f
defined = {{f.name: f for f in flags.FLAGS.flags_by_module_dict()["keras_vae.{command}"]}}
declared = {{f.name: f for f in fields(cls)}}
assert sorted(defined) == sorted(declared), (sorted(defined), sorted(declared))
for name, f in declared.items():
    assert defined[name].help.endswith(f.metadata["help"]), name  # enums: '<a|b>: ' first
    default = f.default if not isinstance(f.default, tuple) else ",".join(map(str, f.default))
    assert defined[name].default == default, (name, defined[name].default, default)
print("ok", len(defined))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("ok")


def test_a_run_written_before_an_option_existed_resumes_with_the_option_at_its_default(tmp_path):
    from keras_vae import model_dir

    config = Config(model_dir=str(tmp_path)).to_dict()
    older = json.loads(json.dumps(config))
    del older["train"]["global_clipnorm"]  # The record of a version without the option.
    (tmp_path / "config.json").write_text(json.dumps(older))
    assert model_dir.check_run(str(tmp_path), config) is True
    changed = Config(model_dir=str(tmp_path), train=TrainConfig(global_clipnorm=1.0))
    with pytest.raises(Exception, match="global_clipnorm: 0.0 there, 1.0 now"):
        model_dir.check_run(str(tmp_path), changed.to_dict())
