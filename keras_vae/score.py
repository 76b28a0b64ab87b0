"""Scores examples one by one: python -m keras_vae.score --model_dir=DIR

Writes `scores-SPLIT-kK.csv` (into the model directory by default): for each example of
the split (or of --dataset), its index, its label, the importance-weighted
log-likelihood with --num_importance_samples draws of z, the ELBO and its
reconstruction and KL parts, in nats. The flags are evaluate's
(`keras_vae.eval_config.EvalConfig`); the work happens in `keras_vae.scoring`.
"""

from absl import app

from keras_vae import cli
from keras_vae import eval_config as eval_config_lib

PROGRAM = "keras_vae.score"
cli.define_flags(eval_config_lib.EvalConfig, __name__)


def _score() -> None:
    # Flags, paths and data are checked before TensorFlow loads.
    config = cli.config_from_flags(eval_config_lib.EvalConfig)
    config = eval_config_lib.resolve(config, report="scores", extension="csv")
    data = eval_config_lib.load_images(config)
    scoring = cli.import_module_quietly("keras_vae.scoring")
    scores = scoring.score_run(config, data=data)
    print(
        f"{len(scores['elbo'])} examples: mean log-likelihood {scores['log_likelihood'].mean():.2f}"
        f" nats (k={config.num_importance_samples}); wrote {config.output}"
    )


def main(argv):
    del argv
    return cli.run_guarded(PROGRAM, _score)


def run():
    """The console script (pyproject's [project.scripts]); the same as python -m."""
    cli.quiet_start(PROGRAM)
    app.run(main, flags_parser=cli.flags_parser(PROGRAM))


if __name__ == "__main__":
    run()
