"""Runs one experiment of experiments/configs: trains, evaluates and writes its rows.

    python experiments/sweep.py --experiment=latent_size \
        --dataset=idx:../shared/data/mnist-sample --epochs=50 --out=results/sweeps/latent_size_mnist_sample

For each run of the experiment: keras_vae's training (`training.train_and_evaluate`),
then the evaluation of the test set from the SavedModel (`evaluation.evaluate_run`:
ELBO, reconstruction, KL, the importance-weighted NLL with --eval_k samples, active
units), the 5-nearest-neighbour accuracy of the test encodings and 64 prior samples.
Writes under --out: `rows.json` (everything, with per-epoch curves), `table.md`, the
experiment's plot (`plot.png`) and TensorBoard HParams logs (`hparams/`: open with
`tensorboard --logdir OUT/hparams`, HPARAMS tab). Model directories go to --runs_dir
(default OUT/runs, not committed). --quick: tiny settings for smoke tests.
"""

import json
import os
import sys
import time

from absl import app, flags, logging

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from configs import EXPERIMENTS  # noqa: E402

from keras_vae import config as config_lib  # noqa: E402
from keras_vae import eval_config as eval_config_lib  # noqa: E402

flags.DEFINE_list(
    "experiment",
    None,
    f"Experiments to run, comma-separated: {', '.join(EXPERIMENTS)}; with several, each "
    "writes to OUT/EXPERIMENT.",
)
flags.DEFINE_string("dataset", "idx:../shared/data/mnist-sample", "Data set (see keras_vae.train).")
flags.DEFINE_integer("epochs", 50, "Training epochs per run.")
flags.DEFINE_integer("batch_size", 100, "Examples per step.")
flags.DEFINE_integer("eval_k", 1000, "Importance samples for the test NLL.")
flags.DEFINE_integer("eval_examples", 2000, "Score the first N test images (0: all).")
flags.DEFINE_string("out", None, "Where rows.json, table.md, plot.png and hparams/ go.")
flags.DEFINE_string("runs_dir", None, "Model directories (default: OUT/runs, not committed).")
flags.DEFINE_integer("seed", 0, "Seed of every run.")
flags.DEFINE_bool(
    "quick",
    False,
    "Smoke-test settings: fewer runs, 1 epoch, hidden_units 32, k=10, 50 test images.",
)
flags.mark_flags_as_required(["experiment", "out"])
flags.register_validator(
    "experiment",
    lambda names: bool(names) and set(names) <= set(EXPERIMENTS),
    f"--experiment takes one or more of {', '.join(EXPERIMENTS)}",
)

FLAGS = flags.FLAGS
NUM_SAMPLES = 64
KNN_NEIGHBOURS = 5
KNN_REFERENCE = 5000  # training encodings the test encodings are classified against
INFORMATIVE_NATS = 0.1  # average KL above which a latent dimension counts as informative


def run_config(experiment, name: str, overrides: dict, runs_dir: str) -> config_lib.Config:
    model = {**experiment.MODEL, **overrides}
    if FLAGS.quick:
        model["hidden_units"] = (32,)
    return config_lib.Config(
        model=config_lib.ModelConfig(**model),
        data=config_lib.DataConfig(dataset=FLAGS.dataset),
        train=config_lib.TrainConfig(
            epochs=FLAGS.epochs,
            batch_size=FLAGS.batch_size,
            seed=FLAGS.seed,
            verbose=0,
            image_every_epochs=FLAGS.epochs,
        ),
        model_dir=os.path.join(runs_dir, name),
    )


def knn_accuracy(train_codes, train_labels, test_codes, test_labels, k=KNN_NEIGHBOURS):
    """Share of test codes whose k nearest training codes' majority label is theirs."""
    import numpy as np

    d = (
        np.sum(test_codes**2, 1)[:, None]
        - 2 * test_codes @ train_codes.T
        + np.sum(train_codes**2, 1)[None, :]
    )
    nearest = np.argpartition(d, k, axis=1)[:, :k]
    votes = train_labels[nearest]
    predicted = np.array([np.bincount(v).argmax() for v in votes])
    return float(np.mean(predicted == test_labels))


def informative_dimensions(kl_per_dimension, nats: float = INFORMATIVE_NATS) -> int:
    """Latent dimensions whose average KL exceeds `nats`: a stricter count than active
    units (Cov_x E[z_i] > 0.01 admits dimensions carrying a few hundredths of a nat)."""
    return sum(kl > nats for kl in kl_per_dimension)


