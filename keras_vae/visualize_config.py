"""Typed configuration of `python -m keras_vae.visualize` and the data it names, without TensorFlow.

Everything a user can get wrong (flags, paths, data files, class names) is checked here,
before TensorFlow is imported, so a mistake costs a fraction of a second.
"""

import dataclasses
import math
import os

import numpy as np

from keras_vae import config as config_lib
from keras_vae import data as data_lib
from keras_vae import model_dir as model_dir_lib
from keras_vae.errors import ConfigError

# Images in one figure at most: a larger grid is unreadable, and a request like
# --num_samples=1000000000 would otherwise run out of memory after the first figures.
MAX_FIGURE_IMAGES = 10_000


@dataclasses.dataclass(frozen=True)
class VisualizeConfig:
    """Which model to draw, from which data, and the figures' settings."""

    # Either a model directory written by keras_vae.train, or a SavedModel alone
    # (then `dataset` is required: the run's config, which names its data, is not there).
    model_dir: str | None = None
    saved_model: str | None = None
    dataset: str | None = None
    data_dir: str | None = None
    binarize: str | None = None
    split: str = "test"
    # Where the PNGs go (default: DIR/figures, or figures/ beside a bare SavedModel).
    out: str | None = None
    seed: int = 0
    num_examples: int = 20  # Test images in reconstruction.png.
    num_samples: int = 100  # Prior samples in samples.png.
    manifold_size: int = 20  # manifold.png is a manifold_size x manifold_size grid.
    max_encodings: int = 5000  # Points in encodings.png.
    pairs: int = 3  # Image pairs in interpolation.png.
    steps: int = 9  # Frames per interpolation path.
    traversal_dims: int = 8  # Rows of traversal.png: the dimensions with the largest KL.
    traversal_range: float = 3.0  # Each swept from -range to +range ...
    traversal_steps: int = 9  # ... in this many values.
    # Latent arithmetic: the vector is mean code of `towards` minus that of `away_from`
    # (class indices or names), added with `strengths` to test images of `away_from`.
    towards: str = "1"
    away_from: str = "0"
    strengths: tuple[float, ...] = (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0)
    arithmetic_images: int = 5


def _positive(name, value):
    if not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def resolve(c: VisualizeConfig) -> VisualizeConfig:
    """Validates `c`; fills in the SavedModel path and output folder."""
    for name in (
        "num_examples",
        "num_samples",
        "manifold_size",
        "max_encodings",
        "pairs",
        "traversal_dims",
        "arithmetic_images",
    ):
        _positive(name, getattr(c, name))
    for name in ("steps", "traversal_steps"):
        if not isinstance(getattr(c, name), int) or getattr(c, name) < 2:
            raise ConfigError(f"{name} must be an integer >= 2, got {getattr(c, name)!r}")
    if not (c.traversal_range > 0 and math.isfinite(c.traversal_range)):
        raise ConfigError(f"traversal_range must be a positive number, got {c.traversal_range!r}")
    if not c.strengths:
        raise ConfigError("strengths must list at least one value, e.g. -1,0,1")
    if not all(math.isfinite(a) for a in c.strengths):
        raise ConfigError(f"strengths must be finite numbers, got {list(c.strengths)}")
    figures = {
        "reconstruction.png (2 x num_examples)": 2 * c.num_examples,
        "samples.png (num_samples)": c.num_samples,
        "manifold.png (manifold_size^2)": c.manifold_size**2,
        "interpolation.png (2 x pairs x steps)": 2 * c.pairs * c.steps,
        "traversal.png (traversal_dims x traversal_steps)": c.traversal_dims * c.traversal_steps,
        "arithmetic.png (arithmetic_images x strengths)": c.arithmetic_images * len(c.strengths),
    }
    for figure, count in figures.items():
        if count > MAX_FIGURE_IMAGES:
            raise ConfigError(f"{figure} would hold {count} images, more than {MAX_FIGURE_IMAGES}")
    config_lib.validate_split_and_seed(c.split, c.seed)
    saved_model, binarize = model_dir_lib.resolve_model_source(
        c.model_dir, c.saved_model, c.dataset, c.binarize
    )
    # DIR/figures for a run; figures/ beside a bare SavedModel's folder.
    home = c.model_dir or os.path.dirname(os.path.abspath(saved_model))
    out = c.out or os.path.join(home, "figures")
    if os.path.exists(out) and not os.path.isdir(out):
        raise ConfigError(f"out {out} exists and is not a directory")
    return dataclasses.replace(c, saved_model=saved_model, binarize=binarize, out=out)


@dataclasses.dataclass
class LabelledImages:
    images: np.ndarray  # float32 [N, H, W] in [0, 1], as the model is scored on them.
    labels: np.ndarray
    class_names: tuple[str, ...]
    source: dict


def load_images(c: VisualizeConfig) -> LabelledImages:
    """The requested split of the run's data (or of --dataset), with labels."""
    splits = data_lib.load_model_data(
        c.model_dir, c.dataset, c.data_dir, c.binarize, c.seed, c.split, c.saved_model
    )
    images, labels = splits.split(c.split)
    return LabelledImages(
        images.astype(np.float32) / 255.0, labels, splits.class_names, splits.source
    )


def class_index(name: str, class_names: tuple[str, ...], labels: np.ndarray) -> int:
    """A class given by index ("3") or by name ("Trouser"); ConfigError if not in the data."""
    present = sorted(int(v) for v in np.unique(labels))
    index = None
    if name.strip().lstrip("-").isdigit():
        index = int(name)
    elif name in class_names:
        index = class_names.index(name)
    if index is None or index not in present:
        names = ", ".join(
            f"{i} ({class_names[i]})"
            if i < len(class_names) and class_names[i] != str(i)
            else str(i)
            for i in present
        )
        raise ConfigError(f"class {name!r} is not in the data; its classes are {names}")
    return index
