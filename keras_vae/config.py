"""Typed configuration of a training run, with validation that names the bad field.

This module imports neither TensorFlow nor absl: the commands validate a config
before paying for `import tensorflow`, so a bad flag costs a fraction of a second.
"""

import dataclasses
import json
import math
import os
import re

from keras_vae.errors import ConfigError
from keras_vae.learning_rates import LEARNING_RATE_SCHEDULES

LIKELIHOODS = ("bernoulli", "gaussian")
GAUSSIAN_VARIANCES = ("fixed", "learned")
BINARIZATIONS = ("auto", "none", "static", "dynamic")
OBJECTIVES = ("elbo", "iwae")
# The splits a run's data is scored on (evaluate, visualize).
SPLITS = ("train", "validation", "test")
JIT_COMPILE = ("auto", "on", "off")
# tf.distribute strategies (keras_vae/distribution.py); "auto" is mirrored with several
# GPUs, else none.
DISTRIBUTIONS = ("auto", "none", "mirrored", "multi_worker")
# The training input pipelines of keras_vae/pipeline.py (listed here to validate
# without importing TensorFlow).
PIPELINES = ("batched", "per_example")
ACTIVATIONS = ("relu", "tanh", "elu", "gelu", "selu", "silu", "softplus", "sigmoid", "leaky_relu")

