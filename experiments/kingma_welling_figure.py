"""Kingma & Welling 2013, Fig. 2, drawn from keras_vae's runs of its rows.

    python experiments/kingma_welling_figure.py --out=results/papers/kingma_welling_fig2.png

One panel per data set and latent size, as in the paper: the variational lower bound
per data point (nats, higher is better) against the number of training samples
evaluated, on a log axis; the training bound of every epoch (its mean over the epoch's
minibatches, as Keras logs it) and the test bound every 10 epochs (one sample of z per
image). The rows' runs are read from results/papers/kw_* (`experiments/papers.py
--row=kw_... --collect` puts them there); a row not collected yet leaves its panel
empty and says so.
"""

import json
import os
import sys

from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# (data set, row prefix, latent sizes, the paper's y axis): the paper's axes, so the
# panels compare by eye with its Fig. 2, whose curves exist only as a picture.
PANELS = (
    ("MNIST", "kw_mnist_z", (3, 5, 10, 20, 200), (-150, -100)),
    ("Frey Face", "kw_frey_z", (2, 5, 10, 20), (0, 1600)),
)
PAPER_SAMPLES = (1e5, 1e8)  # The paper's x axis, for both data sets.


def _read(path):
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        try:
            return json.load(f)
        except ValueError as e:
            raise ValueError(f"{path} is not valid JSON ({e})") from None


def row_curves(folder: str) -> dict | None:
    """{"train": (samples, bounds), "test": (samples, bounds)} of a collected row,
    or None when it has no curves yet."""
    config = _read(os.path.join(folder, "config.json"))
    train = _read(os.path.join(folder, "train_curve.json")) or []
    test = _read(os.path.join(folder, "nll_curve.json")) or []
    if config is None or not (train or test):
        return None
    num_train = config["data_source"]["num_train"]
    return {
        "train": ([p["epoch"] * num_train for p in train], [p["elbo"] for p in train]),
        # With one importance sample the curve's "NLL" is minus the ELBO.
        "test": ([p["epoch"] * num_train for p in test], [-p["nll"] for p in test]),
    }


def draw(results: str, out: str) -> list[str]:
    """Draws the figure; returns the rows that had nothing to draw."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = max(len(panel[2]) for panel in PANELS)
    figure, axes = plt.subplots(
        len(PANELS), columns, figsize=(3.2 * columns, 3.0 * len(PANELS)), squeeze=False
    )
    missing = []
    for line, (data, prefix, sizes, bounds) in enumerate(PANELS):
        for column in range(columns):
            axis = axes[line][column]
            if column >= len(sizes):
                axis.axis("off")
                continue
            name = f"{prefix}{sizes[column]}"
            axis.set_title(f"{data}, $N_z$ = {sizes[column]}", fontsize=10)
            axis.set_xscale("log")
            axis.set_xlim(*PAPER_SAMPLES)
            axis.set_ylim(*bounds)
            axis.set_xlabel("training samples evaluated", fontsize=8)
            if column == 0:
                axis.set_ylabel("lower bound per data point (nats)", fontsize=8)
            axis.tick_params(labelsize=7)
            curves = row_curves(os.path.join(results, name))
            if curves is None:
                missing.append(name)
                axis.text(0.5, 0.5, "not collected yet", ha="center", transform=axis.transAxes)
                continue
            axis.plot(*curves["train"], color="tab:blue", linewidth=0.8, label="AEVB (train)")
            axis.plot(*curves["test"], color="tab:red", linewidth=0.8, label="AEVB (test)")
            # The paper's y range, widened where ours leaves it: nothing is cut off.
            low, high = bounds
            values = curves["train"][1] + curves["test"][1]
            axis.set_ylim(min(low, min(values)), max(high, max(values)))
            axis.legend(fontsize=7, loc="lower right")
    figure.suptitle(
        "keras_vae on Kingma & Welling 2013, Fig. 2 (AEVB; the rows of experiments/papers.py)",
        fontsize=11,
    )
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return missing


def main(argv):
    del argv
    results, out = flags.FLAGS.results, flags.FLAGS.out
    try:
        missing = draw(results, out)
    except (OSError, ValueError, KeyError) as e:  # A corrupt row file, or out unwritable.
        sys.exit(f"kingma_welling_figure.py: error: {e}")
    print(f"wrote {out}" + (f"; not collected yet: {', '.join(missing)}" if missing else ""))


if __name__ == "__main__":
    # Defined here, not on import: tests import row_curves beside other scripts' flags.
    flags.DEFINE_string("results", os.path.join(REPO, "results", "papers"), "Collected rows.")
    flags.DEFINE_string("out", None, "The figure (.png).", required=True)
    app.run(main)
