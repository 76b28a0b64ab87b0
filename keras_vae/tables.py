"""Reading a table of numbers from a CSV file (`--dataset=csv:FILE`).

The first row names the columns; every other row holds one example, a number per
column. `label_column` (optional) names an integer column that gives the labels and
is not modelled. Every departure is named with the file, the line and the column: a
cell that is not a number, NaN or infinite values, a row of the wrong length, a label
that is not a non-negative integer.

The file is read whole (tables fit in memory; image folders are what streams).
"""

import csv
import math

import numpy as np

from keras_vae.errors import DataError


def read(
    path: str, label_column: str | None = None, label_required: bool = True
) -> tuple[np.ndarray, np.ndarray | None, list]:
    """(rows float32 [N, D], labels int64 [N] or None, the D modelled column names).

    label_required=False: a file without `label_column` is read unlabelled (new rows
    to score may come without their labels)."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            lines = list(csv.reader(f))
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path} is not a readable CSV file ({e})") from None
    lines = [(number, row) for number, row in enumerate(lines, 1) if any(c.strip() for c in row)]
    if not lines:
        raise DataError(f"{path} is empty: expected a header row and rows of numbers")
    _, header = lines[0]
    header = [name.strip() for name in header]
    if len(set(header)) != len(header) or not all(header):
        raise DataError(f"{path}: the header row must name every column once, got {header}")
    if len(lines) == 1:
        raise DataError(f"{path} has a header row but no rows of data")
    if label_column is not None and label_column not in header and not label_required:
        label_column = None
    if label_column is not None and label_column not in header:
        raise DataError(
            f"{path} has no column {label_column!r} for the labels (it has: {', '.join(header)})"
        )
    values = np.empty((len(lines) - 1, len(header)), np.float64)
    for i, (number, row) in enumerate(lines[1:]):
        if len(row) != len(header):
            raise DataError(
                f"{path}, line {number}: {len(row)} values, but the header names {len(header)} "
                "columns"
            )
        for j, cell in enumerate(row):
            try:
                values[i, j] = float(cell)
            except ValueError:
                raise DataError(
                    f"{path}, line {number}, column {header[j]!r}: {cell!r} is not a number "
                    "(columns must be numeric)"
                ) from None
            if not math.isfinite(values[i, j]):
                raise DataError(
                    f"{path}, line {number}, column {header[j]!r}: {cell.strip()} is not a "
                    "finite number"
                )
    labels = None
    columns = list(header)
    if label_column is not None:
        j = header.index(label_column)
        labels = values[:, j]
        if not np.all(labels == np.round(labels)) or labels.min() < 0:
            bad = int(np.flatnonzero((labels != np.round(labels)) | (labels < 0))[0])
            raise DataError(
                f"{path}, line {lines[bad + 1][0]}, column {label_column!r}: labels must be "
                f"integers >= 0, got {labels[bad]:g}"
            )
        labels = labels.astype(np.int64)
        values = np.delete(values, j, axis=1)
        columns.pop(j)
        if not columns:
            raise DataError(f"{path}: no column is left to model besides the labels")
    return values.astype(np.float32), labels, columns


def standardization(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, scale) per column of the training rows, as float32 [D]. A constant column
    has scale 1, so it is only centred (its standard deviation is 0)."""
    mean = rows.mean(axis=0, dtype=np.float64)
    std = rows.std(axis=0, dtype=np.float64)
    return mean.astype(np.float32), np.where(std > 0, std, 1.0).astype(np.float32)
