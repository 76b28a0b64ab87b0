"""Typed configuration of a training run, each option declared once, with its check.

Every field is an `options.option` (default, help text, check): the configs validate
themselves when built, naming the bad field, and `python -m keras_vae.train`'s flags
are generated from them (keras_vae/cli.py). About 450 lines, most of them the
declarations of the ~40 options of a run, each with its help text.

This module imports neither TensorFlow nor absl: the commands validate a config
before paying for `import tensorflow`, so a bad flag costs a fraction of a second.
"""

import dataclasses
import json
import os
import re

from keras_vae import options
from keras_vae.errors import ConfigError
from keras_vae.learning_rates import LEARNING_RATE_SCHEDULES
from keras_vae.options import Check, finite, integer, option

LIKELIHOODS = ("auto", "bernoulli", "gaussian", "continuous_bernoulli")
# Densities of grey levels in [0, 1]: meaningless on binary pixels.
DENSITY_LIKELIHOODS = ("gaussian", "continuous_bernoulli")
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
OPTIMIZERS = ("adam", "adagrad")
PRIORS = ("standard", "vamp")
OUTPUT_BIASES = ("zero", "data_mean")
ACTIVATIONS = ("relu", "tanh", "elu", "gelu", "selu", "silu", "softplus", "sigmoid", "leaky_relu")

# tfds data sets known by their bare name: 28x28 grey images (the MNIST family) and
# colour 32x32 ones; any other is tfds:NAME.
TFDS_DATASETS = ("mnist", "fashion_mnist", "kmnist", "cifar10", "svhn_cropped")
EMNIST_CONFIGS = ("byclass", "bymerge", "balanced", "letters", "digits", "mnist")
# Shipped inside the package (keras_vae/bundled_data/): the full official MNIST, which
# `mnist` names, and the 5,000-digit sample that small tests train on.
BUNDLED_DATASETS = ("mnist", "mnist_sample")
BUNDLED_DATASET = "mnist_sample"
# Read from files in --data_dir (../shared/data/README.md describes them):
# binarized_mnist, Larochelle & Murray's static MNIST (binarized_mnist_{train,valid,
# test}.amat[.gz], its own validation set, already 0/1); frey_face, frey_rawface.mat
# (1,965 grey 28x20 faces with no split: test_fraction of them are the test set).
FILE_DATASETS = ("binarized_mnist", "frey_face")
# Data sets whose pixels are already 0 or 1: binarize must be none (or auto).
BINARY_DATASETS = ("binarized_mnist",)
# Data sets that bring their own validation split; those that need a test split cut.
OWN_VALIDATION_DATASETS = ("binarized_mnist",)
NO_TEST_SPLIT_DATASETS = ("frey_face",)
IDX_PREFIX = "idx:"
# npz:FILE: x_train, x_test (and x_validation, y_*) of any shape (keras_vae/npz.py).
NPZ_PREFIX = "npz:"
# csv:FILE: a table with a header row (keras_vae/tables.py); images:DIR: PNG and JPEG
# files, class subfolders giving labels (keras_vae/image_folder.py). Neither has a
# test split of its own: test_fraction of the examples are held out, with a fixed seed.
CSV_PREFIX = "csv:"
IMAGES_PREFIX = "images:"
# Sources of files named after a prefix (FILE) rather than a folder in data_dir.
PATH_PREFIXES = {"idx": "idx:", "npz": "npz:", "csv": "csv:", "images": "images:"}
# tfds:NAME asks tfds for a name keras_vae also ships (tfds:mnist), e.g. to rebuild the
# data of a run that was trained on tfds' copy, whose training images are in another order.
TFDS_PREFIX = "tfds:"


