"""Draws a trained VAE: python -m keras_vae.visualize --model_dir=DIR

Writes encodings, reconstruction, samples, manifold, interpolation, traversal and
latent-arithmetic figures (and visualize.json, saying how they were made) into
DIR/figures or --out. Works from a bare SavedModel too (--saved_model=PATH
--dataset=NAME), with TensorFlow alone. The work happens in `keras_vae.visualization`.
"""


from absl import app, flags

from keras_vae import cli
from keras_vae import visualize_config as config_lib
from keras_vae.errors import ConfigError

PROGRAM = "keras_vae.visualize"
_d = config_lib.VisualizeConfig()

flags.DEFINE_string("model_dir", None, "A model directory written by keras_vae.train.")
flags.DEFINE_string("saved_model", None, "Or a keras_vae SavedModel alone (needs --dataset).")
flags.DEFINE_string("dataset", None, "Draw from this data set instead of the run's.")
flags.DEFINE_string("data_dir", None, "tfds data directory for --dataset.")
flags.DEFINE_string(
    "binarize", None, "With --saved_model: none, static or dynamic, as the model was trained."
)
flags.DEFINE_string("split", _d.split, "train, validation or test.")
flags.DEFINE_string("out", None, "Folder for the figures (default: DIR/figures).")
flags.DEFINE_integer("seed", _d.seed, "Seeds the prior samples.")
flags.DEFINE_integer("num_examples", _d.num_examples, "Images in reconstruction.png.")
flags.DEFINE_integer("num_samples", _d.num_samples, "Prior samples in samples.png.")
flags.DEFINE_integer("manifold_size", _d.manifold_size, "manifold.png is an N x N grid.")
flags.DEFINE_integer("max_encodings", _d.max_encodings, "Points in encodings.png.")
flags.DEFINE_integer("pairs", _d.pairs, "Image pairs in interpolation.png.")
flags.DEFINE_integer("steps", _d.steps, "Frames per interpolation path (>= 2).")
flags.DEFINE_integer("traversal_dims", _d.traversal_dims, "Dimensions swept in traversal.png.")
flags.DEFINE_float("traversal_range", _d.traversal_range, "Sweep each from -R to R.")
flags.DEFINE_integer("traversal_steps", _d.traversal_steps, "Values per swept dimension.")
flags.DEFINE_string("towards", _d.towards, "Arithmetic: the class (index or name) to move to.")
flags.DEFINE_string("away_from", _d.away_from, "Arithmetic: the class whose images are moved.")
flags.DEFINE_list("strengths", [str(a) for a in _d.strengths], "Arithmetic strengths a.")
flags.DEFINE_integer("arithmetic_images", _d.arithmetic_images, "Rows of arithmetic.png.")

FLAGS = flags.FLAGS


def config_from_flags() -> config_lib.VisualizeConfig:
    try:
        strengths = tuple(float(a) for a in FLAGS.strengths)
    except ValueError:
        raise ConfigError(
            f"strengths must be comma-separated numbers, got {','.join(FLAGS.strengths)!r}"
        ) from None
    return config_lib.VisualizeConfig(
        model_dir=FLAGS.model_dir,
        saved_model=FLAGS.saved_model,
        dataset=FLAGS.dataset,
        data_dir=FLAGS.data_dir,
        binarize=FLAGS.binarize,
        split=FLAGS.split,
        out=FLAGS.out,
        seed=FLAGS.seed,
        num_examples=FLAGS.num_examples,
        num_samples=FLAGS.num_samples,
        manifold_size=FLAGS.manifold_size,
        max_encodings=FLAGS.max_encodings,
        pairs=FLAGS.pairs,
        steps=FLAGS.steps,
        traversal_dims=FLAGS.traversal_dims,
        traversal_range=FLAGS.traversal_range,
        traversal_steps=FLAGS.traversal_steps,
        towards=FLAGS.towards,
        away_from=FLAGS.away_from,
        strengths=strengths,
        arithmetic_images=FLAGS.arithmetic_images,
    )


def _visualize() -> None:
    # Flags, paths, data and class names are checked before TensorFlow loads.
    config = config_lib.resolve(config_from_flags())
    data = config_lib.load_images(config)
    for name in (config.towards, config.away_from):
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