# The tfds data sets that hold 28x28 grey-scale images with integer labels.
TFDS_DATASETS = ("mnist", "fashion_mnist", "kmnist")
EMNIST_CONFIGS = ("byclass", "bymerge", "balanced", "letters", "digits", "mnist")
# Shipped inside the package (keras_vae/bundled_data/): the full official MNIST, which
# `mnist` names, and the 5,000-digit sample that small tests train on.
BUNDLED_DATASETS = ("mnist", "mnist_sample")
BUNDLED_DATASET = "mnist_sample"
IDX_PREFIX = "idx:"
# tfds:NAME asks tfds for a name keras_vae also ships (tfds:mnist), e.g. to rebuild the
# data of a run that was trained on tfds' copy, whose training images are in another order.
TFDS_PREFIX = "tfds:"


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The VAE's architecture and objective."""

    latent_dims: int = 2
    hidden_units: tuple[int, ...] = (512, 256)
    activation: str = "relu"
    likelihood: str = "bernoulli"
    # Gaussian decoders only: "fixed" uses `gaussian_sigma` for every pixel (the
    # squared-error case); "learned" adds a per-pixel log-variance output.
    gaussian_variance: str = "fixed"
    gaussian_sigma: float = 0.1
    # "elbo": reconstruction averaged over num_samples draws of z plus beta * KL (closed
    # form); "iwae": the importance-weighted bound over num_samples draws (Burda et al.
    # 2015), which needs beta = 1 and no schedules.
    objective: str = "elbo"
    num_samples: int = 1
    # The final KL weight; TrainConfig.kl_warmup_epochs ramps it up from 0.
    beta: float = 1.0
    # capacity_max > 0 replaces beta * KL by capacity_gamma * |KL - C| (Burgess et al.
    # 2018), with the target C in nats ramped up to capacity_max over
    # TrainConfig.capacity_epochs. Burgess et al. use gamma = 1000.
    capacity_max: float = 0.0
    capacity_gamma: float = 1000.0

    def __post_init__(self):
        validate_model(self)


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the images come from and how they are prepared."""

    dataset: str = "mnist"
    data_dir: str | None = None
    # "auto" resolves to "dynamic" for Bernoulli likelihoods and "none" for Gaussian.
    binarize: str = "auto"
    validation_fraction: float = 0.1

    def __post_init__(self):
        validate_data_values(self)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping."""

    epochs: int = 30
    batch_size: int = 128
    learning_rate: float = 1e-3
    # "constant", or "burda": 3^i epochs at learning_rate * 10^(-i/7), i = 0..7 (3,280
    # epochs in all; Burda et al. 2015). See keras_vae/learning_rates.py.
    learning_rate_schedule: str = "constant"
    # Adam's epsilon; Burda et al. 2015 use 1e-4 (Keras' default is 1e-7).
    adam_epsilon: float = 1e-7
    seed: int = 0
    # TensorBoard image summaries are written every this many epochs (and after the last).
    image_every_epochs: int = 5
    # A learning curve in the literature's terms: every this many epochs (0: never), the
    # importance-weighted test NLL with curve_importance_samples draws of z per image,
    # on the first curve_examples test images (0: all), into nll_curve.json.
    curve_every_epochs: int = 0
    curve_importance_samples: int = 1000
    curve_examples: int = 0
    # 1: a progress bar on a terminal (never in a redirected log); 0 or 2: none. One
    # summary line per epoch is printed either way.
    verbose: int = 1
    # Linear ramps of the objective's weights, per epoch (see keras_vae/objectives.py):
    # beta from 0 over kl_warmup_epochs, the capacity target from 0 over capacity_epochs.
    kl_warmup_epochs: int = 0
    capacity_epochs: int = 0
    # Speed (results/benchmark.md measures each); none of them changes the maths.
    # XLA for the train step: "auto" is on with a GPU and off on CPU, where XLA's matmul
    # made the step 6x slower on our 2-core machines.
    jit_compile: str = "auto"
    # Train steps per call into the compiled function (Keras' steps_per_execution).
    steps_per_execution: int = 32
    # "batched" gathers whole uint8 batches and converts them in the model's graph;
    # "per_example" is the textbook tf.data pipeline (see keras_vae/pipeline.py).
    input_pipeline: str = "batched"
    # Adam's update as TensorFlow's fused kernel (keras_vae/optimizers.py) or Keras' ops.
    fused_optimizer: bool = True
    # TensorFlow's thread pools; 0 leaves TensorFlow's choice (one thread per core).
    intra_op_threads: int = 0
    inter_op_threads: int = 0
    # bfloat16 compute with float32 weights and losses, for GPUs (slow on CPUs without
    # bfloat16 instructions).
    mixed_precision: bool = False
    # Scaling and reproducibility (see keras_vae/distribution.py and README).
    distribution: str = "auto"
    # tf.config.experimental.enable_op_determinism: bitwise-identical runs for a seed.
    deterministic: bool = False

    def __post_init__(self):
        validate_train(self)


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything that defines one run; written to `config.json` in the model directory."""

    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    model_dir: str = ""

    def __post_init__(self):
        # Each section checked itself when it was built; what is left are the
        # combinations across sections.
        validate_schedules(self.model, self.train)
        validate_likelihood_and_data(self.model, self.data)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        model = dict(d["model"])
        model["hidden_units"] = tuple(model["hidden_units"])
        return cls(
            model=ModelConfig(**model),
            data=DataConfig(**d["data"]),
            train=TrainConfig(**d["train"]),
            model_dir=d.get("model_dir", ""),
        )


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite_non_negative(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value >= 0


def parse_hidden_units(text: str) -> tuple[int, ...]:
    """'512,256' -> (512, 256); raises ConfigError for anything but positive integers."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    _require(bool(parts), "hidden_units must list at least one layer size, e.g. 512,256")
    try:
        units = tuple(int(p) for p in parts)
    except ValueError:
        raise ConfigError(f"hidden_units must be comma-separated integers, got {text!r}") from None
    _require(all(u > 0 for u in units), f"hidden_units must all be positive, got {text!r}")
    return units


def dataset_kind(name: str) -> str:
    """'bundled', 'idx' or 'tfds'; raises ConfigError for a name keras_vae cannot load."""
    if name in BUNDLED_DATASETS:
        return "bundled"
    if name.startswith(IDX_PREFIX):
        _require(
            len(name) > len(IDX_PREFIX), "dataset idx: needs a folder, e.g. idx:/path/to/mnist"
        )
        return "idx"
    if name.startswith(TFDS_PREFIX):
        name = name[len(TFDS_PREFIX) :]
    if name in TFDS_DATASETS:
        return "tfds"
    match = re.fullmatch(r"emnist/(\w+)", name)
    if match and match.group(1) in EMNIST_CONFIGS:
        return "tfds"
    raise ConfigError(
        f"unknown dataset {name!r}: expected one of {', '.join(TFDS_DATASETS)}, "
        f"emnist/{{{','.join(EMNIST_CONFIGS)}}}, {BUNDLED_DATASET}, idx:FOLDER or tfds:NAME"
    )


