"""Trains a VAE and writes a model directory: python -m keras_vae.train --latent_dims=2

Flags become a `keras_vae.config.Config`; everything else happens in library code
(`keras_vae.training.train_and_evaluate`). See README.md for the model directory.
"""

import datetime
import os

from absl import app, flags

from keras_vae import cli, data, model_dir
from keras_vae import config as config_lib

PROGRAM = "keras_vae.train"
_defaults = config_lib.Config()
_M, _D, _T = _defaults.model, _defaults.data, _defaults.train

# Model.
flags.DEFINE_integer("latent_dims", _M.latent_dims, "Size of the latent code z.")
flags.DEFINE_string(
    "hidden_units",
    ",".join(map(str, _M.hidden_units)),
    "Encoder hidden layer sizes, comma-separated; the decoder mirrors them.",
)
flags.DEFINE_string(
    "activation", _M.activation, f"Hidden-layer activation: {', '.join(config_lib.ACTIVATIONS)}."
)
flags.DEFINE_string("likelihood", _M.likelihood, "p(x|z): bernoulli (logits) or gaussian.")
flags.DEFINE_string(
    "gaussian_variance",
    _M.gaussian_variance,
    "Gaussian likelihood only: fixed (--gaussian_sigma) or learned per pixel.",
)
flags.DEFINE_float(
    "gaussian_sigma",
    _M.gaussian_sigma,
    "Pixel standard deviation of the fixed-variance Gaussian likelihood.",
)
flags.DEFINE_float("beta", _M.beta, "Weight of the KL term (1: the ELBO; beta-VAE otherwise).")
flags.DEFINE_string(
    "objective",
    _M.objective,
    "elbo: reconstruction averaged over --num_samples draws of z + beta * KL; iwae: the "
    "importance-weighted bound over --num_samples draws (Burda et al. 2015; needs beta 1).",
)
flags.DEFINE_integer(
    "num_samples",
    _M.num_samples,
    "Draws of z per example in the objective, in training and validation.",
)
flags.DEFINE_float(
    "capacity_max",
    _M.capacity_max,
    "If > 0, replace beta * KL by capacity_gamma * |KL - C|, C rising to this many nats "
    "over --capacity_epochs (Burgess et al. 2018); 0: off.",
)
flags.DEFINE_float("capacity_gamma", _M.capacity_gamma, "Weight of |KL - C| when capacity_max > 0.")
# Data.
flags.DEFINE_string(
    "dataset",
    _D.dataset,
    "mnist (the full official MNIST, shipped with keras_vae), mnist_sample (5,000 of its "
    "training digits), fashion_mnist, kmnist, emnist/CONFIG (tfds), tfds:NAME or "
    "idx:FOLDER (MNIST-format IDX files).",
)
flags.DEFINE_string("data_dir", _D.data_dir, "tfds data directory (default: tfds' own).")
flags.DEFINE_string(
    "binarize",
    _D.binarize,
    "none, static (once), dynamic (fresh bits every step) or auto "
    "(dynamic for bernoulli, none for gaussian).",
)
flags.DEFINE_float(
    "validation_fraction",
    _D.validation_fraction,
    "Fraction of the training set held out for validation.",
)
# Training.
flags.DEFINE_integer("epochs", _T.epochs, "Training epochs.")
flags.DEFINE_integer("batch_size", _T.batch_size, "Examples per training step.")
flags.DEFINE_float("learning_rate", _T.learning_rate, "Adam learning rate.")
flags.DEFINE_enum(
    "learning_rate_schedule",
    _T.learning_rate_schedule,
    list(config_lib.LEARNING_RATE_SCHEDULES),
    "constant, or burda: 3^i epochs at learning_rate * 10^(-i/7) for i = 0..7 "
    "(3,280 epochs; Burda et al. 2015).",
)
flags.DEFINE_float("adam_epsilon", _T.adam_epsilon, "Adam epsilon (Burda et al. 2015: 1e-4).")
flags.DEFINE_integer("seed", _T.seed, "Seeds initialisation, shuffling, sampling and binarization.")
flags.DEFINE_integer(
    "image_every_epochs", _T.image_every_epochs, "Write TensorBoard images every this many epochs."
)
flags.DEFINE_integer(
    "curve_every_epochs",
    _T.curve_every_epochs,
    "Every N epochs, the importance-weighted test NLL into nll_curve.json (0: never).",
)
flags.DEFINE_integer(
    "curve_importance_samples", _T.curve_importance_samples, "k of the learning curve's NLL."
)
flags.DEFINE_integer(
    "curve_examples", _T.curve_examples, "Test images the curve's NLL is computed on (0: all)."
)
flags.DEFINE_integer(
    "verbose",
    _T.verbose,
    "1: a progress bar while an epoch runs, when stdout is a terminal; 0 or 2: none. "
    "Every epoch prints one summary line either way.",
)
flags.DEFINE_integer(
    "kl_warmup_epochs",
    _T.kl_warmup_epochs,
    "KL warm-up: in epoch e (from 0) the KL weight is beta * min(1, e / N); 0: none.",
)
flags.DEFINE_integer(
    "capacity_epochs",
    _T.capacity_epochs,
    "Epochs over which C rises linearly from 0 to --capacity_max: C = C_max * min(1, e / N).",
)
# Speed: each optimization can be turned off (results/benchmark.md measures them).
flags.DEFINE_enum(
    "jit_compile",
    _T.jit_compile,
    list(config_lib.JIT_COMPILE),
    "XLA-compile the train step: auto (on with a GPU, off on CPU, where it is slower), on, off.",
)
flags.DEFINE_integer(
    "steps_per_execution", _T.steps_per_execution, "Train steps per call of the compiled step."
)
flags.DEFINE_enum(
    "input_pipeline",
    _T.input_pipeline,
    list(config_lib.PIPELINES),
    "batched: uint8 batches converted in the model's graph; per_example: the textbook "
    "tf.data pipeline. Both give the same batches.",
)
flags.DEFINE_boolean(
    "fused_optimizer",
    _T.fused_optimizer,
    "Adam's update as TensorFlow's fused kernel (--nofused_optimizer: Keras' ops).",
)
flags.DEFINE_integer(
    "intra_op_threads", _T.intra_op_threads, "Threads per TensorFlow op; 0: TensorFlow's choice."
)
flags.DEFINE_integer(
    "inter_op_threads",
    _T.inter_op_threads,
    "TensorFlow ops run at once; 0: TensorFlow's choice.",
)
flags.DEFINE_boolean(
    "mixed_precision",
    _T.mixed_precision,
    "bfloat16 compute with float32 weights and losses (for GPUs; slow on most CPUs).",
)
flags.DEFINE_enum(
    "distribution",
    _T.distribution,
    list(config_lib.DISTRIBUTIONS),
    "none: one device; mirrored: every GPU of this machine (tf.distribute.MirroredStrategy); "
    "multi_worker: the cluster in TF_CONFIG (MultiWorkerMirroredStrategy); auto: mirrored "
    "with more than one GPU, else none.",
)
flags.DEFINE_boolean(
    "deterministic",
    _T.deterministic,
    "TensorFlow's deterministic ops: the same --seed gives bitwise-identical weights.",
)
flags.DEFINE_string(
    "model_dir",
    None,
    "Where the run is written: a new or empty directory, or an unfinished run of the same "
    "command, which resumes from its last completed epoch (default: runs/vae-TIMESTAMP).",
)

