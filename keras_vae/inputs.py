"""New examples to score or evaluate (`--input=FILE_OR_DIR`), read as the model was trained.

- A CSV file: a header row and the model's columns, by name (a table model's run
  records them; other columns, such as the label column, may be there too). Raw
  values: a table model standardizes them itself.
- An `.npz` file (array `x`, else `x_test`; labels `y`, else `y_test`, if present) or
  an `.npy` file: examples of the model's shape; uint8 pixels are scaled to [0, 1].
- A folder of PNG and JPEG images (subfolders too): decoded with the model's channels
  and resized to its size if its run resized its images (--image_size); named by
  their path in the folder.

numpy and Pillow only until the images are decoded, so a bad file is named before
TensorFlow loads. Each example is named: its file, or its line in the table.
"""

import dataclasses
import os
import zipfile

import numpy as np

from keras_vae import data as data_lib
from keras_vae import image_folder, npz, tables
from keras_vae.errors import DataError


@dataclasses.dataclass
class Examples:
    """Examples as the model takes them (float32), their source record, labels and names.

    Unpacks as (images, source, labels), the triple the commands pass around."""

    images: np.ndarray
    source: dict
    labels: np.ndarray
    names: list | None = None

    def __iter__(self):
        return iter((self.images, self.source, self.labels))


def read(path: str, image_shape, run_source: dict | None) -> Examples:
    """The examples in `path` for a model of `image_shape` trained on `run_source` data."""
    if not os.path.exists(path):
        raise DataError(f"input {path} does not exist")
    run_source = run_source or {}
    labels, names = None, None
    if os.path.isdir(path):
        images, names = _read_images(path, tuple(image_shape), run_source)
    elif path.lower().endswith(".csv"):
        images, labels, names = _read_table(path, run_source)
    elif path.lower().endswith((".npz", ".npy")):
        images, labels = _read_arrays(path)
        images = data_lib.unit_floats(images)
    else:
        raise DataError(f"input {path}: expected a .csv, .npz or .npy file or a folder of images")
    if tuple(images.shape[1:]) != tuple(image_shape):
        raise DataError(
            f"input {path} holds examples of shape {tuple(images.shape[1:])}, but the model "
            f"takes {tuple(image_shape)}"
        )
    source = {
        "kind": "input",
        "path": os.path.abspath(path),
        "num_examples": len(images),
        "labelled": labels is not None,
        "binarize": "none",
    }
    if names is None:
        names = [str(i) for i in range(len(images))]
    labels = np.zeros(len(images), np.int64) if labels is None else labels
    return Examples(images, source, labels, names)


def _read_table(path: str, run_source: dict):
    # The label column, where the file has it, gives labels and is checked as in training.
    rows, labels, columns = tables.read(path, run_source.get("label_column"), label_required=False)
    wanted = run_source.get("columns") or columns
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise DataError(
            f"input {path} has no column {missing[0]!r}, which the model takes (its columns: "
            f"{', '.join(wanted)})"
        )
    rows = rows[:, [columns.index(c) for c in wanted]]
    # The header is line 1, so example i is on line i + 2 (blank lines aside).
    return rows, labels, [str(i) for i in range(len(rows))]


def _read_arrays(path: str):
    try:
        contents = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise DataError(f"input {path} is not a readable numpy file ({e})") from None
    if isinstance(contents, np.ndarray):
        return npz.examples(contents, "the array", path), None
    name = next((n for n in ("x", "x_test") if n in contents.files), None)
    if name is None:
        raise DataError(f"input {path} has no array x or x_test (it has: {contents.files})")
    # The same checks as training's npz files (keras_vae/npz.py).
    x = npz.examples(contents[name], name, path)
    label_name = "y" if name == "x" else "y_test"
    if label_name not in contents.files:
        return x, None
    return x, npz.labels(contents[label_name], len(x), label_name, path)


def _read_images(folder: str, image_shape: tuple, run_source: dict):
    if len(image_shape) not in (2, 3) or (len(image_shape) == 3 and image_shape[2] != 3):
        raise DataError(
            f"input {folder} is a folder of images, but the model takes examples of shape "
            f"{image_shape}, not grey [H, W] or colour [H, W, 3] images"
        )
    size = image_shape[:2]
    channels = 1 if len(image_shape) == 2 else 3
    paths = image_folder.files_under(folder)
    if not paths:
        raise DataError(f"input folder {folder} holds no PNG or JPEG files")
    resize = run_source.get("resize_to") is not None
    for path in paths:
        (height, width), _ = image_folder.header(path)
        if (height, width) != size and not resize:
            raise DataError(
                f"{path} is {height}x{width}, but the model takes {size[0]}x{size[1]} images "
                "(its run did not resize its images)"
            )
    # Decoded by the command once TensorFlow is loaded (data.unit_floats).
    files = image_folder.ImageFiles(paths, size, channels, resize)
    return files, [os.path.relpath(p, folder) for p in paths]