# Bounds that catch a typo (an extra zero or three) before TensorFlow runs out of memory.
MAX_LAYER_UNITS = 100_000
MAX_PARAMETERS = 2**28
MAX_BATCH_SIZE = 2**20
MAX_STEPS_PER_EXECUTION = 100_000


def dense_parameters(m: ModelConfig, pixels: int = 28 * 28) -> int:
    """Weights and biases of the encoder and decoder for images of `pixels` pixels."""
    sizes = [pixels, *m.hidden_units]
    encoder = (
        sum((a + 1) * b for a, b in zip(sizes, sizes[1:])) + 2 * (sizes[-1] + 1) * m.latent_dims
    )
    outputs = 2 if m.likelihood == "gaussian" and m.gaussian_variance == "learned" else 1
    decoder_sizes = [m.latent_dims, *m.hidden_units[::-1]]
    decoder = sum((a + 1) * b for a, b in zip(decoder_sizes, decoder_sizes[1:]))
    return encoder + decoder + outputs * (decoder_sizes[-1] + 1) * pixels


def validate_model(m: ModelConfig) -> None:
    _require(
        _is_int(m.latent_dims) and m.latent_dims >= 1,
        f"latent_dims must be a positive integer, got {m.latent_dims!r}",
    )
    _require(len(m.hidden_units) >= 1, "hidden_units must list at least one layer size")
    _require(
        all(_is_int(u) and u >= 1 for u in m.hidden_units),
        f"hidden_units must all be positive integers, got {list(m.hidden_units)}",
    )
    _require(
        m.activation in ACTIVATIONS,
        f"unknown activation {m.activation!r}: expected one of {', '.join(ACTIVATIONS)}",
    )
    _require(
        m.likelihood in LIKELIHOODS,
        f"unknown likelihood {m.likelihood!r}: expected one of {', '.join(LIKELIHOODS)}",
    )
    _require(
        m.gaussian_variance in GAUSSIAN_VARIANCES,
        f"unknown gaussian_variance {m.gaussian_variance!r}: "
        f"expected one of {', '.join(GAUSSIAN_VARIANCES)}",
    )
    _require(
        isinstance(m.gaussian_sigma, (int, float))
        and math.isfinite(m.gaussian_sigma)
        and m.gaussian_sigma > 0,
        f"gaussian_sigma must be a finite positive number, got {m.gaussian_sigma!r}",
    )
    _require(
        m.latent_dims <= MAX_LAYER_UNITS and max(m.hidden_units) <= MAX_LAYER_UNITS,
        f"latent_dims and hidden_units must be at most {MAX_LAYER_UNITS:,}, "
        f"got {m.latent_dims} and {list(m.hidden_units)}",
    )
    parameters = dense_parameters(m)
    _require(
        parameters <= MAX_PARAMETERS,
        f"the model would have {parameters:,} weights for 28x28 images, more than "
        f"{MAX_PARAMETERS:,} (1 GiB of float32, 4 GiB with Adam's state); use smaller layers",
    )
    _require(
        m.beta >= 0 and m.beta != float("inf"), f"beta must be a finite number >= 0, got {m.beta!r}"
    )
    _require(
        m.objective in OBJECTIVES,
        f"unknown objective {m.objective!r}: expected one of {', '.join(OBJECTIVES)}",
    )
    _require(
        _is_int(m.num_samples) and m.num_samples >= 1,
        f"num_samples must be a positive integer, got {m.num_samples!r}",
    )
    _require(
        _is_finite_non_negative(m.capacity_max),
        f"capacity_max must be a finite number >= 0, got {m.capacity_max!r}",
    )
    _require(
        _is_finite_non_negative(m.capacity_gamma),
        f"capacity_gamma must be a finite number >= 0, got {m.capacity_gamma!r}",
    )
    if m.objective == "iwae":
        _require(
            m.beta == 1,
            f"beta must be 1 with objective=iwae (the bound has no KL weight), got {m.beta!r}",
        )
        _require(
            m.capacity_max == 0,
            f"capacity_max applies to objective=elbo only, got {m.capacity_max!r} with iwae",
        )
    if m.capacity_max > 0:
        _require(
            m.beta == 1,
            f"beta is unused when capacity_max > 0 (capacity_gamma weights |KL - C|); "
            f"leave it at 1, got {m.beta!r}",
        )


