"""The layout of a model directory, writing into it without ever leaving half a file, and
reading it back (its config, a SavedModel's run record, its `.keras` checkpoints).

config.json      the resolved Config and the data source actually used
nll_curve.json   the test NLL every --curve_every_epochs epochs, when asked for
metrics.json     final train / validation / test ELBO, reconstruction and KL; written
                 last, so a run without it is unfinished
checkpoints/     latest.keras and best.keras (lowest validation loss)
backup/          the training state of the last completed epoch, while the run is
                 unfinished (see backup.py); a rerun of the same command resumes from it
saved_model/     TF SavedModel with the serving signatures (see export.py); its
                 assets.extra/keras_vae_run.json is config.json again, so the
                 SavedModel alone says what it was trained on
logs/            TensorBoard event files (train/, validation/, images/) and projector/
figures/         PNG figures

Checkpoints load in Keras' safe mode (`load_checkpoint`): a `.keras` file is a zip of
a JSON config and weights, and safe mode refuses configs that would deserialize Python
code (a Lambda layer's pickled bytecode), so a checkpoint from elsewhere cannot run
code when it is loaded. Nothing in keras_vae unpickles; resume state is HDF5 weights
and JSON (backup.py). About 310 lines: one file per run's layout, read and written.
"""

import json
import os
import shutil
import tempfile
import zipfile

from keras_vae import config as config_lib
from keras_vae.errors import ConfigError, ModelDirError, first_line

CONFIG = "config.json"
METRICS = "metrics.json"
CURVE = "nll_curve.json"
CHECKPOINTS = "checkpoints"
SAVED_MODEL = "saved_model"
LOGS = "logs"
FIGURES = "figures"
BACKUP = "backup"
RUN_RECORD_FOLDER = "assets.extra"
SAVED_MODEL_RECORD = os.path.join(RUN_RECORD_FOLDER, "keras_vae_run.json")
# Settings that change what a run prints, not what it computes: a resumed run may differ.
_DISPLAY_ONLY = {"verbose"}


def check_writable(path: str) -> None:
    """Raises ModelDirError unless `path` can become a new model directory.

    It must be absent or an empty directory (so that no earlier run is overwritten),
    and its nearest existing ancestor must be writable.
    """
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise ModelDirError(f"model_dir {path} exists and is not a directory")
        if os.listdir(path):
            what = "a keras_vae run" if os.path.exists(os.path.join(path, CONFIG)) else "files"
            raise ModelDirError(
                f"model_dir {path} already holds {what}; "
                "choose a new or empty model_dir so nothing is overwritten"
            )
        existing = path
    else:
        existing = os.path.dirname(os.path.abspath(path))
        while not os.path.exists(existing):
            existing = os.path.dirname(existing)
        if not os.path.isdir(existing):
            raise ModelDirError(
                f"model_dir {path} cannot be created: {existing} is not a directory"
            )
    # A real write, not os.access: that misses read-only mounts' quirks and ACLs.
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        raise ModelDirError(
            f"model_dir {path} is not writable ({existing}: {e.strerror})"
        ) from None


def create(path: str) -> None:
    """Creates the directory and its sub-directories, after `check_writable`."""
    check_writable(path)
    try:
        for sub in ("", CHECKPOINTS, LOGS, FIGURES):
            os.makedirs(os.path.join(path, sub), exist_ok=True)
    except OSError as e:
        raise ModelDirError(f"cannot create model_dir {path}: {e.strerror}") from None


def write_json(path: str, obj) -> None:
    """Writes JSON atomically: to a temporary file in the same folder, then renamed."""
    write_atomically(path, lambda f: (json.dump(obj, f, indent=2, sort_keys=False), f.write("\n")))


