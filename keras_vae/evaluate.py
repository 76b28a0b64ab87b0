"""Evaluates a trained VAE: python -m keras_vae.evaluate --model_dir=DIR

Prints and writes `eval-SPLIT-kK.json` (into the model directory by default): the ELBO with
its reconstruction and KL parts, the importance-weighted log-likelihood with
--num_importance_samples (5000 by default, the literature's protocol), active units
and the KL per latent dimension. The work happens in `keras_vae.evaluation`.
"""


from absl import app, flags

from keras_vae import cli
from keras_vae import eval_config as eval_config_lib

PROGRAM = "keras_vae.evaluate"
_defaults = eval_config_lib.EvalConfig()

flags.DEFINE_string("model_dir", None, "A model directory written by keras_vae.train.")
flags.DEFINE_string(
    "saved_model", None, "Or a keras_vae SavedModel alone (then --dataset is required)."
)
flags.DEFINE_string("split", _defaults.split, "train, validation or test.")
flags.DEFINE_string("dataset", None, "Evaluate on this data set instead of the run's.")
flags.DEFINE_string("data_dir", None, "tfds data directory for --dataset.")
flags.DEFINE_string(
    "binarize", None, "With --saved_model: none, static or dynamic, as the model was trained."
)
flags.DEFINE_integer(
    "num_importance_samples",
    _defaults.num_importance_samples,
    "k, samples of z per image for the importance-weighted log-likelihood.",
)
flags.DEFINE_integer("seed", _defaults.seed, "Seeds the samples of z.")
flags.DEFINE_integer(
    "max_examples", _defaults.max_examples, "Evaluate the first N images (0: all)."
)
flags.DEFINE_string(
    "output",
    None,
    "Where to write the JSON report (default: eval-SPLIT-kK.json in the model directory, "
    "or beside a bare SavedModel).",
)
flags.DEFINE_boolean("overwrite", False, "Replace an existing report at the output path.")

FLAGS = flags.FLAGS


def config_from_flags() -> eval_config_lib.EvalConfig:
    return eval_config_lib.EvalConfig(
        model_dir=FLAGS.model_dir,
        saved_model=FLAGS.saved_model,
        split=FLAGS.split,
        dataset=FLAGS.dataset,
        data_dir=FLAGS.data_dir,
        binarize=FLAGS.binarize,
        num_importance_samples=FLAGS.num_importance_samples,
        seed=FLAGS.seed,
        max_examples=FLAGS.max_examples,
        output=FLAGS.output,
        overwrite=FLAGS.overwrite,
    )


def _evaluate() -> None:
    # Flags, paths and data are checked before TensorFlow loads.
    config = eval_config_lib.resolve(config_from_flags())
    data = eval_config_lib.load_images(config)
    evaluation = cli.import_module_quietly("keras_vae.evaluation")
    r = evaluation.evaluate_run(config, data=data)
    print(
        f"{r['split']}: ELBO {r['elbo']:.2f} nats (reconstruction {r['reconstruction']:.2f}, "
        f"KL {r['kl']:.2f}); log p(x) >= {r['log_likelihood']:.2f} with "
        f"k={r['num_importance_samples']} (NLL {r['nll']:.2f}: {r['nll_kind']}); active units "
        f"{r['active_units']}/{len(r['kl_per_dimension'])}; {r['seconds']:.0f} s; "
        f"wrote {config.output}"
    )


def main(argv):
    del argv
    return cli.run_guarded(PROGRAM, _evaluate)


def run():
    """The console script (pyproject's [project.scripts]); the same as python -m."""
    cli.quiet_start(PROGRAM)
    app.run(main, flags_parser=cli.flags_parser(PROGRAM))


if __name__ == "__main__":
    run()
