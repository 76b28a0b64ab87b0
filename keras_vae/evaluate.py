"""Evaluates a trained VAE: python -m keras_vae.evaluate --model_dir=DIR

Prints and writes `eval-SPLIT-kK.json` (into the model directory by default): the ELBO with
its reconstruction and KL parts, the importance-weighted log-likelihood with
--num_importance_samples (5000 by default, the literature's protocol), active units
and the KL per latent dimension. The work happens in `keras_vae.evaluation`.
"""

from absl import app

from keras_vae import cli
from keras_vae import eval_config as eval_config_lib

PROGRAM = "keras_vae.evaluate"
cli.define_flags(eval_config_lib.EvalConfig, __name__)


def _evaluate() -> None:
    # Flags, paths and data are checked before TensorFlow loads.
    config = eval_config_lib.resolve(cli.config_from_flags(eval_config_lib.EvalConfig))
    data = eval_config_lib.load_images(config)
    evaluation = cli.import_module_quietly("keras_vae.evaluation")
    r = evaluation.evaluate_run(config, data=data)
    print(
        f"{r['split']}: ELBO {r['elbo']:.2f} nats (reconstruction {r['reconstruction']:.2f}, "
        f"KL {r['kl']:.2f}); log p(x{'|y' if r['conditional'] else ''}) >= "
        f"{r['log_likelihood']:.2f} with "
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
