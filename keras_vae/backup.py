"""The training state saved after every epoch, from which a killed run resumes.

    backup/epoch-0003/state.weights.h5   weights and optimizer state (Keras' h5 format)
    backup/epoch-0003/state.json         epoch, random-number states, callbacks' state

What `model.save_weights` leaves out is in state.json: the states of the model's seed
generators (the noise of z and of dynamic binarization) and what the callbacks carry
from epoch to epoch (the best validation loss so far, epoch times). The epoch's data
order is a function of (seed, epoch) (keras_vae/pipeline.py), so with these a resumed
run takes exactly the steps an uninterrupted one would have taken.

Each backup is written into a temporary folder that is then renamed
(`model_dir.replace_tree`), so an epoch-NNNN folder is always complete; a kill
mid-write leaves at worst an `epoch-NNNN.tmp` folder that is ignored and replaced.
Only the newest backup is kept.
"""

import json
import os
import re
import shutil

import numpy as np

from keras_vae import model_dir
from keras_vae.errors import ModelDirError, first_line

WEIGHTS = "state.weights.h5"
STATE = "state.json"
_EPOCH_FOLDER = re.compile(r"epoch-(\d{4,})")


def _seed_generators(model) -> dict:
    return {"sampling": model.sampling.seed_generator, "binarization": model.binarization_seed}


def save(model, folder: str, epoch: int, callback_state: dict) -> str:
    """Saves the state after `epoch` epochs (counted from 1) into `folder`; returns its path."""
    os.makedirs(folder, exist_ok=True)
    state = {
        "epoch": epoch,
        "seed_generators": {
            key: np.asarray(generator.state.value).tolist()
            for key, generator in _seed_generators(model).items()
        },
        "callbacks": callback_state,
    }

    def write(tmp):
        os.makedirs(tmp)
        model.save_weights(os.path.join(tmp, WEIGHTS))
        model_dir.write_json(os.path.join(tmp, STATE), state)

    final = os.path.join(folder, f"epoch-{epoch:04d}")
    model_dir.replace_tree(write, final)
    for older in _epoch_folders(folder)[:-1]:
        shutil.rmtree(os.path.join(folder, older))
    return final


def _epoch_folders(folder: str) -> list[str]:
    """The complete backups in `folder`, oldest first."""
    if not os.path.isdir(folder):
        return []
    names = [n for n in os.listdir(folder) if _EPOCH_FOLDER.fullmatch(n)]
    return sorted(names, key=lambda n: int(_EPOCH_FOLDER.fullmatch(n).group(1)))


def newest(folder: str) -> str | None:
    """The path of the newest complete backup in `folder` (never one being written), or None."""
    names = _epoch_folders(folder)
    return os.path.join(folder, names[-1]) if names else None


def latest_epoch(folder: str) -> int:
    """The number of epochs the newest backup in `folder` completed; 0 if there is none."""
    names = _epoch_folders(folder)
    return int(_EPOCH_FOLDER.fullmatch(names[-1]).group(1)) if names else 0


def restore(model, folder: str) -> dict | None:
    """Loads the newest backup in `folder` into a compiled `model`.

    Returns its state (epoch, callbacks' state), or None if there is no backup. Raises
    ModelDirError if the backup does not fit the model.
    """
    names = _epoch_folders(folder)
    if not names:
        return None
    path = os.path.join(folder, names[-1])
    try:
        with open(os.path.join(path, STATE)) as f:
            state = json.load(f)
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(os.path.join(path, WEIGHTS))
        for key, generator in _seed_generators(model).items():
            generator.state.assign(np.asarray(state["seed_generators"][key], np.int64))
    except (OSError, ValueError, KeyError) as e:
        raise ModelDirError(f"cannot resume from {path}: {first_line(e)}") from None
    return state


def save_from_saved_model(
    model, saved_model: str, folder: str, epoch: int, callback_state: dict
) -> str:
    """A backup after `epoch` epochs from the weights of a SavedModel of `model`'s config.

    For a run whose directory is lost while an exported SavedModel of it survives: the
    weights and the seed generators' states come back exactly, the optimizer starts
    afresh (Adam's moments at zero, its step count at 0), so the resumed run is not the
    uninterrupted one. export.py tracks `model.variables` in order, and the SavedModel
    serves them back as its `variables` list; a model of another config has other
    shapes, which is refused with ModelDirError. Returns the backup's path.
    """
    import tensorflow as tf

    try:
        stored = list(tf.saved_model.load(saved_model).variables)
    except (OSError, ValueError, AttributeError, tf.errors.OpError) as e:
        raise ModelDirError(f"cannot read the weights of {saved_model}: {first_line(e)}") from None
    targets = model.variables
    shapes = [tuple(v.shape) for v in stored], [tuple(v.shape) for v in targets]
    if shapes[0] != shapes[1]:
        raise ModelDirError(
            f"{saved_model} holds {len(stored)} variables of other shapes than the model's "
            f"{len(targets)}: it is not a SavedModel of this config"
        )
    for target, value in zip(targets, stored):
        target.assign(value)
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    return save(model, folder, epoch, callback_state)
