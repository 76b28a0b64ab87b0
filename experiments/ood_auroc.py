"""How well a VAE's likelihood tells its own data from another data set: the AUROC.

    python experiments/ood_auroc.py --saved_model=results/papers/burda_vae_k1/saved_model \
        --other=idx:../shared/data/fashion_mnist --k=1000 --out=results/ood/mnist_model

Scores the test split of the model's own data and the test split of --other with the
SavedModel's `score` signature (keras_vae.scoring, as `python -m keras_vae.score` does),
both prepared as the model's run prepared its data (the same binarization), then
reports the AUROC of the log-likelihood as a detector of the other data: 1 when every
own image scores above every other image, 0.5 for chance, below 0.5 when the other
data look *more* likely (what Nalisnick et al. 2019 found for models of Fashion-MNIST
scoring MNIST). Writes `auroc.json` under --out.
"""

import json
import os

import numpy as np
from absl import app, flags

from keras_vae import data as data_lib

flags.DEFINE_string("saved_model", None, "A keras_vae SavedModel with its run record.")
flags.DEFINE_string("other", None, "The other data set (a --dataset name).")
flags.DEFINE_string("other_data_dir", None, "Its folder, for file data sets.")
flags.DEFINE_integer("k", 1000, "Importance samples per example.")
flags.DEFINE_integer("examples", 0, "Score the first N test images of each (0: all).")
flags.DEFINE_string("out", None, "Where auroc.json goes.")
flags.DEFINE_integer("seed", 0, "Seeds the draws of z.")
FLAGS = flags.FLAGS


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(a positive scores above a negative), ties counting half (Mann-Whitney U / n m)."""
    scores = np.concatenate([positive, negative])
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):  # Average the ranks of ties.
        tied = scores == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    n, m = len(positive), len(negative)
    return float((ranks[:n].sum() - n * (n + 1) / 2) / (n * m))


def _test_images(dataset, data_dir):
    # The model's own data when `dataset` is None, prepared as its run record says.
    splits = data_lib.load_model_data(None, dataset, data_dir, None, 0, "test", FLAGS.saved_model)
    images, _ = splits.split("test")
    if FLAGS.examples:
        images = images[: FLAGS.examples]
    return images.astype(np.float32) / 255.0, splits.source


def main(argv):
    del argv
    from keras_vae import handles, scoring

    scorer = handles.load_saved_model(FLAGS.saved_model)
    own, own_source = _test_images(None, None)
    other, other_source = _test_images(FLAGS.other, FLAGS.other_data_dir)
    own_scores = scoring.score_images(scorer, own, FLAGS.k, FLAGS.seed)
    other_scores = scoring.score_images(scorer, other, FLAGS.k, FLAGS.seed + 1)
    report = {
        "saved_model": FLAGS.saved_model,
        "own_data": own_source.get("name"),
        "other_data": other_source.get("name"),
        "k": FLAGS.k,
        "examples": [len(own), len(other)],
        "mean_log_likelihood": {
            "own": float(own_scores["log_likelihood"].mean()),
            "other": float(other_scores["log_likelihood"].mean()),
        },
        "auroc": auroc(own_scores["log_likelihood"], other_scores["log_likelihood"]),
        "auroc_elbo": auroc(own_scores["elbo"], other_scores["elbo"]),
    }
    os.makedirs(FLAGS.out, exist_ok=True)
    with open(os.path.join(FLAGS.out, "auroc.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    app.run(main)
