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
from keras_vae import options
from keras_vae.errors import ConfigError
from keras_vae.options import finite, integer, option

# Images in one figure at most: a larger grid is unreadable, and a request like
# --num_samples=1000000000 would otherwise run out of memory after the first figures.
MAX_FIGURE_IMAGES = 10_000


@dataclasses.dataclass(frozen=True)
class VisualizeConfig:
    """Which model to draw, from which data, and the figures' settings.

    Either a model directory written by keras_vae.train, or a SavedModel alone (whose run
    record says what it was trained on, or else `dataset` and `binarize` must).
    """

    model_dir: str | None = option(None, "A model directory written by keras_vae.train.")
    saved_model: str | None = option(
        None, "Or a keras_vae SavedModel alone (drawn from its run's data, or from --dataset)."
    )
    dataset: str | None = option(None, "Draw from this data set instead of the run's.")
    data_dir: str | None = option(None, "tfds data directory for --dataset.")
    binarize: str | None = option(
        None, "With --saved_model: none, static or dynamic, as the model was trained."
    )
    split: str = option("test", "The split the figures draw from.", choices=config_lib.SPLITS)
    out: str | None = option(
        None, "Folder for the figures (default: DIR/figures, or figures/ beside a SavedModel)."
    )
    seed: int = option(0, "Seeds the prior samples.", check=integer(0, 2**31 - 1, "in [0, 2**31)"))
    num_examples: int = option(20, "Images in reconstruction.png.", check=integer(1))
    num_samples: int = option(100, "Prior samples in samples.png.", check=integer(1))
    manifold_size: int = option(20, "manifold.png is an N x N grid.", check=integer(1))
    max_encodings: int = option(5000, "Points in encodings.png.", check=integer(1))
    pairs: int = option(3, "Image pairs in interpolation.png.", check=integer(1))
    steps: int = option(9, "Frames per interpolation path (>= 2).", check=integer(2))
    traversal_dims: int = option(
        8,
        "Rows of traversal.png: the dimensions with the largest KL.",
        check=integer(1),
    )
    traversal_range: float = option(
        3.0,
        "Each swept dimension goes from -R to R.",
        check=finite(0, strict=True, requirement="a positive number"),
    )
    traversal_steps: int = option(9, "Values per swept dimension.", check=integer(2))
    # Latent arithmetic: the vector is the mean code of `towards` minus that of
    # `away_from`, added with `strengths` to test images of `away_from`.
    towards: str = option("1", "Arithmetic: the class (index or name) to move to.")
    away_from: str = option("0", "Arithmetic: the class whose images are moved.")
    strengths: tuple[float, ...] = option(
        (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0),
        "Arithmetic strengths a, comma-separated.",
        check=options.Check(
            lambda v: len(v) >= 1 and all(math.isfinite(a) for a in v), "finite numbers"
        ),
    )
    arithmetic_images: int = option(5, "Rows of arithmetic.png.", check=integer(1))

    def __post_init__(self):
        options.validate(self)
        figures = {
            "reconstruction.png (2 x num_examples)": 2 * self.num_examples,
            "samples.png (num_samples)": self.num_samples,
            "manifold.png (manifold_size^2)": self.manifold_size**2,
            "interpolation.png (2 x pairs x steps)": 2 * self.pairs * self.steps,
            "traversal.png (traversal_dims x traversal_steps)": self.traversal_dims
            * self.traversal_steps,
            "arithmetic.png (arithmetic_images x strengths)": self.arithmetic_images
            * len(self.strengths),
        }
        for figure, count in figures.items():
            if count > MAX_FIGURE_IMAGES:
                raise ConfigError(
                    f"{figure} would hold {count} images, more than {MAX_FIGURE_IMAGES}"
                )


def resolve(c: VisualizeConfig) -> VisualizeConfig:
    """Checks the paths `c` names; fills in the SavedModel path and output folder."""
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
    # float32 [N, ...], as the model is scored on them: grey [N, H, W] or colour
    # [N, H, W, 3] images in [0, 1] (drawn), or examples of any other shape.
    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    source: dict

    @property
    def labelled(self) -> bool:
        """False for data without labels (binarized_mnist, frey_face): no arithmetic."""
        return self.class_names != data_lib.UNLABELLED


def load_images(c: VisualizeConfig) -> LabelledImages:
    """The requested split of the run's data (or of --dataset), with labels."""
    splits = data_lib.load_model_data(
        c.model_dir, c.dataset, c.data_dir, c.binarize, c.seed, c.split, c.saved_model
    )
    images, labels = splits.split(c.split)
    return LabelledImages(data_lib.unit_floats(images), labels, splits.class_names, splits.source)


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
