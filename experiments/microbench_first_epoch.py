"""What a first epoch costs beyond a steady one, with the optimizer built before `fit`
(keras_vae's default) and built lazily in the first step (Keras' way, which makes
tf.function trace the step twice).

    python experiments/microbench_first_epoch.py [--rounds=5] [--steps=64]

For the benchmark's batch-20 and batch-128 models (experiments/benchmark_training.py),
each round builds a fresh model per way, in alternating order, and times two one-epoch
`fit` calls of `--steps` batches: the first (tracing, the graph's first run) and the
second (steady). It prints the median of the difference, the first epoch's overhead,
and how many times the step was traced. Run it on a quiet machine.
"""

import statistics
import time

import keras
import numpy as np
from absl import app, flags, logging

from keras_vae import config as config_lib
from keras_vae import pipeline, training

flags.DEFINE_integer("rounds", 5, "Alternating rounds; medians are reported.")
flags.DEFINE_integer("steps", 64, "Batches per epoch.")
FLAGS = flags.FLAGS

# (name, batch size, hidden units, latent dims, activation): the benchmark's models.
CASES = (
    ("batch 20, 784-200-200-50/tanh", 20, (200, 200), 50, "tanh"),
    ("batch 128, 784-512-256-2/relu", 128, (512, 256), 2, "relu"),
)
WAYS = {"built before fit": True, "built in the first step": False}


def first_epoch_overhead(batch, hidden, latent, activation, build_optimizer, steps):
    """(first epoch - steady epoch in seconds, times the train step was traced)."""
    images = np.random.default_rng(0).integers(0, 256, (batch * steps, 28, 28), np.uint8)
    train = config_lib.TrainConfig(batch_size=batch, seed=0)
    config = config_lib.Config(
        model=config_lib.ModelConfig(
            latent_dims=latent, hidden_units=hidden, activation=activation,
            likelihood="bernoulli",
        ),
        train=train,
        model_dir="unused",
    )  # fmt: skip
    keras.utils.set_random_seed(0)
    model = training.build_model(config, (28, 28))
    model.binarize_training_inputs = True
    training.compile_model(model, train, build_optimizer=build_optimizer)
    traces = []
    step = model.train_step
    model.train_step = lambda data: traces.append(1) or step(data)
    dataset = pipeline.training_dataset(images, batch, 0, train.input_pipeline)
    seconds = []
    for _ in range(2):
        start = time.perf_counter()
        model.fit(dataset, epochs=1, verbose=0, shuffle=False)
        seconds.append(time.perf_counter() - start)
    return seconds[0] - seconds[1], len(traces)


def main(argv):
    del argv
    logging.set_verbosity(logging.ERROR)  # Fresh models retrace by design: no warnings.
    print(f"First epoch minus a steady one, {FLAGS.steps} steps an epoch, medians of "
          f"{FLAGS.rounds} alternating rounds\n")  # fmt: skip
    print("| model | optimizer | first-epoch overhead (s) [min-max] | step traced |")
    print("|---|---|---|---|")
    for name, batch, hidden, latent, activation in CASES:
        results = {way: [] for way in WAYS}
        traces = {}
        for r in range(FLAGS.rounds):
            ways = list(WAYS) if r % 2 == 0 else list(WAYS)[::-1]
            for way in ways:
                overhead, traced = first_epoch_overhead(
                    batch, hidden, latent, activation, WAYS[way], FLAGS.steps
                )
                results[way].append(overhead)
                traces[way] = traced
        for way, values in results.items():
            print(
                f"| {name} | {way} | {statistics.median(values):.2f} "
                f"[{min(values):.2f}-{max(values):.2f}] | {traces[way]}x |"
            )
    return 0


if __name__ == "__main__":
    app.run(main)
