"""Trains a VAE for a Config and writes the complete model directory.

    metrics = training.train_and_evaluate(config)

is what `python -m keras_vae.train` runs, and what tests call with tiny configs.
About 420 lines because it is the run's steps in the order they happen (runtime,
model, data, callbacks, fit, evaluation, export, figures), which read best together.
"""

import contextlib
import dataclasses
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings

import keras
import numpy as np
import tensorflow as tf

import keras_vae
from keras_vae import (
    backup,
    distribution,
    export,
    figures,
    image_folder,
    inference,
    model_dir,
    objectives,
    optimizers,
    pipeline,
    progress,
    projector,
)
from keras_vae import callbacks as callbacks_lib
from keras_vae import config as config_lib
from keras_vae import data as data_lib
from keras_vae.errors import ConfigError, Interrupted
from keras_vae.model import VAE
from keras_vae.pipeline import to_unit_float

NUM_FIGURE_EXAMPLES = 30
# The draw of a learning curve's test images (curve_indices), the same for every run.
CURVE_SEED = 2024
MANIFOLD_SIZE = 20
# Test images whose encodings TensorBoard's image summaries plot every few epochs.
NUM_SUMMARY_ENCODINGS = 1000
# Test points in the TensorBoard projector: enough to see the classes, and a sprite of
# 28x28 digits that stays small (45x45 tiles, 1260 px a side).
NUM_PROJECTOR_POINTS = 2000


@contextlib.contextmanager
def _dtype_policy(name: str | None):
    # Keras layers take the global policy when they are created; the model's sublayers
    # are created in VAE.__init__, so the policy is set around it and then put back.
    if name is None:
        yield
        return
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_model(
    config: config_lib.Config,
    image_shape: tuple[int, int],
    num_classes: int = 0,
    standardization: tuple | None = None,
) -> VAE:
    """The VAE that `config` describes, for images of `image_shape` (and, conditional,
    labels of `num_classes` classes; for a standardized table, its (mean, scale))."""
    with _dtype_policy("mixed_bfloat16" if config.train.mixed_precision else None):
        return _build_model(config, image_shape, num_classes, standardization)


def _build_model(config, image_shape, num_classes, standardization) -> VAE:
    # ModelConfig's fields are VAE's arguments; the rest comes from the data and seed.
    mean, scale = standardization if standardization is not None else (None, None)
    return VAE(
        image_shape=image_shape,
        num_classes=num_classes,
        binarize_training_inputs=config.data.binarize == "dynamic",
        seed=config.train.seed,
        input_mean=mean,
        input_scale=scale,
        product_likelihood=config.train.product_likelihood,
        **dataclasses.asdict(config.model),
    )


def configure_threads(train: config_lib.TrainConfig) -> None:
    """Sizes TensorFlow's thread pools as `train` asks (0: TensorFlow's choice).

    They can only be set before TensorFlow starts its runtime; in a process where it
    already has (a notebook, the tests), a different request is reported, not applied.
    """
    threading = tf.config.threading
    pools = {
        "intra_op_threads": (
            train.intra_op_threads,
            threading.get_intra_op_parallelism_threads,
            threading.set_intra_op_parallelism_threads,
        ),
        "inter_op_threads": (
            train.inter_op_threads,
            threading.get_inter_op_parallelism_threads,
            threading.set_inter_op_parallelism_threads,
        ),
    }
    for name, (requested, current, set_threads) in pools.items():
        if requested in (0, current()):
            continue
        try:
            set_threads(requested)
        except RuntimeError:
            print(
                f"warning: {name}={requested} not applied: TensorFlow is already running "
                "in this process (it applies to a fresh one)",
                file=sys.stderr,
            )


def use_jit_compile(setting: str) -> bool:
    """'on'/'off', or for 'auto': XLA with a GPU, TensorFlow's own kernels on CPU."""
    if setting == "auto":
        return bool(tf.config.list_physical_devices("GPU"))
    return setting == "on"


def steps_per_execution(train: config_lib.TrainConfig, strategy: tf.distribute.Strategy) -> int:
    """train.steps_per_execution, or 1 under a tf.distribute strategy: there Keras 3's
    multi-step loop fails ("You must feed a value for placeholder tensor",
    keras-team/keras#19246)."""
    return train.steps_per_execution if distribution.is_default(strategy) else 1