def write_atomically(path: str, write) -> None:
    """Calls write(f) on a temporary text file in `path`'s folder, then renames it to
    `path`: a reader never sees half a file, and a failure leaves nothing behind."""
    folder = os.path.dirname(os.path.abspath(path))
    suffix = os.path.splitext(path)[1]
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=suffix)
    try:
        # mkstemp makes the file 0600 whatever the umask; a file of a run should be as
        # readable as the run's other files.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", newline="") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _umask() -> int:
    # The only way to read the umask is to set it; put it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def replace_tree(write, path: str) -> None:
    """Calls write(tmp_path) for a directory, then moves it to `path` in one rename.

    A reader sees the old directory or the complete new one, never a partial one.
    """
    tmp = path + ".tmp"
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    write(tmp)
    old = path + ".old"
    if os.path.exists(path):
        os.replace(path, old)
    os.replace(tmp, path)
    if os.path.exists(old):
        shutil.rmtree(old)


def _first_difference(old: dict, new: dict, prefix: str = "") -> str | None:
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found = _first_difference(a, b, f"{prefix}{key}.")
            if found:
                return found
        elif key not in _DISPLAY_ONLY and (list(a) if isinstance(a, tuple) else a) != (
            list(b) if isinstance(b, tuple) else b
        ):
            return f"{prefix}{key}: {a!r} there, {b!r} now"
    return None


def _with_defaults(record: dict) -> dict:
    """A config record with the options it predates at their defaults, so a run written
    before an option existed resumes when the option is left at its default."""
    try:
        return config_lib.Config.from_dict(record).to_dict()
    except (TypeError, KeyError, ValueError, ConfigError):
        return record  # Compared as it is: the difference is then named.


def check_run(path: str, config: dict) -> bool:
    """Raises ModelDirError unless `path` can take the run `config` (Config.to_dict()).

    Writes nothing. A new or empty directory is fine (returns False); so is one holding
    an unfinished keras_vae run (no metrics.json) with the same settings, which is then
    resumed (returns True). Refused: a finished run, a run with other settings, files
    that are not a run, a place that cannot be written.
    """
    record = os.path.join(path, CONFIG)
    if not os.path.isfile(record):
        check_writable(path)
        return False
    if os.path.exists(os.path.join(path, METRICS)):
        raise ModelDirError(
            f"model_dir {path} already holds a finished keras_vae run; "
            "choose a new or empty model_dir so nothing is overwritten"
        )
    try:
        previous = read_json(record)
    except (OSError, ValueError) as e:
        raise ModelDirError(f"model_dir {path} has an unreadable {CONFIG}: {e}") from None
    sections = ("model", "data", "train")
    if not isinstance(previous, dict) or not all(
        isinstance(previous.get(k), dict) for k in sections
    ):
        raise ModelDirError(
            f"model_dir {path} holds a {CONFIG} not written by keras_vae; "
            "choose a new or empty model_dir so nothing is overwritten"
        )
    difference = _first_difference(
        {k: _with_defaults(previous).get(k) for k in sections}, {k: config[k] for k in sections}
    )
    if difference:
        raise ModelDirError(
            f"model_dir {path} holds an unfinished run with other settings ({difference}); "
            "rerun its own command to resume it, or choose a new model_dir"
        )
    return True


def open_run(path: str, config: dict) -> bool:
    """`check_run`, then creates what is missing of the directory; True if it resumes."""
    resuming = check_run(path, config)
    if not resuming:
        create(path)
        return False
    try:
        for sub in (CHECKPOINTS, LOGS, FIGURES):
            os.makedirs(os.path.join(path, sub), exist_ok=True)
    except OSError as e:
        raise ModelDirError(f"cannot write to model_dir {path}: {e.strerror}") from None
    return True


def read_json(path: str):
    with open(path) as f:
        return json.load(f)


def load_run_config(model_dir: str) -> tuple[config_lib.Config, dict]:
    """The Config in model_dir/config.json and the record of its data source.

    Raises ModelDirError with one line if the file is missing, truncated or not a
    keras_vae config (a half-written or hand-edited run).
    """
    path = os.path.join(model_dir, CONFIG)
    return _parse_record(_read_record(path), path)


