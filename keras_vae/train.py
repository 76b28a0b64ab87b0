"""Trains a VAE and writes a model directory: python -m keras_vae.train --latent_dims=2

The flags are generated from `keras_vae.config.Config`'s fields (each declared once,
with its default, help and check); everything else happens in library code
(`keras_vae.training.train_and_evaluate`). See README.md for the model directory.
"""

import datetime
import os

from absl import app

from keras_vae import cli, data, model_dir
from keras_vae import config as config_lib

PROGRAM = "keras_vae.train"
cli.define_flags(config_lib.Config, __name__)


def _train() -> None:
    # Everything that can be checked without TensorFlow is checked first: a bad flag,
    # folder or file is reported in a fraction of a second, before anything is written.
    config = cli.config_from_flags(config_lib.Config)
    if not config.model_dir:
        stamp = datetime.datetime.now().strftime("vae-%Y%m%d-%H%M%S")
        config = config_lib.Config(config.model, config.data, config.train, f"runs/{stamp}")
    config = config_lib.resolve(config)
    if config.train.distribution == "multi_worker":
        # A worker of a cluster leaves the model directory to the chief (worker 0).
        config_lib.cluster_task(os.environ)
    else:
        model_dir.check_run(config.model_dir, config.to_dict())
    splits = data.load_splits(config.data, config.train.seed)
    training = cli.import_module_quietly("keras_vae.training")
    metrics = training.train_and_evaluate(config, splits=splits)
    test = metrics["test"]
    print(
        f"test ELBO {test['elbo']:.2f} nats (reconstruction {test['reconstruction']:.2f}, "
        f"KL {test['kl']:.2f}); median epoch {metrics['median_epoch_seconds']:.1f} s; "
        f"model directory: {config.model_dir}"
    )


def main(argv):
    del argv  # The flags parser has rejected any positional argument.
    return cli.run_guarded(PROGRAM, _train)


def run():
    """The console script (pyproject's [project.scripts]); the same as python -m."""
    cli.quiet_start(PROGRAM)
    app.run(main, flags_parser=cli.flags_parser(PROGRAM))


if __name__ == "__main__":
    run()
