"""The IWAE paper's one-stochastic-layer protocol: VAE (k=1) against IWAE (k=5, 50).

    python experiments/iwae_protocol.py --dataset=idx:../shared/data/mnist-sample \
        --epochs=100 --eval_k=5000 --out=results/iwae_mnist_sample

Model (Burda et al. 2015, section 5): 784-200-200-50, tanh, Bernoulli likelihood,
dynamic binarization, Adam with epsilon 1e-4. Each variant is trained with
keras_vae's library code, then scored with the importance-weighted estimate of
log p(x) on the test set (binarized once with a fixed seed). Writes `table.md` and
`rows.json` under --out. The paper trains for 3,280 epochs on the full 60,000 MNIST
digits (VAE 86.76, IWAE k=50 84.78 nats NLL); --epochs sets the budget here.
"""

import json
import os
import sys
import time

from absl import app, flags

from keras_vae import config as config_lib
from keras_vae import eval_config as eval_config_lib

VARIANTS = {"vae_k1": ("elbo", 1), "iwae_k5": ("iwae", 5), "iwae_k50": ("iwae", 50)}

flags.DEFINE_string("dataset", "idx:../shared/data/mnist-sample", "Data set (see keras_vae.train).")
flags.DEFINE_integer("epochs", 100, "Training epochs per variant.")
flags.DEFINE_integer("batch_size", 100, "Examples per step.")
flags.DEFINE_integer("eval_k", 5000, "Importance samples for the test NLL.")
flags.DEFINE_integer("eval_examples", 0, "Score the first N test images (0: all).")
flags.DEFINE_list("variants", list(VARIANTS), f"Any of {', '.join(VARIANTS)}.")
flags.DEFINE_string("out", "results/iwae_protocol", "Where table.md and rows.json go.")
flags.DEFINE_string("runs_dir", None, "Model directories (default: OUT/runs, not committed).")
flags.DEFINE_integer("seed", 0, "Seed of every run.")
flags.DEFINE_bool("quick", False, "Tiny settings for a smoke test (2 epochs, k=10, 100 images).")

FLAGS = flags.FLAGS


def variant_config(name: str, runs_dir: str) -> config_lib.Config:
    objective, k = VARIANTS[name]
    return config_lib.Config(
        model=config_lib.ModelConfig(
            latent_dims=50,
            hidden_units=(200, 200),
            activation="tanh",
            likelihood="bernoulli",
            objective=objective,
            num_samples=k,
        ),
        data=config_lib.DataConfig(dataset=FLAGS.dataset, binarize="dynamic"),
        train=config_lib.TrainConfig(
            epochs=FLAGS.epochs,
            batch_size=FLAGS.batch_size,
            learning_rate=1e-3,
            adam_epsilon=1e-4,
            seed=FLAGS.seed,
            verbose=0,
        ),
        model_dir=os.path.join(runs_dir, name),
    )


def markdown_table(rows: list[dict]) -> str:
    lines = [
        (
            "| variant | objective | k (train) | epochs | test ELBO | test NLL | k (NLL) | images "
            "| active units | train time | eval time |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['objective']} | {r['num_samples']} | {r['epochs']} "
            f"| {r['test_elbo']:.2f} | {r['test_nll']:.2f} | {r['eval_k']} | {r['eval_images']} "
            f"| {r['active_units']}/50 | {r['train_seconds']:.0f} s | {r['eval_seconds']:.0f} s |"
        )
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    if FLAGS.quick:
        FLAGS.epochs, FLAGS.eval_k, FLAGS.eval_examples = 2, 10, 100
    unknown = set(FLAGS.variants) - set(VARIANTS)
    if unknown:
        sys.exit(f"iwae_protocol: error: unknown variants {sorted(unknown)}")
    runs_dir = FLAGS.runs_dir or os.path.join(FLAGS.out, "runs")
    from keras_vae import evaluation, training  # TensorFlow loads here, after flag checks.

    rows = []
    for name in FLAGS.variants:
        config = variant_config(name, runs_dir)
        print(f"== {name}: training {config.train.epochs} epochs", flush=True)
        start = time.perf_counter()
        metrics = training.train_and_evaluate(config)
        train_seconds = time.perf_counter() - start
        eval_config = eval_config_lib.resolve(
            eval_config_lib.EvalConfig(
                model_dir=config.model_dir,
                num_importance_samples=FLAGS.eval_k,
                max_examples=FLAGS.eval_examples,
                seed=FLAGS.seed,
            )
        )
        report = evaluation.evaluate_run(eval_config)
        rows.append(
            {
                "variant": name,
                "objective": config.model.objective,
                "num_samples": config.model.num_samples,
                "epochs": config.train.epochs,
                "dataset": FLAGS.dataset,
                "test_elbo": report["elbo"],
                "test_nll": report["nll"],
                "eval_k": report["num_importance_samples"],
                "eval_images": report["num_examples"],
                "active_units": report["active_units"],
                "train_seconds": train_seconds,
                "eval_seconds": report["seconds"],
                "median_epoch_seconds": metrics["median_epoch_seconds"],
            }
        )
        print(markdown_table(rows[-1:]), flush=True)
    os.makedirs(FLAGS.out, exist_ok=True)
    with open(os.path.join(FLAGS.out, "rows.json"), "w") as f:
        json.dump({"flags": {k: FLAGS[k].value for k in FLAGS_USED}, "rows": rows}, f, indent=2)
    with open(os.path.join(FLAGS.out, "table.md"), "w") as f:
        f.write(f"Command: `python experiments/iwae_protocol.py {' '.join(sys.argv[1:])}`\n\n")
        f.write(markdown_table(rows))
    print(markdown_table(rows))


FLAGS_USED = ("dataset", "epochs", "batch_size", "eval_k", "eval_examples", "variants", "seed")

if __name__ == "__main__":
    app.run(main)