# Bounds that catch a typo (an extra zero or three) before TensorFlow runs out of memory.
MAX_LAYER_UNITS = 100_000
MAX_PARAMETERS = 2**28
MAX_BATCH_SIZE = 2**20
MAX_STEPS_PER_EXECUTION = 100_000


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The VAE's architecture and objective: the arguments of keras_vae.model.VAE."""

    latent_dims: int = option(2, "Size of the latent code z.", check=integer(1))
    hidden_units: tuple[int, ...] = option(
        (512, 256),
        "Encoder hidden layer sizes, comma-separated; the decoder mirrors them.",
        check=Check(lambda v: len(v) >= 1 and all(u >= 1 for u in v), "positive integers"),
    )
    activation: str = option("relu", "Hidden-layer activation.", choices=ACTIVATIONS)
    likelihood: str = option(
        "auto",
        "p(x|z): bernoulli (binary pixels), gaussian (real values; tables are standardized), "
        "continuous_bernoulli (a density of grey levels in [0, 1]; Loaiza-Ganem & Cunningham "
        "2019) or auto: bernoulli for binary data (and with --binarize=static or dynamic), "
        "gaussian with a learned variance for real-valued data, continuous_bernoulli for "
        "pixels in [0, 1]; "
        "config.json records the choice.",
        choices=LIKELIHOODS,
    )
    gaussian_variance: str = option(
        "fixed",
        "Gaussian likelihood only: fixed (every pixel has std --gaussian_sigma, the squared-"
        "error case) or learned (a per-pixel log-variance output).",
        choices=GAUSSIAN_VARIANCES,
    )
    gaussian_sigma: float = option(
        0.1,
        "Pixel standard deviation of the fixed-variance Gaussian likelihood.",
        check=finite(0, strict=True),
    )
    objective: str = option(
        "elbo",
        "elbo: reconstruction averaged over --num_samples draws of z + beta * KL; iwae: the "
        "importance-weighted bound over --num_samples draws (Burda et al. 2015; needs beta 1 "
        "and no schedules).",
        choices=OBJECTIVES,
    )
    num_samples: int = option(
        1, "Draws of z per example in the objective, in training and validation.", check=integer(1)
    )
    beta: float = option(
        1.0,
        "Final weight of the KL term (1: the ELBO; beta-VAE otherwise); --kl_warmup_epochs "
        "ramps it up from 0.",
        check=finite(0),
    )
    capacity_max: float = option(
        0.0,
        "If > 0, replace beta * KL by capacity_gamma * |KL - C|, C rising to this many nats "
        "over --capacity_epochs (Burgess et al. 2018); 0: off.",
        check=finite(0),
    )
    capacity_gamma: float = option(
        1000.0,
        "Weight of |KL - C| when capacity_max > 0 (Burgess et al. use 1000).",
        check=finite(0),
    )

    top_latent_dims: int = option(
        0,
        "Size of a second, top stochastic layer z2 above z1 (Burda et al. 2015: q(z2|z1), "
        "p(z1|z2), p(z2) = N(0, I)); --latent_dims is then z1's. 0: one stochastic layer.",
        check=integer(0),
    )
    top_hidden_units: tuple[int, ...] = option(
        (50, 50),
        "Hidden layers of q(z2|z1), comma-separated; p(z1|z2) mirrors them (two layers only).",
        check=Check(lambda v: len(v) >= 1 and all(u >= 1 for u in v), "positive integers"),
    )
    conditional: bool = option(
        False,
        "A conditional VAE (Sohn et al. 2015): q(z|x, y) and p(x|z, y) take the one-hot "
        "label y; the data set must have labels, and its NLL is -log p(x|y).",
    )
    prior: str = option(
        "standard",
        "p(z): standard (N(0, I), the KL in closed form) or vamp (the VampPrior of Tomczak & "
        "Welling 2018: a mixture of q(z|u_k) over --num_pseudo_inputs learned pseudo-inputs; "
        "the KL is estimated at the sampled z).",
        choices=PRIORS,
    )
    num_pseudo_inputs: int = option(
        500, "The VampPrior's pseudo-inputs K (prior=vamp only).", check=integer(1, 100_000)
    )

    def __post_init__(self):
        validate_model(self)


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the images come from and how they are prepared."""

    dataset: str = option(
        "mnist",
        "mnist (the full official MNIST, shipped with keras_vae), mnist_sample (5,000 of its "
        "training digits), binarized_mnist (Larochelle's static MNIST, .amat files in "
        "--data_dir), frey_face (frey_rawface.mat in --data_dir), fashion_mnist, kmnist, "
        "emnist/CONFIG, cifar10, svhn_cropped (tfds), tfds:NAME, idx:FOLDER (MNIST-format IDX "
        "files), npz:FILE (x_train, x_test, optionally x_validation and y_*, of any shape), "
        "csv:FILE (a table with a header row; see --label_column) or images:DIR (PNG and "
        "JPEG files, class subfolders giving labels; see --image_size).",
        # dataset_kind raises its own message, which lists the names it knows.
        check=Check(lambda v: bool(dataset_kind(v)), "a data set keras_vae can load"),
    )
    data_dir: str | None = option(
        None,
        "The folder of binarized_mnist's or frey_face's files; for tfds names, tfds' data "
        "directory (default: tfds' own).",
    )
    binarize: str = option(
        "auto",
        "none, static (once), dynamic (fresh bits every step) or auto (dynamic for "
        "bernoulli; none for gaussian and continuous_bernoulli, and for binarized_mnist).",
        choices=BINARIZATIONS,
    )
    validation_fraction: float = option(
        0.1,
        "Fraction of the training set held out for validation (seeded by --seed); "
        "binarized_mnist has its own validation set.",
        check=Check(lambda v: 0 < v < 1, "between 0 and 1"),
    )
    test_fraction: float = option(
        0.1,
        "For data without a test split (frey_face, csv:, images:): the fraction held out for "
        "test, drawn with a fixed seed so every run is scored on the same examples.",
        check=Check(lambda v: 0 < v < 1, "between 0 and 1"),
    )
    label_column: str | None = option(
        None, "csv: only: the column of integer labels (not modelled); default: no labels."
    )
    image_size: tuple[int, ...] = option(
        (),
        "images: only: H,W to resize every image to (needed when their sizes differ); "
        "default: the images' own size.",
        check=Check(lambda v: len(v) in (0, 2) and all(0 < d <= 4096 for d in v), "H,W"),
    )

    def __post_init__(self):
        options.validate(self)
        defaults = DataConfig.__dataclass_fields__
        if self.dataset in OWN_VALIDATION_DATASETS:
            _require(
                self.validation_fraction == defaults["validation_fraction"].default,
                f"{self.dataset} has its own validation set; validation_fraction does not "
                f"apply (leave it at its default), got {self.validation_fraction!r}",
            )
        kind = dataset_kind(self.dataset)
        if self.dataset not in NO_TEST_SPLIT_DATASETS and kind not in ("csv", "images"):
            _require(
                self.test_fraction == defaults["test_fraction"].default,
                f"{self.dataset} has its own test set; test_fraction applies to "
                f"{', '.join(NO_TEST_SPLIT_DATASETS)}, csv: and images: only, got "
                f"{self.test_fraction!r}",
            )
        _require(
            self.label_column is None or kind == "csv",
            f"label_column applies to csv: tables only, got {self.label_column!r} with "
            f"{self.dataset}",
        )
        _require(
            not self.image_size or kind == "images",
            f"image_size applies to images: folders only, got {list(self.image_size)} with "
            f"{self.dataset}",
        )
        _require(
            not (kind == "images" and self.binarize in ("static", "dynamic")),
            f"binarize={self.binarize} is not available for images: folders, which are "
            "streamed from disk (their validation and test bits would have to be drawn and "
            "held); use binarize=none",
        )
        if self.dataset in BINARY_DATASETS:
            _require(
                self.binarize in ("none", "auto"),
                f"{self.dataset} is already binary (a fixed binarization, the literature's "
                f"static MNIST), so binarize={self.binarize} would change the data set; use "
                "binarize=none or auto",
            )


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping."""

    epochs: int = option(30, "Training epochs.", check=integer(1))
    batch_size: int = option(128, "Examples per training step.", check=integer(1, MAX_BATCH_SIZE))
    optimizer: str = option(
        "adam",
        "adam, or adagrad (Kingma & Welling 2013's optimizer; --adam_epsilon and "
        "--fused_optimizer then do not apply).",
        choices=OPTIMIZERS,
    )
    learning_rate: float = option(
        1e-3,
        "The optimizer's learning rate.",
        check=finite(0, strict=True, requirement="a positive number"),
    )
    learning_rate_schedule: str = option(
        "constant",
        "constant; burda: 3^i epochs at learning_rate * 10^(-i/7) for i = 0..7 (3,280 "
        "epochs; Burda et al. 2015); cosine: learning_rate * (1 + cos(pi * e / epochs)) / 2 "
        "in epoch e (keras_vae/learning_rates.py).",
        choices=LEARNING_RATE_SCHEDULES,
    )
    adam_epsilon: float = option(
        1e-7,
        "Adam epsilon (Keras' default 1e-7; Burda et al. 2015: 1e-4).",
        check=finite(0, strict=True, requirement="a positive number"),
    )
    global_clipnorm: float = option(
        0.0,
        "If > 0, scale each step's gradients so their global norm is at most this "
        "(Keras' global_clipnorm); 0: no clipping.",
        check=finite(0),
    )
    seed: int = option(
        0,
        "Seeds initialisation, shuffling, sampling and binarization.",
        check=integer(0, 2**31 - 1, "in [0, 2**31)"),
    )
    output_bias: str = option(
        "zero",
        "The decoder output layer's initial bias: zero (Keras' default: every pixel starts "
        "at p = 1/2) or data_mean: the training images' per-pixel means (clipped to [0.001, "
        "0.999]), so the decoder starts near the independent-pixel model, as Burda et al. "
        "2015's code does; far fewer latent units collapse in the first epochs (images "
        "in [0, 1] only, not standardized tables).",
        choices=OUTPUT_BIASES,
    )
    early_stopping_epochs: int = option(
        0,
        "Stop when the validation loss has not improved for this many epochs (counted once "
        "the KL warm-up or capacity schedule has finished); the run's final model, "
        "SavedModel and numbers are then those of its best epoch. 0: train every epoch.",
        check=integer(0),
    )
    image_every_epochs: int = option(
        5, "Write TensorBoard images every this many epochs (and after the last).", check=integer(1)
    )
    curve_every_epochs: int = option(
        0,
        "Every N epochs, the importance-weighted test NLL (a learning curve in the "
        "literature's terms) into nll_curve.json (0: never).",
        check=integer(0),
    )
    curve_importance_samples: int = option(
        1000, "k of the learning curve's NLL.", check=integer(1, 100_000)
    )
    curve_examples: int = option(
        0,
        "Test images the curve's NLL is computed on, drawn with a fixed seed (0: all).",
        check=integer(0),
    )
    verbose: int = option(
        1,
        "1: a progress bar while an epoch runs, when stdout is a terminal; 0 or 2: none. "
        "Every epoch prints one summary line either way.",
        check=Check(lambda v: v in (0, 1, 2), "0, 1 or 2"),
    )
    kl_warmup_epochs: int = option(
        0,
        "KL warm-up: in epoch e (from 0) the KL weight is beta * min(1, e / N); 0: none.",
        check=integer(0),
    )
    capacity_epochs: int = option(
        0,
        "Epochs over which C rises linearly from 0 to --capacity_max: C = C_max * min(1, e / N).",
        check=integer(0),
    )
    # Speed (results/benchmark.md measures each); none of them changes the maths.
    jit_compile: str = option(
        "auto",
        "XLA-compile the train step: auto (on with a GPU, off on CPU, where XLA's matmul made "
        "the step 6x slower on our 2-core machines), on, off.",
        choices=JIT_COMPILE,
    )
    steps_per_execution: int = option(
        32,
        "Train steps per call of the compiled step (Keras' steps_per_execution).",
        check=integer(1, MAX_STEPS_PER_EXECUTION),
    )
    input_pipeline: str = option(
        "batched",
        "batched: uint8 batches converted in the model's graph; per_example: the textbook "
        "tf.data pipeline (keras_vae/pipeline.py). Both give the same batches.",
        choices=PIPELINES,
    )
    fused_optimizer: bool = option(
        True,
        "Adam's update as TensorFlow's fused kernel (keras_vae/optimizers.py); "
        "--nofused_optimizer: Keras' ops.",
    )
    product_likelihood: bool = option(
        True,
        "The Bernoulli log-likelihood with one logarithm per 112 pixels and a gradient that "
        "reuses its exps, in training and in the SavedModel (the k=5000 evaluation): the same "
        "numbers to ~1e-6 relative, that pass a third faster; --noproduct_likelihood: softplus "
        "per pixel.",
    )
    intra_op_threads: int = option(
        0,
        "Threads per TensorFlow op; 0: TensorFlow's choice (one per core).",
        check=integer(0, 1024, "an integer from 0 (TensorFlow's choice) to 1024"),
    )
    inter_op_threads: int = option(
        0,
        "TensorFlow ops run at once; 0: TensorFlow's choice.",
        check=integer(0, 1024, "an integer from 0 (TensorFlow's choice) to 1024"),
    )
    mixed_precision: bool = option(
        False,
        "bfloat16 compute with float32 weights and losses (for GPUs; slow on CPUs without "
        "bfloat16 instructions).",
    )
    distribution: str = option(
        "auto",
        "none: one device; mirrored: every GPU of this machine (tf.distribute."
        "MirroredStrategy); multi_worker: the cluster in TF_CONFIG "
        "(MultiWorkerMirroredStrategy); auto: mirrored with more than one GPU, else none.",
        choices=DISTRIBUTIONS,
    )
    deterministic: bool = option(
        False,
        "TensorFlow's deterministic ops (enable_op_determinism): the same --seed gives "
        "bitwise-identical weights.",
    )

    def __post_init__(self):
        options.validate(self)


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything that defines one run; written to `config.json` in the model directory."""

    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    model_dir: str = option(
        "",
        "Where the run is written: a new or empty directory, or an unfinished run of the same "
        "command, which resumes from its last completed epoch (default: runs/vae-TIMESTAMP).",
    )

    def __post_init__(self):
        # Each section checked itself when it was built; what is left are the
        # combinations across sections.
        options.validate(self)
        validate_schedules(self.model, self.train)
        validate_likelihood_and_data(self.model, self.data)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        return cls(
            model=options.from_json_values(ModelConfig, d["model"]),
            data=options.from_json_values(DataConfig, d["data"]),
            train=options.from_json_values(TrainConfig, d["train"]),
            model_dir=d.get("model_dir", ""),
        )


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def dataset_kind(name: str) -> str:
    """'bundled', 'idx' or 'tfds'; raises ConfigError for a name keras_vae cannot load."""
    if name in BUNDLED_DATASETS:
        return "bundled"
    if name in FILE_DATASETS:
        return "files"
    examples = {
        "idx": "idx:/path/to/mnist",
        "npz": "npz:data.npz",
        "csv": "csv:table.csv",
        "images": "images:/path/to/photos",
    }
    for kind, prefix in PATH_PREFIXES.items():
        if name.startswith(prefix):
            what = "a folder" if kind in ("idx", "images") else "a file"
            _require(
                len(name) > len(prefix), f"dataset {prefix} needs {what}, e.g. {examples[kind]}"
            )
            return kind
    if name.startswith(TFDS_PREFIX):
        name = name[len(TFDS_PREFIX) :]
        _require(
            bool(re.fullmatch(r"[a-z0-9_]+(/[a-z0-9_.]+)*(:[0-9.]+)?", name)),
            f"dataset tfds: needs a tfds name, e.g. tfds:cifar10, got {name!r}",
        )
        return "tfds"
    if name in TFDS_DATASETS:
        return "tfds"
    match = re.fullmatch(r"emnist/(\w+)", name)
    if match and match.group(1) in EMNIST_CONFIGS:
        return "tfds"
    raise ConfigError(
        f"unknown dataset {name!r}: expected one of {', '.join(TFDS_DATASETS)}, "
        f"emnist/{{{','.join(EMNIST_CONFIGS)}}}, {', '.join(BUNDLED_DATASETS)}, "
        f"{', '.join(FILE_DATASETS)} (with data_dir), idx:FOLDER, npz:FILE, csv:FILE, "
        "images:DIR or tfds:NAME"
    )


def dense_parameters(m: ModelConfig, pixels: int = 28 * 28) -> int:
    """Weights and biases of the encoder and decoder for images of `pixels` pixels."""
    sizes = [pixels, *m.hidden_units]
    encoder = (
        sum((a + 1) * b for a, b in zip(sizes, sizes[1:])) + 2 * (sizes[-1] + 1) * m.latent_dims
    )
    outputs = 2 if m.likelihood == "gaussian" and m.gaussian_variance == "learned" else 1
    decoder_sizes = [m.latent_dims, *m.hidden_units[::-1]]
    decoder = sum((a + 1) * b for a, b in zip(decoder_sizes, decoder_sizes[1:]))
    extra = m.num_pseudo_inputs * pixels if m.prior == "vamp" else 0
    if m.top_latent_dims:  # q(z2|z1) and p(z1|z2): two Gaussian networks.
        for inputs, outputs, hidden in (
            (m.latent_dims, m.top_latent_dims, m.top_hidden_units),
            (m.top_latent_dims, m.latent_dims, m.top_hidden_units[::-1]),
        ):
            sizes = [inputs, *hidden]
            extra += sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
            extra += 2 * (sizes[-1] + 1) * outputs
    return encoder + decoder + outputs * (decoder_sizes[-1] + 1) * pixels + extra


def validate_model(m: ModelConfig) -> None:
    """Each field against its declaration, then the combinations of fields."""
    options.validate(m)
    _require(
        max(m.latent_dims, *m.hidden_units) <= MAX_LAYER_UNITS,
        f"latent_dims and hidden_units must be at most {MAX_LAYER_UNITS:,}, "
        f"got {m.latent_dims} and {list(m.hidden_units)}",
    )
    parameters = dense_parameters(m)
    _require(
        parameters <= MAX_PARAMETERS,
        f"the model would have {parameters:,} weights for 28x28 images, more than "
        f"{MAX_PARAMETERS:,} (1 GiB of float32, 4 GiB with Adam's state); use smaller layers",
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
    defaults = ModelConfig.__dataclass_fields__
    if m.conditional:
        _require(
            m.prior == "standard" and not m.top_latent_dims,
            "conditional takes prior=standard and one stochastic layer",
        )
    if m.top_latent_dims:
        _require(
            m.prior == "standard" and m.capacity_max == 0,
            "a second stochastic layer (top_latent_dims > 0) takes prior=standard and no "
            "capacity objective (its KL is estimated at the sampled z)",
        )
        _require(
            max(m.top_latent_dims, *m.top_hidden_units) <= MAX_LAYER_UNITS,
            f"top_latent_dims and top_hidden_units must be at most {MAX_LAYER_UNITS:,}",
        )
    else:
        _require(
            m.top_hidden_units == defaults["top_hidden_units"].default,
            "top_hidden_units applies with a second stochastic layer only (top_latent_dims "
            f"> 0), got {list(m.top_hidden_units)}",
        )
    if m.prior != "vamp":
        _require(
            m.num_pseudo_inputs == defaults["num_pseudo_inputs"].default,
            f"num_pseudo_inputs applies to prior=vamp only, got {m.num_pseudo_inputs!r} with "
            f"prior={m.prior}",
        )
    if m.capacity_max > 0:
        _require(
            m.prior == "standard",
            "capacity_max needs the closed-form KL of prior=standard; with prior=vamp the KL "
            "is a one-sample estimate, too noisy for |KL - C|",
        )
        _require(
            m.beta == 1,
            f"beta is unused when capacity_max > 0 (capacity_gamma weights |KL - C|); "
            f"leave it at 1, got {m.beta!r}",
        )


def check_data_folder(d: DataConfig) -> None:
    """That the data folder `d` names exists: checked when a run starts, not when the
    config is built (the folder may be made later)."""
    kind = dataset_kind(d.dataset)
    if kind == "idx":
        folder = d.dataset[len(IDX_PREFIX) :]
        _require(os.path.isdir(folder), f"IDX data folder {folder} does not exist")
    if kind in ("npz", "csv"):
        path = d.dataset[len(PATH_PREFIXES[kind]) :]
        _require(os.path.isfile(path), f"{kind} file {path} does not exist")
    if kind == "images":
        folder = d.dataset[len(IMAGES_PREFIX) :]
        _require(os.path.isdir(folder), f"image folder {folder} does not exist")
    if kind == "files":
        _require(
            bool(d.data_dir),
            f"dataset {d.dataset} is read from files: name their folder with data_dir "
            "(e.g. --data_dir=../shared/data/" + d.dataset + ")",
        )
        _require(os.path.isdir(d.data_dir), f"data_dir {d.data_dir} does not exist")


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
    """Refuses a likelihood, or a conditional model, that does not fit the data it is given."""
    _require(
        not (m.conditional and d.dataset in FILE_DATASETS),
        f"conditional needs labels, and {d.dataset} has none",
    )
    _require(
        not (m.likelihood in DENSITY_LIKELIHOODS and d.dataset in BINARY_DATASETS),
        f"likelihood={m.likelihood} is a density of grey levels; {d.dataset}'s pixels are 0 "
        "or 1, where it means nothing: use likelihood=bernoulli",
    )
    _require(
        not (m.likelihood in DENSITY_LIKELIHOODS and d.binarize in ("static", "dynamic")),
        f"likelihood={m.likelihood} is a density of grey levels; with binarize={d.binarize} "
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


def likelihood_for(values: str) -> str:
    """The likelihood that `likelihood=auto` stands for, by what the data hold: "binary"
    (0 or 1), "unit" (grey levels or colours in [0, 1]) or "real" (any finite values)."""
    return {"binary": "bernoulli", "unit": "continuous_bernoulli", "real": "gaussian"}[values]


def resolve(config: Config, data_values=None) -> Config:
    """Checks what a run needs beyond valid values (they were checked when `config` was
    built): its data folder and model_dir. Replaces 'auto' values by what they stand for.

    `data_values(data_config)` (default keras_vae.data.data_values) says what the data
    hold, "binary", "unit" or "real", for likelihood=auto; binarize=static or dynamic
    makes the data binary whatever they hold."""
    check_data_folder(config.data)
    _require(bool(config.model_dir), "model_dir must name a directory")
    if config.model.likelihood == "auto":
        if config.data.binarize in ("static", "dynamic"):
            values = "binary"
        else:
            if data_values is None:
                # Imported here: keras_vae.data imports this module.
                from keras_vae.data import data_values
            values = data_values(config.data)
        model = dataclasses.replace(config.model, likelihood=likelihood_for(values))
        defaults = ModelConfig.__dataclass_fields__
        if values == "real" and (model.gaussian_variance, model.gaussian_sigma) == (
            defaults["gaussian_variance"].default,
            defaults["gaussian_sigma"].default,
        ):
            # A fixed pixel std of 0.1 fits grey levels, not columns of unit variance.
            model = dataclasses.replace(model, gaussian_variance="learned")
        validate_likelihood_and_data(model, config.data)
        config = dataclasses.replace(config, model=model)
        if values == "binary" and config.data.binarize == "auto":
            # Already 0 or 1: used as they are.
            config = dataclasses.replace(
                config, data=dataclasses.replace(config.data, binarize="none")
            )
    data = config.data
    if dataset_kind(data.dataset) == "files":
        # Recorded as an absolute path: evaluate may run from another folder.
        data = dataclasses.replace(data, data_dir=os.path.abspath(data.data_dir))
    if data.binarize == "auto":
        binarize = "dynamic" if config.model.likelihood == "bernoulli" else "none"
        if data.dataset in BINARY_DATASETS:
            binarize = "none"  # Already 0/1: used as they are.
        data = dataclasses.replace(data, binarize=binarize)
    return dataclasses.replace(config, data=data)


def load(path: str) -> Config:
    """Reads a `config.json` written by `save`."""
    with open(path) as f:
        return Config.from_dict(json.load(f))
