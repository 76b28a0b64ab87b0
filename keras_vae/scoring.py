"""Per-example scores of a trained VAE: the importance-weighted log-likelihood, the ELBO and
its parts, one row per example, for anomaly and novelty detection.

    python -m keras_vae.score --model_dir=DIR [--dataset=NAME --split=test] [--output=F.csv]
    python -m keras_vae.score --saved_model=DIR --input=FILE_OR_DIR --output=scores.csv

The numbers are the SavedModel's `score` signature's, called on batches of images with
the seed [seed, batch index]: a serving client that calls the signature on the same
batch with the same seed gets the same numbers. A low log-likelihood flags an unusual
input; Nalisnick et al. 2019 found that likelihoods can rank some out-of-distribution
data above the training distribution, so check the ranking on data you know
(results/README.md has MNIST against Fashion-MNIST).
"""

import csv

import numpy as np

from keras_vae import data as data_lib
from keras_vae import evaluation, handles
from keras_vae import model_dir as model_dir_lib
from keras_vae.eval_config import EvalConfig, load_images

COLUMNS = ("index", "label", "log_likelihood", "elbo", "reconstruction", "kl")


def images_per_call(num_samples: int, pixels: int, limit: int = 1000) -> int:
    """Images per call such that the decoder's output stays within the signatures' limit."""
    return max(1, min(limit, handles.MAX_OUTPUT_FLOATS // max(1, num_samples * pixels)))


def score_images(scorer, images, num_samples, seed, labels=None, progress=None) -> dict:
    """Per-example scores of `images` (float32 [N, H, W]), each an array [N] in nats."""
    pixels = int(np.prod(images.shape[1:]))
    step = images_per_call(num_samples, pixels)
    parts = []
    for call, start in enumerate(range(0, len(images), step)):
        extra = {} if labels is None else {"labels": labels[start : start + step]}
        parts.append(scorer.score(images[start : start + step], num_samples, [seed, call], **extra))
        if progress is not None:
            progress(min(start + step, len(images)), len(images))
    return {key: np.concatenate([p[key] for p in parts]).astype(np.float64) for key in parts[0]}


def write_csv(path: str, scores: dict, labels, names=None) -> None:
    """The rows, written atomically (model_dir.write_atomically): never half a table.
    With `names` (examples from --input), a `name` column after the index: the file of
    an image, the row of a table (0 for the first row after the header)."""

    def write(f):
        writer = csv.writer(f)
        writer.writerow(COLUMNS[:1] + (("name",) if names else ()) + COLUMNS[1:])
        for i in range(len(scores["elbo"])):
            # Nine significant digits give back the float32 score exactly; a fixed number
            # of decimals lost the relative precision of scores near 0 (standardized tables).
            values = [f"{scores[key][i]:.9g}" for key in COLUMNS[2:]]
            writer.writerow([i, *([names[i]] if names else []), int(labels[i]), *values])

    model_dir_lib.write_atomically(path, write)


def score_run(c: EvalConfig, print_fn=print, data=None) -> dict:
    """Scores the images that `c` (resolved) names; writes the CSV and returns the scores."""
    data = data if data is not None else load_images(c)
    images, source, labels = data
    images = data_lib.unit_floats(images)  # Decodes --input's image files.
    scorer = evaluation.load_scorer(c, images, source, labels)
    progress = evaluation.progress_printer(print_fn, "examples")
    what = c.input if c.input is not None else c.split
    print_fn(f"scoring {len(images)} {what} examples, k={c.num_importance_samples}", flush=True)
    scores = score_images(
        scorer,
        images,
        c.num_importance_samples,
        c.seed,
        labels if scorer.num_classes else None,
        progress,
    )
    write_csv(c.output, scores, labels, getattr(data, "names", None))
    return scores
