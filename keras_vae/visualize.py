"""Draws a trained VAE: python -m keras_vae.visualize --model_dir=DIR

Writes encodings, reconstruction, samples, manifold, interpolation, traversal and
latent-arithmetic figures (and visualize.json, saying how they were made) into
DIR/figures or --out. Works from a bare SavedModel too (--saved_model=PATH
--dataset=NAME), with TensorFlow alone. The work happens in `keras_vae.visualization`.
"""

from absl import app

from keras_vae import cli
from keras_vae import visualize_config as config_lib

PROGRAM = "keras_vae.visualize"
cli.define_flags(config_lib.VisualizeConfig, __name__)


def _visualize() -> None:
    # Flags, paths, data and class names are checked before TensorFlow loads.
    config = config_lib.resolve(cli.config_from_flags(config_lib.VisualizeConfig))
    data = config_lib.load_images(config)
    for name in (config.towards, config.away_from) if data.labelled else ():
        config_lib.class_index(name, data.class_names, data.labels)
    visualization = cli.import_module_quietly("keras_vae.visualization")
    visualization.visualize(config, data)


def main(argv):
    del argv
    return cli.run_guarded(PROGRAM, _visualize)


def run():
    """The console script (pyproject's [project.scripts]); the same as python -m."""
    cli.quiet_start(PROGRAM)
    app.run(main, flags_parser=cli.flags_parser(PROGRAM))


if __name__ == "__main__":
    run()
