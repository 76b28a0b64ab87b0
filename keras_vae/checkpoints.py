"""Reading a run's `.keras` checkpoints (checkpoints/latest.keras, checkpoints/best.keras).

    model = keras_vae.load_checkpoint("runs/vae/checkpoints/best.keras")

Loading is in Keras' safe mode: a `.keras` file is a zip of a JSON config and weights,
and safe mode refuses configs that would deserialize Python code (a Lambda layer's
pickled bytecode), so a checkpoint from elsewhere cannot run code when it is loaded.
Nothing in keras_vae unpickles; resume state is HDF5 weights and JSON (backup.py).
"""

import os
import zipfile

from keras_vae.errors import ModelDirError, first_line


def load_checkpoint(path: str):
    """The VAE saved at `path`; raises ModelDirError with one line if it cannot be read."""
    import keras

    import keras_vae.model  # noqa: F401  (registers the classes the file names)
    import keras_vae.optimizers  # noqa: F401

    if not os.path.isfile(path):
        raise ModelDirError(f"checkpoint {path} does not exist")
    if not zipfile.is_zipfile(path):
        raise ModelDirError(f"checkpoint {path} is not a .keras file (not a zip archive)")
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as e:  # Keras raises ValueError, TypeError, KeyError, OSError...
        raise ModelDirError(f"cannot load checkpoint {path}: {first_line(e)}") from None