def load_saved_model_record(saved_model: str) -> tuple[config_lib.Config, dict] | None:
    """The run record a SavedModel carries (see export.py), or None if it has none.

    None for SavedModels exported by an older keras_vae, or from a model built in
    Python rather than by a training run: they do not say what they were trained on.
    """
    path = os.path.join(saved_model, SAVED_MODEL_RECORD)
    if not os.path.isfile(path):
        return None
    raw = _read_record(path)
    if not isinstance(raw, dict) or not all(
        isinstance(raw.get(k), dict) for k in ("data", "train")
    ):
        return None
    return _parse_record(raw, path)


def _read_record(path: str):
    try:
        return read_json(path)
    except OSError as e:
        raise ModelDirError(f"cannot read {path}: {e.strerror}") from None
    except ValueError as e:  # json's errors
        raise ModelDirError(
            f"{path} is not a readable keras_vae config ({type(e).__name__}: {e})"
        ) from None


def _parse_record(raw, path: str) -> tuple[config_lib.Config, dict]:
    """(Config, data source) from a run record read from `path` (named in errors)."""
    try:
        return config_lib.Config.from_dict(raw), dict(raw.get("data_source") or {})
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        # A wrong or missing field, or a value a Config refuses.
        raise ModelDirError(
            f"{path} is not a readable keras_vae config ({type(e).__name__}: {e})"
        ) from None


def resolve_model_source(
    model_dir: str | None, saved_model: str | None, dataset: str | None, binarize: str | None
) -> tuple[str, str | None]:
    """Checks the model a command reads: a keras_vae run or a bare SavedModel.

    Returns (the SavedModel's path, binarize). A run knows its data, and so does a
    SavedModel that carries its run's record (export.py); an older bare SavedModel
    needs `dataset`, and `binarize` (default dynamic) says how the model was trained.
    Raises ConfigError or ModelDirError with one line.
    """
    if dataset is not None:
        config_lib.dataset_kind(dataset)  # An unknown name is the first thing to report.
    if (model_dir is None) == (saved_model is None):
        raise ConfigError("give exactly one of model_dir (a keras_vae run) or saved_model")
    if model_dir is not None:
        if not os.path.isdir(model_dir):
            raise ModelDirError(f"model_dir {model_dir} does not exist")
        if not os.path.exists(os.path.join(model_dir, CONFIG)):
            raise ModelDirError(f"model_dir {model_dir} is not a keras_vae run (no config.json)")
        load_run_config(model_dir)
        path = os.path.join(model_dir, SAVED_MODEL)
        if not os.path.isdir(path):
            raise ModelDirError(f"model_dir {model_dir} has no saved_model/ (unfinished run?)")
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise ModelDirError(
                f"model_dir {model_dir} has a saved_model/ without saved_model.pb "
                "(unfinished or damaged run?)"
            )
        return path, binarize
    if not os.path.isdir(saved_model):
        raise ModelDirError(f"saved_model {saved_model} does not exist")
    if not os.path.exists(os.path.join(saved_model, "saved_model.pb")):
        raise ModelDirError(f"saved_model {saved_model} is not a TF SavedModel directory")
    if binarize is not None and binarize not in config_lib.BINARIZATIONS[1:]:
        raise ConfigError(f"unknown binarize {binarize!r}: expected none, static or dynamic")
    if load_saved_model_record(saved_model) is not None:
        return saved_model, binarize  # None: as the run was trained.
    if dataset is None:
        raise ConfigError(
            f"saved_model {saved_model} does not record the data it was trained on "
            "(exported by an older keras_vae); give --dataset"
        )
    return saved_model, binarize or "dynamic"


def load_checkpoint(path: str):
    """The VAE saved at `path` (keras_vae.load_checkpoint("runs/vae/checkpoints/best.keras"));
    raises ModelDirError with one line if it cannot be read."""
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