def compile_model(
    model: VAE,
    train: config_lib.TrainConfig,
    steps: int | None = None,
    build_optimizer: bool = True,
) -> None:
    """Gives `model` its optimizer and the speed settings of `train` (`steps` per execution,
    default train.steps_per_execution); `build_optimizer=False` leaves the optimizer to
    build itself in the first step, as Keras does (experiments/microbench_first_epoch.py)."""
    clip = train.global_clipnorm or None
    if train.optimizer == "adagrad":
        optimizer = keras.optimizers.Adagrad(
            learning_rate=train.learning_rate, global_clipnorm=clip
        )
    else:
        adam = optimizers.FusedAdam if train.fused_optimizer else keras.optimizers.Adam
        optimizer = adam(
            learning_rate=train.learning_rate, epsilon=train.adam_epsilon, global_clipnorm=clip
        )
    model.compile(
        optimizer=optimizer,
        jit_compile=use_jit_compile(train.jit_compile),
        steps_per_execution=steps or train.steps_per_execution,
    )
    # Built lazily, the optimizer creates its slots inside the first traced step, and
    # tf.function then traces that step a second time: 0.7 s more of the first epoch on
    # a 2-core AVX2 machine (results/benchmark.md). The model is built in VAE.__init__;
    # model.optimizer, as compile may wrap the optimizer (loss scaling).
    if build_optimizer:
        model.optimizer.build(model.trainable_variables)


def _distributable(dataset: tf.data.Dataset, strategy: tf.distribute.Strategy) -> tf.data.Dataset:
    # Under a strategy Keras first builds the model from one batch averaged over the
    # replicas, a collective op that takes no uint8: such batches are converted here.
    if distribution.is_default(strategy):
        return dataset
    if isinstance(dataset.element_spec, tuple):  # (images, labels)
        return dataset.map(lambda images, labels: (to_unit_float(images), labels))
    return dataset.map(to_unit_float)


def evaluate_splits(model: VAE, splits: data_lib.DataSplits, batch_size: int) -> dict:
    """ELBO, reconstruction, KL, loss (and the IWAE bound) per split, z sampled as in training.

    Under the model's tf.distribute strategy, if it has one."""
    results = {}
    for name in ("train", "validation", "test"):
        images, labels = splits.split(name)
        dataset = pipeline.evaluation_dataset(
            images, batch_size, labels if model.conditional else None
        )
        results[name] = {
            k: float(v)
            for k, v in model.evaluate(
                _distributable(dataset, model.distribute_strategy), verbose=0, return_dict=True
            ).items()
        }
    return results


def write_figures(model: VAE, splits: data_lib.DataSplits, folder: str, seed: int) -> list[str]:
    """Writes the run's figures; returns their file names."""
    test_images, test_labels = splits.test_images, splits.test_labels
    if isinstance(test_images, image_folder.ImageFiles):
        # Decoded for the figures: the first ones, as many as the projector shows.
        test_images = test_images.take(slice(0, NUM_PROJECTOR_POINTS))
        test_labels = test_labels[:NUM_PROJECTOR_POINTS]
    test = data_lib.unit_floats(test_images)
    examples = test[:NUM_FIGURE_EXAMPLES]
    labels = test_labels if model.conditional else None
    shown = None if labels is None else labels[:NUM_FIGURE_EXAMPLES]
    figures.save_reconstructions(
        os.path.join(folder, "reconstruction.png"),
        examples,
        inference.reconstruct(model, examples, shown),
    )
    if model.conditional:
        written = ["reconstruction.png", *write_conditional_figures(model, splits, folder, seed)]
    else:
        samples = inference.sample(model, 100, seed)
        figures.save_samples(os.path.join(folder, "samples.png"), samples)
        written = ["reconstruction.png", "samples.png"]
    if model.code_dims == 2 and not model.conditional:
        figures.save_encodings(
            os.path.join(folder, "encodings.png"),
            inference.encode_means(model, test),
            test_labels,
            splits.class_names,
        )
        figures.save_manifold(
            os.path.join(folder, "manifold.png"),
            inference.decode_quantile_grid(model, MANIFOLD_SIZE),
            MANIFOLD_SIZE,
        )
        written += ["encodings.png", "manifold.png"]
    return written


