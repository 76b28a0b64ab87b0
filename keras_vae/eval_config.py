"""Typed configuration of an evaluation (`python -m keras_vae.evaluate`), validated without TensorFlow."""

import dataclasses
import os

import numpy as np

from keras_vae import config as config_lib
from keras_vae import data as data_lib
from keras_vae import model_dir as model_dir_lib
from keras_vae.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """What to evaluate, on which data, with how many importance samples."""

    # Either a model directory written by keras_vae.train, or a SavedModel alone
    # (then `dataset` is required and `binarize` says how the model was trained).
    model_dir: str | None = None
    saved_model: str | None = None
    split: str = "test"
    dataset: str | None = None
    data_dir: str | None = None
    binarize: str | None = None
    num_importance_samples: int = 5000
    seed: int = 0
    # Evaluate only the first N images of the split (0: all of them).
    max_examples: int = 0
    # Default: eval-SPLIT-kK.json in the model directory, or beside a bare SavedModel
    # (never inside it). An existing report is replaced only with `overwrite`.
    output: str | None = None
    overwrite: bool = False


def resolve(c: EvalConfig) -> EvalConfig:
    """Validates `c`; fills in the SavedModel and output paths of a model directory."""
    k = c.num_importance_samples
    if not isinstance(k, int) or k < 1:
        raise ConfigError(f"num_importance_samples must be a positive integer, got {k!r}")
    if c.max_examples < 0:
        raise ConfigError(f"max_examples must be >= 0, got {c.max_examples!r}")
    config_lib.validate_split_and_seed(c.split, c.seed)
    saved_model, binarize = model_dir_lib.resolve_model_source(
        c.model_dir, c.saved_model, c.dataset, c.binarize
    )
    # A run's report goes into its directory; a bare SavedModel's into the folder that
    # holds it, never into the SavedModel. Named by split and k, so reports of other
    # splits or k sit side by side.
    name = f"eval-{c.split}-k{k}" + (f"-n{c.max_examples}" if c.max_examples else "") + ".json"
    base = c.model_dir or os.path.dirname(os.path.abspath(saved_model))
    output = c.output or os.path.join(base, name)
    # Checked now: the report is written after minutes of scoring.
    folder = os.path.dirname(os.path.abspath(output))
    if os.path.isdir(output):
        raise ConfigError(f"output {output} is a directory; name the JSON file to write")
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
    """The images of the requested split, float32 in [0, 1], and their data source record.

    numpy only, so that the command reports a missing or corrupt data file before
    TensorFlow loads.
    """
    splits = data_lib.load_model_data(
        c.model_dir, c.dataset, c.data_dir, c.binarize, c.seed, c.split, c.saved_model
    )
    images, _ = splits.split(c.split)
    if c.max_examples:
        images = images[: c.max_examples]
    return images.astype(np.float32) / 255.0, splits.source