def check_data_folder(d: DataConfig) -> None:
    """That the IDX folder `d` names exists: checked when a run starts, not when the
    config is built (the folder may be made later)."""
    if dataset_kind(d.dataset) == "idx":
        folder = d.dataset[len(IDX_PREFIX) :]
        _require(os.path.isdir(folder), f"IDX data folder {folder} does not exist")


def validate_data_values(d: DataConfig) -> None:
    dataset_kind(d.dataset)
    _require(
        d.binarize in BINARIZATIONS,
        f"unknown binarize {d.binarize!r}: expected one of {', '.join(BINARIZATIONS)}",
    )
    _require(
        0 < d.validation_fraction < 1,
        f"validation_fraction must be between 0 and 1, got {d.validation_fraction!r}",
    )


def validate_train(t: TrainConfig) -> None:
    _require(
        _is_int(t.epochs) and t.epochs >= 1, f"epochs must be a positive integer, got {t.epochs!r}"
    )
    _require(
        _is_int(t.batch_size) and 1 <= t.batch_size <= MAX_BATCH_SIZE,
        f"batch_size must be an integer from 1 to {MAX_BATCH_SIZE:,}, got {t.batch_size!r}",
    )
    _require(
        t.learning_rate > 0 and t.learning_rate != float("inf"),
        f"learning_rate must be a positive number, got {t.learning_rate!r}",
    )
    _require(
        t.learning_rate_schedule in LEARNING_RATE_SCHEDULES,
        f"unknown learning_rate_schedule {t.learning_rate_schedule!r}: expected one of "
        f"{', '.join(LEARNING_RATE_SCHEDULES)}",
    )
    _require(
        t.adam_epsilon > 0 and math.isfinite(t.adam_epsilon),
        f"adam_epsilon must be a positive number, got {t.adam_epsilon!r}",
    )
    _require(_is_int(t.seed) and 0 <= t.seed < 2**31, f"seed must be in [0, 2**31), got {t.seed!r}")
    _require(
        _is_int(t.image_every_epochs) and t.image_every_epochs >= 1,
        f"image_every_epochs must be a positive integer, got {t.image_every_epochs!r}",
    )
    for name in ("curve_every_epochs", "curve_examples"):
        value = getattr(t, name)
        _require(_is_int(value) and value >= 0, f"{name} must be an integer >= 0, got {value!r}")
    _require(
        _is_int(t.curve_importance_samples) and 1 <= t.curve_importance_samples <= 100_000,
        f"curve_importance_samples must be an integer from 1 to 100,000, "
        f"got {t.curve_importance_samples!r}",
    )
    _require(t.verbose in (0, 1, 2), f"verbose must be 0, 1 or 2, got {t.verbose!r}")
    _require(
        _is_int(t.kl_warmup_epochs) and t.kl_warmup_epochs >= 0,
        f"kl_warmup_epochs must be an integer >= 0, got {t.kl_warmup_epochs!r}",
    )
    _require(
        _is_int(t.capacity_epochs) and t.capacity_epochs >= 0,
        f"capacity_epochs must be an integer >= 0, got {t.capacity_epochs!r}",
    )
    _require(
        t.jit_compile in JIT_COMPILE,
        f"jit_compile must be one of {', '.join(JIT_COMPILE)}, got {t.jit_compile!r}",
    )
    _require(
        _is_int(t.steps_per_execution) and 1 <= t.steps_per_execution <= MAX_STEPS_PER_EXECUTION,
        f"steps_per_execution must be an integer from 1 to {MAX_STEPS_PER_EXECUTION:,}, "
        f"got {t.steps_per_execution!r}",
    )
    _require(
        t.input_pipeline in PIPELINES,
        f"unknown input_pipeline {t.input_pipeline!r}: expected one of {', '.join(PIPELINES)}",
    )
    _require(
        isinstance(t.fused_optimizer, bool),
        f"fused_optimizer must be true or false, got {t.fused_optimizer!r}",
    )
    _require(
        isinstance(t.mixed_precision, bool),
        f"mixed_precision must be true or false, got {t.mixed_precision!r}",
    )
    _require(
        t.distribution in DISTRIBUTIONS,
        f"unknown distribution {t.distribution!r}: expected one of {', '.join(DISTRIBUTIONS)}",
    )
    _require(
        isinstance(t.deterministic, bool),
        f"deterministic must be true or false, got {t.deterministic!r}",
    )
    for name in ("intra_op_threads", "inter_op_threads"):
        value = getattr(t, name)
        _require(
            _is_int(value) and 0 <= value <= 1024,
            f"{name} must be an integer from 0 (TensorFlow's choice) to 1024, got {value!r}",
        )