def write_conditional_figures(model, splits, folder: str, seed: int, per_class: int = 10):
    """A conditional model's figures: a grid of samples per class (each column one z, so
    a row is a class and a column a style), and analogies (test images encoded with their
    labels and decoded with every label). Returns their file names."""
    classes = np.arange(model.num_classes)
    z = inference.as_handle(model).sample_latents(per_class, seed)
    grid = inference.decode(model, np.tile(z, (len(classes), 1, 1)), np.repeat(classes, per_class))
    figures.save_class_samples(os.path.join(folder, "class_samples.png"), grid, splits.class_names)
    test = data_lib.unit_floats(splits.test_images[:per_class])
    frames = inference.transfer(model, test, splits.test_labels[:per_class], classes)
    figures.save_analogies(os.path.join(folder, "analogies.png"), test, frames, splits.class_names)
    return ["class_samples.png", "analogies.png"]


def _versions() -> dict:
    return {
        "keras_vae": keras_vae.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": sys.version.split()[0],
    }


def configure_runtime(train: config_lib.TrainConfig) -> tf.distribute.Strategy:
    """Thread pools, op determinism and the distribution strategy, in the order TensorFlow
    needs: all three must be set before the runtime starts (MultiWorkerMirroredStrategy
    before any other op)."""
    configure_threads(train)
    if train.deterministic:
        tf.config.experimental.enable_op_determinism()
    return distribution.make_strategy(distribution.resolve(train.distribution))


