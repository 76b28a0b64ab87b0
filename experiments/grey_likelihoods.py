"""Likelihoods for grey-level pixels: continuous Bernoulli against Bernoulli-on-grey and Gaussian.

    python experiments/grey_likelihoods.py --dataset=mnist --epochs=10 \
        --out=results/grey_likelihoods/mnist

Trains the same VAE on the grey (not binarized) images with each likelihood, then
draws one figure, `figure.png`: per likelihood, test images and their reconstructions
(the decoder's pixel means: for the continuous Bernoulli its true mean, not lambda)
and samples from the prior. `table.md` has each run's test ELBO and NLL with the kind
of number each is: the Bernoulli's is a cross-entropy of grey pixels (not a likelihood),
the others are densities of pixels in [0, 1], comparable with each other only.
"""

import json
import os

import numpy as np
from absl import app, flags

from keras_vae import config as config_lib
from keras_vae import data as data_lib

VARIANTS = {
    "bernoulli (grey)": {"likelihood": "bernoulli"},
    "gaussian (learned variance)": {"likelihood": "gaussian", "gaussian_variance": "learned"},
    "continuous bernoulli": {"likelihood": "continuous_bernoulli"},
}

flags.DEFINE_string("dataset", "mnist", "Data set (see keras_vae.train).")
flags.DEFINE_string("data_dir", None, "Its folder, for file data sets.")
flags.DEFINE_integer("epochs", 10, "Training epochs per likelihood.")
flags.DEFINE_integer("latent_dims", 10, "Size of z.")
flags.DEFINE_integer("eval_k", 1000, "Importance samples for the test NLL.")
flags.DEFINE_integer("eval_examples", 2000, "Score the first N test images (0: all).")
flags.DEFINE_string("out", None, "Where figure.png, table.md and rows.json go.")
flags.DEFINE_string("runs_dir", None, "Model directories (default: OUT/runs, not committed).")
flags.DEFINE_integer("seed", 0, "Seed of every run.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from keras_vae import eval_config, evaluation, figures, handles, inference, training

    runs_dir = FLAGS.runs_dir or os.path.join(FLAGS.out, "runs")
    os.makedirs(FLAGS.out, exist_ok=True)
    rows, panels = [], []
    for name, model in VARIANTS.items():
        slug = name.split(" (")[0].replace(" ", "_")
        config = config_lib.Config(
            model=config_lib.ModelConfig(latent_dims=FLAGS.latent_dims, **model),
            data=config_lib.DataConfig(
                dataset=FLAGS.dataset, data_dir=FLAGS.data_dir, binarize="none"
            ),
            train=config_lib.TrainConfig(epochs=FLAGS.epochs, seed=FLAGS.seed, verbose=0),
            model_dir=os.path.join(runs_dir, slug),
        )
        metrics = training.train_and_evaluate(config)
        report = evaluation.evaluate_run(
            eval_config.resolve(
                eval_config.EvalConfig(
                    model_dir=config.model_dir,
                    num_importance_samples=FLAGS.eval_k,
                    max_examples=FLAGS.eval_examples,
                    overwrite=True,
                )
            ),
            print_fn=lambda *a, **k: None,
        )
        saved = handles.load_saved_model(os.path.join(config.model_dir, "saved_model"))
        splits = data_lib.load_splits(config_lib.resolve(config).data, FLAGS.seed)
        images = splits.test_images[:8].astype(np.float32) / 255.0
        panels.append(
            (
                name,
                images,
                inference.reconstruct(saved, images),
                inference.sample(saved, 8, FLAGS.seed),
            )
        )
        rows.append(
            {
                "likelihood": name,
                "test_elbo": metrics["test"]["elbo"],
                "nll": report["nll"],
                "nll_kind": report["nll_kind"],
                "k": FLAGS.eval_k,
                "examples": report["num_examples"],
                "median_epoch_seconds": metrics["median_epoch_seconds"],
            }
        )
        print(f"{name}: test ELBO {rows[-1]['test_elbo']:.2f}, NLL {report['nll']:.2f} "
              f"({report['nll_kind']})", flush=True)  # fmt: skip
    figures.save_likelihood_panels(os.path.join(FLAGS.out, "figure.png"), panels)
    with open(os.path.join(FLAGS.out, "rows.json"), "w") as f:
        json.dump(rows, f, indent=2)
    lines = [
        f"{FLAGS.dataset}, grey pixels, {FLAGS.epochs} epochs, z = {FLAGS.latent_dims}; NLL "
        f"with k = {FLAGS.eval_k} on {rows[0]['examples']:,} test images.",
        "",
        "| likelihood | test ELBO | test NLL | what the NLL is |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['likelihood']} | {r['test_elbo']:.2f} | {r['nll']:.2f} | {r['nll_kind']} |"
        for r in rows
    ]
    with open(os.path.join(FLAGS.out, "table.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    app.run(main)
