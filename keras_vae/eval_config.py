"""Typed configuration of an evaluation (`python -m keras_vae.evaluate`), validated without TensorFlow."""

import dataclasses
import os

from keras_vae import config as config_lib
from keras_vae import data as data_lib
from keras_vae import inputs, options
from keras_vae import model_dir as model_dir_lib
from keras_vae.errors import ConfigError
from keras_vae.options import integer, option


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """What to evaluate, on which data, with how many importance samples.

    Either a model directory written by keras_vae.train, or a SavedModel alone (whose
    run record says what it was trained on, or else `dataset` and `binarize` must).
    """

    model_dir: str | None = option(None, "A model directory written by keras_vae.train.")
    saved_model: str | None = option(
        None, "Or a keras_vae SavedModel alone (scored on its run's data, or on --dataset)."
    )
    split: str = option("test", "The split to score.", choices=config_lib.SPLITS)
    dataset: str | None = option(None, "Evaluate on this data set instead of the run's.")
    data_dir: str | None = option(None, "tfds data directory for --dataset.")
    input: str | None = option(
        None,
        "Or new examples to score: a CSV file (the model's columns, by name), an .npz (x, "
        "optionally y) or .npy file, or a folder of PNG and JPEG images.",
    )
    binarize: str | None = option(
        None, "With --saved_model: none, static or dynamic, as the model was trained."
    )
    num_importance_samples: int = option(
        5000,
        "k, samples of z per image for the importance-weighted log-likelihood.",
        check=integer(1),
    )
    seed: int = option(0, "Seeds the samples of z.", check=integer(0, 2**31 - 1, "in [0, 2**31)"))
    max_examples: int = option(
        0,
        "Evaluate the first N images (0: all). Some test files are sorted by class "
        "(Larochelle's static MNIST): their first images are not a sample.",
        check=integer(0),
    )
    output: str | None = option(
        None,
        "Where to write the JSON report (default: eval-SPLIT-kK.json in the model directory, "
        "or beside a bare SavedModel, never inside it).",
    )
    overwrite: bool = option(False, "Replace an existing report at the output path.")

    def __post_init__(self):
        options.validate(self)
        if self.input is not None:
            if self.dataset is not None or self.split != "test":
                raise ConfigError("give --input or --dataset/--split, not both")
            if self.max_examples:
                raise ConfigError("max_examples applies to a split, not to --input")


def resolve(c: EvalConfig, report: str = "eval", extension: str = "json") -> EvalConfig:
    """Checks the paths `c` names; fills in the SavedModel and output paths of a model directory.

    The default output is REPORT-SPLIT-kK[-nN].EXTENSION: evaluate's `eval-test-k5000.json`,
    score's `scores-test-k5000.csv`.
    """
    k = c.num_importance_samples
    saved_model, binarize = model_dir_lib.resolve_model_source(
        c.model_dir, c.saved_model, c.dataset, c.binarize
    )
    # A run's report goes into its directory; a bare SavedModel's into the folder that
    # holds it, never into the SavedModel. Named by split and k, so reports of other
    # splits or k sit side by side.
    scored = c.split
    if c.input is not None:
        if not os.path.exists(c.input):
            raise ConfigError(f"input {c.input} does not exist")
        scored = os.path.splitext(os.path.basename(os.path.normpath(c.input)))[0]
    name = f"{report}-{scored}-k{k}" + (f"-n{c.max_examples}" if c.max_examples else "")
    name += f".{extension}"
    base = c.model_dir or os.path.dirname(os.path.abspath(saved_model))
    output = c.output or os.path.join(base, name)
    # Checked now: the report is written after minutes of scoring.
    folder = os.path.dirname(os.path.abspath(output))
    if os.path.isdir(output):
        raise ConfigError(f"output {output} is a directory; name the file to write")
    if not os.path.isdir(folder):
        raise ConfigError(f"output folder {folder} does not exist")
    if os.path.abspath(folder).startswith(os.path.abspath(saved_model) + os.sep) or (
        os.path.abspath(folder) == os.path.abspath(saved_model)
    ):
        raise ConfigError(f"output {output} is inside the SavedModel; write the report elsewhere")
    if os.path.exists(output) and not c.overwrite:
        raise ConfigError(
            f"{output} already holds a report; pass --overwrite to replace it, or --output"
        )
    return dataclasses.replace(c, saved_model=saved_model, binarize=binarize, output=output)


def load_images(c: EvalConfig):
    """The images of the requested split, float32 in [0, 1], their data source record and
    their labels (which a conditional model is scored with: log p(x|y)).

    numpy only, so that the command reports a missing or corrupt data file before
    TensorFlow loads. With `input`, the examples in that file or folder
    (keras_vae/inputs.py), named.
    """
    if c.input is not None:
        run = (
            model_dir_lib.load_run_config(c.model_dir)
            if c.model_dir is not None
            else model_dir_lib.load_saved_model_record(c.saved_model)
        )
        if run is None or not run[1].get("image_shape"):
            raise ConfigError(
                f"--input needs a model that records its run; {c.saved_model} was exported by "
                "an older keras_vae: use --dataset"
            )
        return inputs.read(c.input, run[1]["image_shape"], run[1])
    splits = data_lib.load_model_data(
        c.model_dir, c.dataset, c.data_dir, c.binarize, c.seed, c.split, c.saved_model
    )
    images, labels = splits.split(c.split)
    if c.max_examples:
        images, labels = images[: c.max_examples], labels[: c.max_examples]
    return data_lib.unit_floats(images), splits.source, labels
