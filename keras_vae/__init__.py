"""keras_vae: variational autoencoders (Kingma & Welling 2013) in TensorFlow and Keras 3.

Importing the package is cheap; TensorFlow loads on first use of a name that needs it:

    from keras_vae import VAE, Config, train_and_evaluate
"""

import importlib

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
    "load_checkpoint": "keras_vae.checkpoints",
    "load_splits": "keras_vae.data",
    "KerasVAEError": "keras_vae.errors",
}

__all__ = [*sorted(_EXPORTS), "__version__"]


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'keras_vae' has no attribute {name!r}")