FLAGS = flags.FLAGS


def config_from_flags() -> config_lib.Config:
    model_dir_path = FLAGS.model_dir or os.path.join(
        "runs", datetime.datetime.now().strftime("vae-%Y%m%d-%H%M%S")
    )
    return config_lib.Config(
        model=config_lib.ModelConfig(
            latent_dims=FLAGS.latent_dims,
            hidden_units=config_lib.parse_hidden_units(FLAGS.hidden_units),
            activation=FLAGS.activation,
            likelihood=FLAGS.likelihood,
            gaussian_variance=FLAGS.gaussian_variance,
            gaussian_sigma=FLAGS.gaussian_sigma,
            beta=FLAGS.beta,
            objective=FLAGS.objective,
            num_samples=FLAGS.num_samples,
            capacity_max=FLAGS.capacity_max,
            capacity_gamma=FLAGS.capacity_gamma,
        ),
        data=config_lib.DataConfig(
            dataset=FLAGS.dataset,
            data_dir=FLAGS.data_dir,
            binarize=FLAGS.binarize,
            validation_fraction=FLAGS.validation_fraction,
        ),
        train=config_lib.TrainConfig(
            epochs=FLAGS.epochs,
            batch_size=FLAGS.batch_size,
            learning_rate=FLAGS.learning_rate,
            learning_rate_schedule=FLAGS.learning_rate_schedule,
            adam_epsilon=FLAGS.adam_epsilon,
            seed=FLAGS.seed,
            image_every_epochs=FLAGS.image_every_epochs,
            verbose=FLAGS.verbose,
            curve_every_epochs=FLAGS.curve_every_epochs,
            curve_importance_samples=FLAGS.curve_importance_samples,
            curve_examples=FLAGS.curve_examples,
            kl_warmup_epochs=FLAGS.kl_warmup_epochs,
            capacity_epochs=FLAGS.capacity_epochs,
            jit_compile=FLAGS.jit_compile,
            steps_per_execution=FLAGS.steps_per_execution,
            input_pipeline=FLAGS.input_pipeline,
            fused_optimizer=FLAGS.fused_optimizer,
            intra_op_threads=FLAGS.intra_op_threads,
            inter_op_threads=FLAGS.inter_op_threads,
            mixed_precision=FLAGS.mixed_precision,
            distribution=FLAGS.distribution,
            deterministic=FLAGS.deterministic,
        ),
        model_dir=model_dir_path,
    )


def _train() -> None:
    # Everything that can be checked without TensorFlow is checked first: a bad flag,
    # folder or file is reported in a fraction of a second, before anything is written.
    config = config_lib.resolve(config_from_flags())
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