def markdown_table(rows: list[dict]) -> str:
    lines = [
        "| run | settings | epochs | test ELBO | reconstruction | KL | NLL | k (NLL) "
        "| images | active units | KL > 0.1 nat | 5-NN accuracy | train time | eval time |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        settings = ", ".join(f"{k}={v}" for k, v in r["hparams"].items())
        lines.append(
            f"| {r['name']} | {settings} | {r['epochs']} | {r['test_elbo']:.2f} "
            f"| {r['test_reconstruction']:.2f} | {r['test_kl']:.2f} | {r['test_nll']:.2f} "
            f"| {r['eval_k']} | {r['eval_images']} | {r['active_units']}/{r['latent_dims']} "
            f"| {informative_dimensions(r['kl_per_dimension'])} "
            f"| {100 * r['knn_accuracy']:.1f}% | {r['train_seconds']:.0f} s "
            f"| {r['eval_seconds']:.0f} s |"
        )
    return "\n".join(lines) + "\n"


def write_hparams(folder: str, rows: list[dict]) -> None:
    """TensorBoard HParams: the experiment's settings and each run's test metrics."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    metrics = ("test_elbo", "test_reconstruction", "test_kl", "test_nll", "active_units")
    names = sorted({k for r in rows for k in r["hparams"]})
    with tf.summary.create_file_writer(folder).as_default():
        hp.hparams_config(
            hparams=[hp.HParam(n) for n in names],
            metrics=[hp.Metric(m, display_name=m.replace("_", " ")) for m in metrics],
        )
    for r in rows:
        with tf.summary.create_file_writer(os.path.join(folder, r["name"])).as_default():
            hp.hparams({n: r["hparams"][n] for n in names if n in r["hparams"]}, trial_id=r["name"])
            for m in metrics:
                tf.summary.scalar(m, r[m], step=r["epochs"])


def run(experiment, name, overrides, runs_dir) -> dict:
    import keras
    import numpy as np

    from keras_vae import data as data_lib
    from keras_vae import evaluation, handles, inference, training

    config = run_config(experiment, name, overrides, runs_dir)

    class History(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.epochs = []

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append({k: float(v) for k, v in (logs or {}).items()})

    history = History()
    # Loaded once: training, the evaluation and the 5-NN score (which needs the labels)
    # all take them from here.
    splits = data_lib.load_splits(config_lib.resolve(config).data, FLAGS.seed)
    n_test = FLAGS.eval_examples or len(splits.test_images)
    test_images = splits.test_images[:n_test].astype(np.float32) / 255.0
    print(f"== {name}: training {config.train.epochs} epochs", flush=True)
    start = time.perf_counter()
    metrics = training.train_and_evaluate(config, splits=splits, callbacks=(history,))
    train_seconds = time.perf_counter() - start
    report = evaluation.evaluate_run(
        eval_config_lib.resolve(
            eval_config_lib.EvalConfig(
                model_dir=config.model_dir,
                num_importance_samples=FLAGS.eval_k,
                max_examples=FLAGS.eval_examples,
                seed=FLAGS.seed,
            )
        ),
        print_fn=lambda *a, **k: None,
        data=(test_images, splits.source, splits.test_labels[:n_test]),
    )
    served = handles.load_saved_model(os.path.join(config.model_dir, "saved_model"))
    train_codes = inference.encode_means(served, splits.train_images[:KNN_REFERENCE] / 255.0)
    test_codes = inference.encode_means(served, test_images)
    test_labels = splits.test_labels[:n_test].astype(np.int64)
    n_train = len(splits.train_images)
    return {
        "name": name,
        "hparams": {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()},
        "latent_dims": config.model.latent_dims,
        "epochs": config.train.epochs,
        "dataset": FLAGS.dataset,
        "test_elbo": report["elbo"],
        "test_reconstruction": report["reconstruction"],
        "test_kl": report["kl"],
        "test_nll": report["nll"],
        "eval_k": report["num_importance_samples"],
        "eval_images": report["num_examples"],
        "active_units": report["active_units"],
        "kl_per_dimension": report["kl_per_dimension"],
        "knn_accuracy": knn_accuracy(
            train_codes,
            splits.train_labels[:KNN_REFERENCE].astype(np.int64),
            test_codes,
            test_labels,
        ),
        "train_seconds": train_seconds,
        "median_epoch_seconds": metrics["median_epoch_seconds"],
        "eval_seconds": report["seconds"],
        "history": {
            "examples_seen": [n_train * (e + 1) for e in range(len(history.epochs))],
            "elbo": [h["elbo"] for h in history.epochs],
            "val_elbo": [h["val_elbo"] for h in history.epochs],
        },
        "samples": inference.sample(served, NUM_SAMPLES, FLAGS.seed).round(4).tolist(),
        "encodings": test_codes.round(4).tolist() if test_codes.shape[1] == 2 else None,
        "encoding_labels": test_labels.tolist(),
        "class_names": list(splits.class_names),
    }


FLAGS_USED = ("experiment", "dataset", "epochs", "batch_size", "eval_k", "eval_examples", "seed")


def run_experiment(experiment, out: str, runs_dir: str, command: str) -> None:
    rows = [run(experiment, n, o, runs_dir) for n, o in experiment.variants(FLAGS.quick)]

    import sweep_plots

    os.makedirs(out, exist_ok=True)
    summary = [
        {k: v for k, v in r.items() if k not in ("samples", "encodings", "encoding_labels")}
        for r in rows
    ]
    with open(os.path.join(out, "rows.json"), "w") as f:
        json.dump(
            {
                "command": command,
                "experiment": experiment.NAME,
                "flags": {k: FLAGS[k].value for k in FLAGS_USED},
                "rows": summary,
            },
            f,
            indent=2,
        )
    table = markdown_table(rows)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(f"Command: `{command}`\n\n{experiment.TITLE}. {experiment.CLAIM}\n\n{table}")
    sweep_plots.PLOTS[experiment.PLOT](
        os.path.join(out, "plot.png"), rows, FLAGS.dataset.split("/")[-1]
    )
    write_hparams(os.path.join(out, "hparams"), rows)
    print(table)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # TensorFlow's savers log every file at INFO.
    if FLAGS.quick:
        FLAGS.epochs, FLAGS.eval_k, FLAGS.eval_examples = 1, 10, 50
    command = f"python experiments/sweep.py {' '.join(sys.argv[1:])}"
    several = len(FLAGS.experiment) > 1
    for name in FLAGS.experiment:
        out = os.path.join(FLAGS.out, name) if several else FLAGS.out
        runs_dir = FLAGS.runs_dir or os.path.join(FLAGS.out, "runs")
        if several:
            runs_dir = os.path.join(runs_dir, name)
        run_experiment(EXPERIMENTS[name], out, runs_dir, command)


if __name__ == "__main__":
    app.run(main)
