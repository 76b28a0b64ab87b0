"""Files for TensorBoard's embedding projector: latent means, their classes and sprites.

    projector.write_projector(os.path.join(logs, "projector"), means, labels, class_names, images)

makes `logs/projector` a run that `tensorboard --logdir <model_dir>/logs` shows in its
Projector tab, coloured by class and drawn with each point's digit.
"""

import math
import os

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from PIL import Image
from tensorboard.plugins import projector

# The projector refuses sprite images larger than this on either side.
MAX_SPRITE_SIDE = 8192
CONFIG = "projector_config.pbtxt"  # The name the plugin looks for in a run folder.
METADATA = "metadata.tsv"
SPRITE = "sprite.png"
CHECKPOINT_PREFIX = "embedding.ckpt"
# An object-based checkpoint keys a variable by its attribute path on the Checkpoint, not
# by the variable's own name: Checkpoint(embedding=v) stores v under this key.
TENSOR_NAME = "embedding/.ATTRIBUTES/VARIABLE_VALUE"


def validate(means: np.ndarray, labels: np.ndarray, images: np.ndarray | None) -> None:
    """Raises ValueError unless means [N, L], labels [N] and images [N, H, W] or
    [N, H, W, 3] (or None: no sprite) agree."""
    means, labels = np.asarray(means), np.asarray(labels)
    images = means if images is None else np.asarray(images)  # No sprite: nothing to check.
    if means.ndim != 2:
        raise ValueError(f"means must be 2-D [N, latent_dims], got shape {means.shape}")
    pictures = images is means or images.ndim == 3 or (images.ndim == 4 and images.shape[3] == 3)
    if labels.ndim != 1 or not pictures:
        raise ValueError(
            f"labels must be [N] and images [N, H, W] or [N, H, W, 3], got {labels.shape} and "
            f"{images.shape}"
        )
    if not len(means) == len(labels) == len(images):
        raise ValueError(
            f"means, labels and images differ in length: "
            f"{len(means)}, {len(labels)} and {len(images)}"
        )
    if not len(means):
        raise ValueError("no points to project: means is empty")


def sprite_side(num_points: int) -> int:
    """Tiles per side: the projector reads sprites as square grids of ceil(sqrt(N)) tiles."""
    return math.ceil(math.sqrt(num_points))


def sprite(images: np.ndarray) -> np.ndarray:
    """A square uint8 grid [side*H, side*W] of the images [N, H, W] in [0, 1], row by row
    ([side*H, side*W, 3] of colour images [N, H, W, 3]).

    Grey pixels are inverted, dark digits on white, because the projector draws sprites
    on a white canvas; colour images keep their colours. Unused tiles are white.
    """
    n, h, w = images.shape[:3]
    colour = images.shape[3:]
    side = sprite_side(n)
    tiles = np.ones((side * side, h, w, *colour), np.float32)
    clipped = np.clip(images, 0.0, 1.0)
    tiles[:n] = clipped if colour else 1.0 - clipped
    grid = tiles.reshape(side, side, h, w, *colour).swapaxes(1, 2)
    return np.round(grid.reshape(side * h, side * w, *colour) * 255.0).astype(np.uint8)


def _cell(text: str) -> str:
    # A tab or newline inside a class name would shift the TSV's columns or rows.
    return " ".join(str(text).split())


def metadata_tsv(labels: np.ndarray, class_names: tuple[str, ...]) -> str:
    """A header row and one `index<TAB>label<TAB>class` row per point."""
    rows = ["index\tlabel\tclass"]
    for i, label in enumerate(np.asarray(labels).astype(np.int64)):
        name = class_names[label] if 0 <= label < len(class_names) else str(label)
        rows.append(f"{i}\t{label}\t{_cell(name)}")
    return "\n".join(rows) + "\n"


def projector_config(image_shape: tuple[int, int] | None) -> projector.ProjectorConfig:
    """The config of one embedding, with paths relative to the config's folder.

    model_checkpoint_path stays empty: the plugin opens a relative one from its own
    working directory, but with none it finds the latest checkpoint in the run folder.
    """
    config = projector.ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = TENSOR_NAME
    embedding.metadata_path = METADATA
    if image_shape is None:  # Vectors: points without pictures.
        return config
    embedding.sprite.image_path = SPRITE
    height, width = image_shape
    embedding.sprite.single_image_dim.extend([width, height])
    return config


