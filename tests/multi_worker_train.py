"""One worker of tests/test_distribution.py's multi-worker test.

    TF_CONFIG=... python tests/multi_worker_train.py MODEL_DIR IDX_FOLDER WEIGHTS.npz

trains a tiny config with distribution=multi_worker and saves the worker's final
weights, so the test can compare the workers' copies.
"""

import os
import sys

import keras
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import tiny_config  # noqa: E402

from keras_vae import training  # noqa: E402


class SaveWeights(keras.callbacks.Callback):
    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_train_end(self, logs=None):
        np.savez(self.path, *self.model.get_weights())


def main(model_dir, folder, weights_path):
    config = tiny_config(model_dir, f"idx:{folder}", epochs=2, distribution="multi_worker")
    metrics = training.train_and_evaluate(config, callbacks=(SaveWeights(weights_path),))
    print(f"test ELBO {metrics['test']['elbo']:.4f}")


if __name__ == "__main__":
    main(*sys.argv[1:])