def validate_schedules(m: ModelConfig, t: TrainConfig) -> None:
    """Rejects schedules that would not change the objective they are given with."""
    if t.kl_warmup_epochs > 0:
        _require(
            m.objective == "elbo",
            f"kl_warmup_epochs applies to objective=elbo only, got {t.kl_warmup_epochs} with "
            f"{m.objective}",
        )
        _require(
            m.capacity_max == 0,
            "kl_warmup_epochs does not apply with capacity_max > 0, whose KL target rises "
            "over capacity_epochs instead",
        )
    if t.capacity_epochs > 0:
        _require(
            m.capacity_max > 0,
            f"capacity_epochs needs capacity_max > 0, got capacity_epochs={t.capacity_epochs} "
            f"with capacity_max={m.capacity_max!r}",
        )


def validate_likelihood_and_data(m: ModelConfig, d: DataConfig) -> None:
    """Refuses a likelihood that does not fit the data it is given."""
    _require(
        not (m.likelihood == "gaussian" and d.binarize in ("static", "dynamic")),
        f"likelihood=gaussian is a density of grey levels; with binarize={d.binarize} "
        "the pixels are 0 or 1, where it means nothing (it reports thousands of negative "
        "nats): use likelihood=bernoulli for binary data, or binarize=none",
    )


def validate_split_and_seed(split: str, seed: int) -> None:
    """The split and seed that evaluate and visualize score a model with."""
    _require(split in SPLITS, f"unknown split {split!r}: expected one of {', '.join(SPLITS)}")
    _require(0 <= seed < 2**31, f"seed must be in [0, 2**31), got {seed!r}")


def cluster_task(environ) -> tuple[str, int, int]:
    """(task type, task index, number of workers) from `environ`'s TF_CONFIG.

    Raises ConfigError if TF_CONFIG is missing or does not describe a worker of its
    cluster (what distribution=multi_worker needs).
    """
    text = environ.get("TF_CONFIG")
    _require(
        bool(text),
        "distribution=multi_worker needs the TF_CONFIG environment variable "
        '(e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, '
        '"task": {"type": "worker", "index": 0}})',
    )
    try:
        spec = json.loads(text)
        cluster = spec["cluster"]
        workers = list(cluster.get("worker", [])) + list(cluster.get("chief", []))
        task_type, index = spec["task"]["type"], int(spec["task"]["index"])
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ConfigError(f"TF_CONFIG is not a valid cluster description: {e!r}") from None
    _require(
        task_type in ("worker", "chief") and 0 <= index < len(cluster.get(task_type, [])),
        f"TF_CONFIG's task {task_type}:{index} is not one of its cluster's workers",
    )
    return task_type, index, len(workers)


def resolve(config: Config) -> Config:
    """Checks what a run needs beyond valid values (they were checked when `config` was
    built): its data folder and model_dir. Replaces 'auto' values by what they stand for."""
    check_data_folder(config.data)
    _require(bool(config.model_dir), "model_dir must name a directory")
    data = config.data
    if data.binarize == "auto":
        binarize = "dynamic" if config.model.likelihood == "bernoulli" else "none"
        data = dataclasses.replace(data, binarize=binarize)
    return dataclasses.replace(config, data=data)


def load(path: str) -> Config:
    """Reads a `config.json` written by `save`."""
    with open(path) as f:
        return Config.from_dict(json.load(f))