def _progress_bar(train: config_lib.TrainConfig, num_train: int) -> list:
    """A progress bar with verbose=1 when stdout is a terminal; in a log, none."""
    if train.verbose != 1 or not sys.stdout.isatty():
        return []
    steps = -(-num_train // train.batch_size)
    return [progress.ProgressBar(train.epochs, steps)]


def curve_indices(num_test: int, num_examples: int) -> np.ndarray:
    """The test images of a learning curve: all, or `num_examples` drawn with a fixed seed
    (in file order). Not the first ones: some test files are sorted by class (Larochelle's
    static MNIST starts with a thousand zeros), and their first images are not a sample."""
    if not num_examples or num_examples >= num_test:
        return np.arange(num_test)
    return np.sort(np.random.default_rng(CURVE_SEED).choice(num_test, num_examples, replace=False))


def grey_images(splits: data_lib.DataSplits) -> bool:
    """Whether the examples are grey images [H, W], which TensorBoard's image summaries and
    the projector's sprite draw."""
    return len(splits.image_shape) == 2


def _image_summaries(train: config_lib.TrainConfig, splits, logs: str) -> list:
    if not grey_images(splits):
        return []
    return [
        callbacks_lib.ImageSummaries(
            os.path.join(logs, "images"),
            data_lib.unit_floats(splits.test_images[:NUM_SUMMARY_ENCODINGS]),
            train.image_every_epochs,
            train.epochs,
            train.seed,
            test_labels=splits.test_labels[:NUM_SUMMARY_ENCODINGS],
            class_names=splits.class_names,
        )
    ]


def _curve_callbacks(train: config_lib.TrainConfig, splits, path: str) -> list:
    if not train.curve_every_epochs:
        return []
    shown = curve_indices(len(splits.test_images), train.curve_examples)
    images = data_lib.unit_floats(splits.test_images[shown])
    return [
        callbacks_lib.LikelihoodCurve(
            os.path.join(path, model_dir.CURVE),
            images,
            train.curve_every_epochs,
            train.curve_importance_samples,
            train.epochs,
            train.seed,
            labels=splits.test_labels[shown],
        )
    ]


def _warn_if_not_a_likelihood(config: config_lib.Config, splits: data_lib.DataSplits) -> None:
    # A user may mean it (many tutorials train so), so a warning rather than a refusal.
    m, d = config.model, config.data
    if (
        m.likelihood == "bernoulli"
        and d.binarize == "none"
        # An image folder is not read whole to find out.
        and not isinstance(splits.train_images, image_folder.ImageFiles)
        and not data_lib.is_binary(splits.train_images)
    ):
        warnings.warn(
            "likelihood=bernoulli with binarize=none on grey pixels: the "
            "loss is a cross-entropy of grey levels, not a log-likelihood (evaluate labels its "
            "NLL so); binarize=dynamic gives the literature's binarized-data NLL",
            stacklevel=2,
        )


def train_and_evaluate(
    config: config_lib.Config,
    splits: data_lib.DataSplits | None = None,
    callbacks: tuple = (),
) -> dict:
    """Trains, evaluates, exports and draws; returns the contents of metrics.json.

    `splits` are loaded from `config.data` unless given; `callbacks` are Keras callbacks
    run after keras_vae's own. Raises KerasVAEError subclasses for bad configs, data or
    model directories, before anything is written.

    If config.model_dir holds an unfinished run of the same config, training resumes
    after its last completed epoch (keras_vae/backup.py). Under multi-worker training
    every worker calls this; the chief writes the model directory and the others write
    into a temporary directory that is removed at the end.
    """
    config = config_lib.resolve(config)
    train = config.train
    strategy = configure_runtime(train)
    chief = distribution.is_chief(strategy)
    if splits is None:
        splits = data_lib.load_splits(config.data, train.seed)
    _warn_if_not_a_likelihood(config, splits)
    if splits.standardization is not None and (
        config.model.likelihood != "gaussian" or config.model.prior != "standard"
    ):
        raise ConfigError(
            f"{config.data.dataset} holds real values, which are standardized: it takes "
            f"likelihood=gaussian (or auto) and prior=standard, got {config.model.likelihood} "
            f"and {config.model.prior}"
        )
    if splits.standardization is not None and train.output_bias == "data_mean":
        raise ConfigError(
            f"output_bias=data_mean starts the decoder at the pixel means of images in [0, 1]; "
            f"{config.data.dataset}'s values are standardized: use output_bias=zero"
        )
    if config.model.conditional and (
        not splits.source.get("labelled", True) or len(splits.class_names) < 2
    ):
        # config refuses the named data sets without labels; files (npz) are known now.
        raise ConfigError(
            f"conditional needs labels of at least two classes, and {config.data.dataset} "
            f"has {'none' if not splits.source.get('labelled', True) else 'one'}"
        )
    if chief:
        path = config.model_dir
        model_dir.open_run(path, config.to_dict())
    else:
        path = tempfile.mkdtemp(prefix="keras_vae-worker-")
        model_dir.create(path)
    try:
        return _train_and_evaluate(config, splits, strategy, path, chief, callbacks)
    finally:
        if not chief:
            shutil.rmtree(path, ignore_errors=True)


def starting_model(config, splits, strategy=None, steps: int = 1) -> VAE:
    """The compiled model a run of `config` on `splits` starts from, before any backup
    is restored: seeded, built and, with output_bias=data_mean, at the pixel means."""
    strategy = strategy or tf.distribute.get_strategy()
    keras.utils.set_random_seed(config.train.seed)
    with strategy.scope():
        model = build_model(
            config, splits.image_shape, len(splits.class_names), splits.standardization
        )
        if config.train.output_bias == "data_mean":
            # Before the backup is restored, which overwrites it when resuming.
            model.start_at_pixel_means(data_lib.pixel_means(splits.train_images))
        compile_model(model, config.train, steps)
    return model


def _train_and_evaluate(config, splits, strategy, path, chief, extra_callbacks) -> dict:
    train = config.train
    steps = steps_per_execution(train, strategy)
    # config.json; the SavedModel carries it too, so it can be scored on its run's data.
    record = {
        **config.to_dict(),
        "data_source": splits.source,
        "strategy": {
            "distribution": distribution.resolve(train.distribution),
            "replicas": strategy.num_replicas_in_sync,
            "steps_per_execution": steps,
        },
        "versions": _versions(),
    }
    model_dir.write_json(os.path.join(path, model_dir.CONFIG), record)
    model = starting_model(config, splits, strategy, steps)
    # Every worker resumes from the chief's backup, so all start from the same state.
    state = backup.restore(model, os.path.join(config.model_dir, model_dir.BACKUP)) or {}
    first_epoch = state.get("epoch", 0)
    carried = state.get("callbacks", {})
    if first_epoch:
        print(f"resuming after epoch {first_epoch} from {config.model_dir}/{model_dir.BACKUP}")
    summary = progress.EpochSummary(train.epochs, epoch_seconds=carried.get("epoch_seconds", ()))
    checkpoints = callbacks_lib.Checkpoints(
        os.path.join(path, model_dir.CHECKPOINTS),
        settled_epoch=objectives.first_settled_epoch(train.kl_warmup_epochs, train.capacity_epochs),
        best=float("inf") if carried.get("best") is None else carried["best"],
        patience=train.early_stopping_epochs,
        best_epoch=carried.get("best_epoch", -1),
    )
    logs = os.path.join(path, model_dir.LOGS)
    # The data's epoch, set by DataEpoch: under a strategy Keras makes an extra iterator
    # before training, so the dataset cannot count its own passes.
    data_epoch = tf.Variable(tf.constant(first_epoch, tf.int64), trainable=False)
    fit_callbacks = [
        *_progress_bar(train, len(splits.train_images)),
        callbacks_lib.DataEpoch(data_epoch),
        # Next: a non-finite loss stops training before any callback saves the epoch.
        callbacks_lib.StopOnNonFinite(steps),
        # Next, so every other callback's epoch sees that epoch's objective.
        callbacks_lib.ObjectiveSchedule(
            train.kl_warmup_epochs,
            train.capacity_epochs,
            train.learning_rate,
            train.learning_rate_schedule,
            train.epochs,
        ),
        summary,
        checkpoints,
        *_curve_callbacks(train, splits, path),
        keras.callbacks.TensorBoard(log_dir=logs, write_graph=False),
        *_image_summaries(train, splits, logs),
        # Last: the backup of an epoch holds every other callback's state after it.
        callbacks_lib.Backup(os.path.join(path, model_dir.BACKUP), checkpoints, summary),
        *extra_callbacks,
    ]
    start = time.perf_counter()
    try:
        model.fit(
            _distributable(
                pipeline.training_dataset(
                    splits.train_images,
                    train.batch_size,
                    train.seed,
                    train.input_pipeline,
                    epoch_counter=data_epoch,
                    labels=splits.train_labels if model.conditional else None,
                ),
                strategy,
            ),
            validation_data=_distributable(
                pipeline.evaluation_dataset(
                    splits.validation_images,
                    train.batch_size,
                    splits.validation_labels if model.conditional else None,
                ),
                strategy,
            ),
            epochs=train.epochs,
            initial_epoch=first_epoch,
            callbacks=fit_callbacks,
            # keras_vae prints its own lines (EpochSummary, ProgressBar): Keras' bar miscounts
            # with several steps per call and is unreadable in a redirected log.
            verbose=0,
            shuffle=False,
        )  # The dataset shuffles itself, seeded.
    except KeyboardInterrupt:
        # The backup of the last completed epoch is untouched: one half written is a
        # .tmp folder that the rerun ignores.
        done = backup.latest_epoch(os.path.join(path, model_dir.BACKUP))
        then = f"resume after epoch {done}" if done else "start it again"
        raise Interrupted(
            f"interrupted in epoch {done + 1}; rerun the same command to {then}"
        ) from None
    train_seconds = time.perf_counter() - start
    best = os.path.join(path, model_dir.CHECKPOINTS, "best.keras")
    if train.early_stopping_epochs and os.path.exists(best):
        # Early stopping's protocol: the model of the best validation epoch is the result.
        model.load_weights(best)

    # Each example is decoded num_samples times: keep evaluation batches near 1000 decodes.
    eval_batch_size = max(train.batch_size, 1000 // config.model.num_samples)
    metrics = evaluate_splits(model, splits, eval_batch_size)
    metrics["epochs"] = train.epochs
    if train.early_stopping_epochs:
        metrics["stopped_early"] = checkpoints.stopped_early
        metrics["best_epoch"] = checkpoints.best_epoch + 1
    metrics["resumed_after_epoch"] = first_epoch
    metrics["train_seconds"] = train_seconds
    metrics["first_epoch_seconds"] = summary.epoch_seconds[0]
    metrics["median_epoch_seconds"] = statistics.median(summary.epoch_seconds)
    metrics["epoch_seconds"] = list(summary.epoch_seconds)
    if not chief:
        return metrics
    model_dir.replace_tree(
        lambda tmp: export.export_saved_model(model, tmp, record),
        os.path.join(path, model_dir.SAVED_MODEL),
    )
    if figures.is_picture(splits.image_shape):
        write_figures(model, splits, os.path.join(path, model_dir.FIGURES), train.seed)
    # Every run is projected; vectors without a sprite, as they are not pictures.
    projected = data_lib.unit_floats(splits.test_images[:NUM_PROJECTOR_POINTS])
    projector.write_projector(
        os.path.join(logs, "projector"),
        inference.encode_means(
            model,
            projected,
            splits.test_labels[:NUM_PROJECTOR_POINTS] if model.conditional else None,
        ),
        splits.test_labels[:NUM_PROJECTOR_POINTS],
        splits.class_names,
        projected if figures.is_picture(splits.image_shape) else None,
        max_points=NUM_PROJECTOR_POINTS,
    )
    # Last: metrics.json marks the run finished, and then the backup is no longer needed.
    model_dir.write_json(os.path.join(path, model_dir.METRICS), metrics)
    shutil.rmtree(os.path.join(path, model_dir.BACKUP), ignore_errors=True)
    return metrics
