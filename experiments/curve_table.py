"""Prints a run's learning curve (nll_curve.json, from --curve_every_epochs) as a Markdown table.

    python experiments/curve_table.py results/papers/burda_vae_k1/nll_curve.json \
        --learning_rate=1e-3 --schedule=burda

Each row: the epoch (counted from 1), the learning rate that epoch trained at
(keras_vae.learning_rates), and the importance-weighted test NLL of the point.
"""

import json
import sys

from absl import app, flags

from keras_vae import learning_rates

flags.DEFINE_float("learning_rate", 1e-3, "The run's --learning_rate.")
flags.DEFINE_enum(
    "schedule", "constant", list(learning_rates.LEARNING_RATE_SCHEDULES), "The run's schedule."
)
flags.DEFINE_integer("epochs", None, "The run's --epochs (the cosine schedule needs it).")
FLAGS = flags.FLAGS


def table(points, learning_rate, schedule, epochs=None) -> str:
    k = {p["num_importance_samples"] for p in points}
    n = {p["num_examples"] for p in points}
    header = f"test NLL (k = {', '.join(map(str, sorted(k)))}, {', '.join(f'{x:,}' for x in sorted(n))} images)"
    lines = [f"| epoch | learning rate | {header} |", "|---|---|---|"]
    for p in points:
        rate = learning_rates.learning_rate_at(p["epoch"] - 1, learning_rate, schedule, epochs)
        lines.append(f"| {p['epoch']} | {rate:.3g} | {p['nll']:.2f} |")
    return "\n".join(lines)


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: curve_table.py NLL_CURVE_JSON [--learning_rate=R --schedule=S --epochs=N]")
    try:
        with open(argv[1]) as f:
            print(table(json.load(f), FLAGS.learning_rate, FLAGS.schedule, FLAGS.epochs))
    except (OSError, ValueError, KeyError) as e:  # One line for a bad file or flag.
        sys.exit(f"curve_table.py: {argv[1]}: {e}")


if __name__ == "__main__":
    app.run(main)