def _replace(path: str, write) -> None:
    tmp = os.path.join(os.path.dirname(path), f".tmp-{os.path.basename(path)}")
    write(tmp)
    os.replace(tmp, path)


def _write_text(path: str, text: str) -> None:
    def write(tmp):
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)

    _replace(path, write)


def _save_png(path: str, pixels: np.ndarray) -> None:
    # uint8 [H, W] makes an 8-bit grey-scale PNG, a quarter the size of matplotlib's RGBA.
    Image.fromarray(pixels).save(path, format="PNG")


def _write_checkpoint(log_dir: str, means: np.ndarray) -> list[str]:
    # TensorFlow writes the shards under temporary names and the `checkpoint` state file
    # (which names the latest, relative to log_dir) last, so no half checkpoint is read.
    variable = tf.Variable(means, name="embedding", trainable=False)
    prefix = tf.train.Checkpoint(embedding=variable).save(os.path.join(log_dir, CHECKPOINT_PREFIX))
    stem = os.path.basename(prefix) + "."
    return sorted(n for n in os.listdir(log_dir) if n.startswith(stem)) + ["checkpoint"]


def _write_run_marker(log_dir: str, num_points: int, latent_dims: int) -> list[str]:
    # TensorBoard only lists folders holding an event file as runs, and the projector
    # only looks for configs in runs.
    before = set(os.listdir(log_dir))
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default(step=0):
        tf.summary.text(
            "projector",
            f"{num_points} test-set posterior means ({latent_dims} latent dimensions): "
            "see the Projector tab, coloured by class.",
        )
    writer.close()
    return sorted(set(os.listdir(log_dir)) - before)


def write_projector(
    log_dir: str,
    means: np.ndarray,
    labels: np.ndarray,
    class_names: tuple[str, ...],
    images: np.ndarray,
    max_points: int | None = None,
) -> list[str]:
    """Writes the projector files for `means` [N, L] into `log_dir`; returns their names.

    `labels` [N] index `class_names`; `images` [N, H, W] or [N, H, W, 3] in [0, 1] become
    the sprite (None, for vectors: no sprite).
    With `max_points`, only the first `max_points` points are written. Raises ValueError
    for inputs that do not agree, or whose sprite would exceed what the projector shows.
    """
    validate(means, labels, images)
    if max_points is not None:
        if max_points < 1:
            raise ValueError(f"max_points must be positive, got {max_points}")
        means, labels = means[:max_points], labels[:max_points]
        images = None if images is None else images[:max_points]
    means = np.asarray(means, np.float32)
    n = len(means)
    if images is None:
        return _write_points(log_dir, means, labels, class_names, None)
    images = np.asarray(images, np.float32)
    h, w = images.shape[1:3]
    side = sprite_side(n) * max(h, w)
    if side > MAX_SPRITE_SIDE:
        fits = (MAX_SPRITE_SIDE // max(h, w)) ** 2
        raise ValueError(
            f"a sprite of {n} {h}x{w} images is {side} px wide, over the projector's "
            f"{MAX_SPRITE_SIDE}; pass max_points <= {fits}"
        )

    os.makedirs(log_dir, exist_ok=True)
    _replace(os.path.join(log_dir, SPRITE), lambda tmp: _save_png(tmp, sprite(images)))
    return [SPRITE] + _write_points(log_dir, means, labels, class_names, (h, w))


def _write_points(log_dir, means, labels, class_names, image_shape) -> list[str]:
    os.makedirs(log_dir, exist_ok=True)
    _write_text(os.path.join(log_dir, METADATA), metadata_tsv(labels, class_names))
    written = [METADATA] + _write_checkpoint(log_dir, means)
    # The config last: once it is there, everything it names is.
    config = text_format.MessageToString(projector_config(image_shape))
    _write_text(os.path.join(log_dir, CONFIG), config)
    written.append(CONFIG)
    return written + _write_run_marker(log_dir, len(means), means.shape[1])
