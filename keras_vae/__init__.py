"""keras_vae: variational autoencoders (Kingma & Welling 2013) in TensorFlow and Keras 3.

    import keras, keras_vae
    vae = keras.saving.load_model("runs/vae-.../checkpoints/best.keras")
    from keras_vae import VAE, Config, train_and_evaluate

Importing the package registers its Keras classes (the model, its layers and the
fused Adam optimizer), so `keras.saving.load_model` can rebuild any `.keras` file
keras_vae wrote. Only when the package is imported to run one of its commands
(`python -m keras_vae.train`, `keras-vae-train`, ...) does it wait: those check their
flags before paying for TensorFlow's import, and the other names load on first use.
"""

import importlib
import os
import sys

__version__ = "0.1.0"

# Public name -> module that defines it. Resolved lazily so that `python -m
# keras_vae.train --bad_flag` can answer before TensorFlow's ~7 s import.
_EXPORTS = {
    "VAE": "keras_vae.model",
    "Sampling": "keras_vae.model",
    "Encoder": "keras_vae.model",
    "Decoder": "keras_vae.model",
    "Config": "keras_vae.config",
    "ModelConfig": "keras_vae.config",
    "DataConfig": "keras_vae.config",
    "TrainConfig": "keras_vae.config",
    "train_and_evaluate": "keras_vae.training",
    "export_saved_model": "keras_vae.export",
    "load_checkpoint": "keras_vae.model_dir",
    "load_splits": "keras_vae.data",
    "KerasVAEError": "keras_vae.errors",
}

__all__ = [*sorted(_EXPORTS), "__version__"]


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'keras_vae' has no attribute {name!r}")


def _imported_to_run_a_command() -> bool:
    # While `python -m keras_vae.X` imports the package, sys.argv[0] is "-m" (it becomes
    # the module's path afterwards); console scripts are named keras-vae-*.
    first = sys.argv[0] if sys.argv else ""
    return first == "-m" or os.path.basename(first).startswith("keras-vae-")


if not _imported_to_run_a_command():
    # Registers VAE, Encoder, Decoder, Sampling and FusedAdam with Keras.
    importlib.import_module("keras_vae.model")
    importlib.import_module("keras_vae.optimizers")
