"""The paper rows that keras_vae reproduces: one small config each, one command each.

    python experiments/papers.py --list
    python experiments/papers.py --row=burda_vae_k1 --runs=RUNS            # prints the command
    python experiments/papers.py --row=burda_vae_k1 --runs=RUNS --run      # runs it
    python experiments/papers.py --row=burda_vae_k1 --runs=RUNS --script   # RUNS/ROW.sh runs it
    python experiments/papers.py --row=burda_vae_k1 --runs=RUNS --collect  # into results/papers
    python experiments/papers.py --row=burda_vae_k1 --runs=RUNS --restart  # a lost run, again
    python experiments/papers.py --table                                   # the results table

A row is the paper's model, data, objective and optimizer as `python -m keras_vae.train`
flags; its run lives in RUNS/ROW and resumes after its last finished epoch when the
same command is run again. `--script` writes that command, run from this checkout, to
RUNS/ROW.sh for `nohup`; written from a snapshot of the repository (`git archive`), it
keeps its run out of reach of later edits to the repository.
`--collect` copies what a run has so far into results/papers/ROW: its learning curve
(nll_curve.json), its config and progress (epochs done, training seconds), and its
SavedModel (exported from the latest checkpoint while the run is unfinished), which

    python -m keras_vae.evaluate --saved_model=results/papers/ROW/saved_model \
        --num_importance_samples=5000 [--data_dir=... for binarized_mnist]

scores on the paper's test set, writing results/papers/ROW/eval-test-k5000.json;
`--table` reads those files back. A run whose folder was lost (the machine that held it
was replaced) starts again from what was collected with `--restart`, then `--run`: the
collected weights, a fresh optimizer, and the earlier epochs' time and curve kept.
"""

import dataclasses
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys

from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "results", "papers")
STATIC_MNIST = "../shared/data/binarized_mnist"
# In a run restarted from results/papers (restart()): what came before the restart.
RESTARTED = "restarted.json"


@dataclasses.dataclass(frozen=True)
class Row:
    """One number of one paper, and the flags that reproduce its setting."""

    paper: str
    what: str
    reference: float | None  # The paper's test NLL in nats; None where it is a figure.
    paper_epochs: int
    paper_batch: int
    flags: dict
    pythae: str = "-"  # pythae's reproduction, where it has one (with its source).


# Burda et al. 2015, section 5 and Table 1: 784-200-200-50, tanh, Bernoulli, Adam
# (0.9, 0.999, 1e-4), batch 20, 3^i epochs at 1e-3 * 10^(-i/7), i = 0..7. Their code
# (yburda/iwae, datasets.py) starts the decoder's output bias at the logit of the
# training pixel means: --output_bias=data_mean.
_BURDA = {
    "output_bias": "data_mean",
    "latent_dims": 50,
    "hidden_units": "200,200",
    "activation": "tanh",
    "likelihood": "bernoulli",
    "batch_size": 20,
    "learning_rate": 1e-3,
    "learning_rate_schedule": "burda",
    "adam_epsilon": 1e-4,
    "epochs": 3280,
    "curve_every_epochs": 40,
    "curve_examples": 2000,
    "seed": 0,
    "verbose": 0,
}
# The official 60,000 training digits, of which 1,000 are held out to pick nothing
# (the paper trains on all of them; validation here only reports).
_DYNAMIC = {"dataset": "mnist", "binarize": "dynamic", "validation_fraction": 0.0166667}
_STATIC = {"dataset": "binarized_mnist", "data_dir": STATIC_MNIST, "binarize": "none"}
_PYTHAE = "86.82 (clementchadebec/benchmark_VAE, README: IWAE n_samples=50, 5000 IS)"


# Kingma & Welling 2013, section 5: one hidden layer (500 units for MNIST, 200 for Frey
# Face), tanh, minibatches of 100, one sample of z, Adagrad with a global step size
# from {0.01, 0.02, 0.1}; the lower bound plotted against training samples evaluated,
# whose axes run to 10^8 for both data sets: MNIST to 10^8 here (1,667 epochs of the
# paper's 60,000; 1,695 of the 59,000 trained on here), Frey Face to 10^7 (5,949 epochs
# of the 1,681 faces trained on here, of 59,488 to 10^8; the paper does not give its
# split), a tenth of the axis for a tenth of the cost. The test curve is the k = 1
# bound every 10 epochs.
# Departures: MNIST binarized dynamically (the paper does not say how); no weight decay.
_FREY = {
    "dataset": "frey_face",
    "data_dir": "../shared/data/frey_face",
    "gaussian_variance": "learned",
    "validation_fraction": 0.05,
}


def _kingma_welling(data, z, hidden, likelihood, epochs, learning_rate) -> dict:
    return {
        "latent_dims": z,
        "hidden_units": str(hidden),
        "activation": "tanh",
        "likelihood": likelihood,
        "batch_size": 100,
        "optimizer": "adagrad",
        "learning_rate": learning_rate,
        "epochs": epochs,
        "curve_every_epochs": 10,
        "curve_importance_samples": 1,
        "seed": 0,
        "verbose": 0,
        **data,
        "objective": "elbo",
        "num_samples": 1,
    }


def _tomczak(prior: str) -> dict:
    """Tomczak & Welling 2018's code: two hidden layers of 300 units, z = 40, Adam at
    5e-4, batch 100, KL warm-up over 100 epochs, up to 2,000 epochs with early stopping
    after 50 without improvement, 500 pseudo-inputs. Departure: plain ReLU layers where
    their MLP uses gated dense layers."""
    vamp = {"prior": "vamp", "num_pseudo_inputs": 500} if prior == "vamp" else {}
    return {
        **_STATIC,
        "latent_dims": 40,
        "hidden_units": "300,300",
        "activation": "relu",
        "likelihood": "bernoulli",
        "batch_size": 100,
        "learning_rate": 5e-4,
        "kl_warmup_epochs": 100,
        "epochs": 2000,
        "early_stopping_epochs": 50,
        "curve_every_epochs": 50,
        "curve_examples": 2000,
        "seed": 0,
        "verbose": 0,
        **vamp,
        "objective": "elbo",
        "num_samples": 1,
    }


def _burda(data: dict, objective: str, k: int, **extra) -> dict:
    return {**_BURDA, **data, "objective": objective, "num_samples": k, **extra}


# Started before --output_bias existed, from a zero bias (a departure from the paper's
# code; results/papers/README.md says what it cost).
_ZERO_BIAS = {"output_bias": "zero"}

ROWS = {
    "burda_vae_k1": Row(
        "Burda et al. 2015, Table 1", "VAE k=1, dynamic MNIST", 86.76, 3280, 20,
        _burda(_DYNAMIC, "elbo", 1),
    ),
    # The same row's first run, from a zero bias, kept beside it: it finished the paper's
    # schedule before the row started again from the paper's initialization.
    "burda_vae_k1_zero_bias": Row(
        "Burda et al. 2015, Table 1", "VAE k=1, dynamic MNIST, zero output bias", 86.76,
        3280, 20, _burda(_DYNAMIC, "elbo", 1, **_ZERO_BIAS),
    ),
    "burda_iwae_k5": Row(
        "Burda et al. 2015, Table 1", "IWAE k=5, dynamic MNIST", 85.54, 3280, 20,
        _burda(_DYNAMIC, "iwae", 5),
    ),
    "burda_iwae_k50": Row(
        "Burda et al. 2015, Table 1", "IWAE k=50, dynamic MNIST", 84.78, 3280, 20,
        _burda(_DYNAMIC, "iwae", 50),
    ),
    "static_vae_k1": Row(
        "Burda et al. 2015, appendix", "VAE k=1, static MNIST", 88.71, 3280, 20,
        _burda(_STATIC, "elbo", 1, **_ZERO_BIAS),
    ),
    "static_iwae_k5": Row(
        "Burda et al. 2015, appendix", "IWAE k=5, static MNIST", 87.63, 3280, 20,
        _burda(_STATIC, "iwae", 5),
    ),
    "static_iwae_k50": Row(
        "Burda et al. 2015, appendix", "IWAE k=50, static MNIST", 87.10, 3280, 20,
        _burda(_STATIC, "iwae", 50), pythae=_PYTHAE,
    ),
    # Our own recipe: the paper's VAE, the same data and evaluation, trained for less
    # wall time: batches of 100 (more examples/s on a CPU, a fifth of the steps), twice
    # the learning rate falling to 0 on a cosine over 1,000 epochs, and a KL warm-up (and,
    # as every row of the paper's setting, the decoder started at the pixel means).
    "recipe_vae_b100": Row(
        "Burda et al. 2015, Table 1 (the VAE's number, our schedule)",
        "VAE k=1, dynamic MNIST, batch 100, cosine", 86.76, 3280, 20,
        _burda(_DYNAMIC, "elbo", 1, batch_size=100, learning_rate=2e-3,
               learning_rate_schedule="cosine", epochs=1000, kl_warmup_epochs=20,
               curve_every_epochs=20),
    ),
    # Burda et al. 2015, Table 1, two stochastic layers: 784-100-100-(z1 100)-50-50-(z2 50).
    **{f"burda2_{name}": Row(
        "Burda et al. 2015, Table 1", f"{what}, 2 layers, dynamic MNIST", reference, 3280, 20,
        _burda(_DYNAMIC, objective, k, latent_dims=100, hidden_units="100,100",
               top_latent_dims=50, top_hidden_units="50,50"),
    ) for name, what, reference, objective, k in (
        ("vae_k1", "VAE k=1", 85.33, "elbo", 1),
        ("iwae_k5", "IWAE k=5", 83.89, "iwae", 5),
        ("iwae_k50", "IWAE k=50", 82.90, "iwae", 50),
    )},
    # Tomczak & Welling 2018, Table 2 (static MNIST, z = 40): the VampPrior against the
    # standard prior in the same setup.
    "tomczak_vamp": Row(
        "Tomczak & Welling 2018, Table 2", "VampPrior, static MNIST", 85.57, 2000, 100,
        _tomczak("vamp"), pythae="85.79 (clementchadebec/benchmark_VAE, README: VAMP K=500)",
    ),
    "tomczak_standard": Row(
        "Tomczak & Welling 2018, Table 2", "standard prior, static MNIST", 88.56, 2000, 100,
        _tomczak("standard"),
    ),
    **{f"kw_mnist_z{z}": Row(
        "Kingma & Welling 2013, Fig. 2", f"AEVB, MNIST, {z}-D latent", None, 1667, 100,
        _kingma_welling(_DYNAMIC, z, 500, "bernoulli", 1695, 0.02),
    ) for z in (3, 5, 10, 20, 200)},
    **{f"kw_frey_z{z}": Row(
        "Kingma & Welling 2013, Fig. 2", f"AEVB, Frey Face, {z}-D latent", None, 59488, 100,
        _kingma_welling(_FREY, z, 200, "gaussian", 5949, 0.01),
    ) for z in (2, 5, 10, 20)},
}  # fmt: skip

flags.DEFINE_bool("list", False, "List the rows.")
flags.DEFINE_string("row", None, "A row of ROWS.")
flags.DEFINE_string("runs", None, "The folder that holds the rows' runs (RUNS/ROW).")
flags.DEFINE_bool("run", False, "Run the row's command (resuming a started run).")
flags.DEFINE_bool(
    "script",
    False,
    "Write RUNS/ROW.sh, which runs the row's command from this checkout (run it again to resume).",
)
flags.DEFINE_integer(
    "threads",
    None,
    "With --script: TensorFlow threads per op in the run, set in its environment (the "
    "run's record and its resumption do not change); default: TensorFlow's choice.",
    lower_bound=1,
)
flags.DEFINE_bool("collect", False, "Copy the row's run so far into results/papers/ROW.")
flags.DEFINE_bool(
    "restart",
    False,
    "Start the row's lost run again from results/papers/ROW (its SavedModel's weights, a "
    "fresh optimizer); then --run resumes it.",
)
flags.DEFINE_bool("table", False, "Print the results table from results/papers.")
flags.DEFINE_bool(
    "cost", False, "Time each row's training step; project its epoch and its schedule."
)
flags.DEFINE_integer("cost_steps", 300, "Training steps per row and round of --cost.")
flags.DEFINE_integer("cost_rounds", 3, "Alternating rounds of --cost (the median is reported).")
FLAGS = flags.FLAGS


def command(name: str, runs: str) -> list[str]:
    """The `python -m keras_vae.train` command of row `name`, its run in runs/name."""
    row_flags = {**ROWS[name].flags, "model_dir": os.path.join(runs, name)}
    return [sys.executable, "-m", "keras_vae.train"] + [f"--{k}={v}" for k, v in row_flags.items()]


def script(name: str, runs: str, threads: int | None = None) -> str:
    """Writes runs/name.sh, which runs row `name`'s command from this checkout; its path.

    An existing script with another text is refused and kept: it may be what a run in
    progress was started with.
    """
    from keras_vae.errors import KerasVAEError

    runs = os.path.abspath(runs)  # The script changes directory before it runs.
    row = ROWS[name]
    lines = [
        "#!/bin/bash",
        f"# {name}: {row.paper}, {row.what}. Written by experiments/papers.py --script;",
        "# run it again to resume the run after its last finished epoch.",
        f"cd {shlex.quote(REPO)}",
    ]
    if threads:
        lines.append(f"export TF_NUM_INTRAOP_THREADS={threads} TF_NUM_INTEROP_THREADS={threads}")
    lines.append("exec " + shlex.join(command(name, runs)))
    text = "\n".join(lines) + "\n"
    path = os.path.join(runs, f"{name}.sh")
    try:
        if os.path.exists(path):
            with open(path) as f:
                if f.read() != text:
                    raise KerasVAEError(
                        f"{path} exists with another text (a run may have started from it); "
                        "remove it to write it again"
                    )
            return path
        os.makedirs(runs, exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o755)
    except OSError as e:
        raise KerasVAEError(f"cannot write {path}: {e.strerror or e}") from e
    return path


def _progress(run: str) -> dict:
    """Epochs done and training seconds of a run, finished or not."""
    metrics = os.path.join(run, "metrics.json")
    if os.path.isfile(metrics):
        with open(metrics) as f:
            done = json.load(f)
        seconds = done.get("epoch_seconds", [])
        return {"finished": True, "epochs": len(seconds), "epoch_seconds": seconds}
    from keras_vae import backup
    from keras_vae.errors import ModelDirError

    # A run in progress may be writing its next backup (epoch-NNNN.tmp) meanwhile.
    newest = backup.newest(os.path.join(run, "backup"))
    if newest is None:
        raise ModelDirError(f"{run} has not finished an epoch yet: nothing to collect")
    with open(os.path.join(newest, "state.json")) as f:
        state = json.load(f)
    seconds = state["callbacks"].get("epoch_seconds", [])
    return {"finished": False, "epochs": state["epoch"], "epoch_seconds": seconds}


def train_curve(run: str) -> list[dict]:
    """The training ELBO of every epoch of a run, from its TensorBoard logs:
    [{"epoch", "elbo"}], by epoch. An epoch logged twice (a resumed run redoes an
    unfinished one) keeps its last value."""
    import tensorflow as tf
    from tensorboard.backend.event_processing import event_accumulator

    logs = os.path.join(run, "logs", "train")
    if not os.path.isdir(logs):
        return []
    by_epoch = {}
    for events in sorted(os.listdir(logs)):  # Named by start time: later runs last.
        accumulator = event_accumulator.EventAccumulator(
            os.path.join(logs, events), size_guidance={event_accumulator.TENSORS: 0}
        )
        accumulator.Reload()
        if "epoch_elbo" not in accumulator.Tags()["tensors"]:
            continue
        for event in accumulator.Tensors("epoch_elbo"):
            # Keras counts epochs from 0 in its logs; runs print them from 1.
            by_epoch[event.step + 1] = float(tf.make_ndarray(event.tensor_proto))
    return [{"epoch": epoch, "elbo": elbo} for epoch, elbo in sorted(by_epoch.items())]


def collect(name: str, runs: str, results: str = RESULTS) -> str:
    """Copies row `name`'s run so far into results/name; returns that folder."""
    import keras

    from keras_vae import export, model_dir
    from keras_vae.errors import ModelDirError

    run, out = os.path.join(runs, name), os.path.join(results, name)
    if not os.path.isfile(os.path.join(run, "config.json")):
        raise ModelDirError(f"{run} holds no keras_vae run to collect")
    progress = _progress(run)  # Before anything is written: it refuses a run with no epoch.
    os.makedirs(out, exist_ok=True)
    for file_name in ("config.json", "nll_curve.json"):
        if os.path.isfile(os.path.join(run, file_name)):
            shutil.copyfile(os.path.join(run, file_name), os.path.join(out, file_name))
    seconds = progress.pop("epoch_seconds")
    curve, earlier = train_curve(run), {"training_seconds": 0.0}
    if os.path.isfile(os.path.join(run, RESTARTED)):
        earlier = model_dir.read_json(os.path.join(run, RESTARTED))
        progress["restarts"] = earlier["restarts"]
        if progress["finished"]:  # metrics.json times the epochs since the last restart.
            progress["epochs"] = earlier["restarts"][-1] + len(seconds)
        # The logs of the restarted run begin after its last restart.
        curve = [p for p in earlier["train_curve"] if p["epoch"] <= earlier["restarts"][-1]] + [
            p for p in curve if p["epoch"] > earlier["restarts"][-1]
        ]
    model_dir.write_json(os.path.join(out, "train_curve.json"), curve)
    progress.update(
        training_seconds=round(earlier["training_seconds"] + sum(seconds), 1),
        median_epoch_seconds=round(statistics.median(seconds), 2) if seconds else None,
        command=shlex.join(["python", *command(name, "RUNS")[1:]]),
    )
    record = model_dir.read_json(os.path.join(run, "config.json"))
    model = keras.saving.load_model(os.path.join(run, "checkpoints", "latest.keras"))
    saved_model = os.path.join(out, "saved_model")
    model_dir.replace_tree(lambda tmp: export.export_saved_model(model, tmp, record), saved_model)
    model_dir.write_json(os.path.join(out, "progress.json"), progress)
    for stale in os.listdir(out):  # Reports of an earlier checkpoint no longer apply.
        if stale.startswith("eval-"):
            os.remove(os.path.join(out, stale))
    return out


def _section(config_class, row_flags: dict):
    """The fields of `config_class` that a row's flags set (lists parsed as the flags are)."""
    from keras_vae import options

    values = {}
    for field in dataclasses.fields(config_class):
        if field.name in row_flags:
            value = row_flags[field.name]
            kind, element = options.scalar_type(field.type)
            values[field.name] = (
                options.parse_list(value, field.name, element) if kind is tuple else value
            )
    return config_class(**values)


def _model_config(row_flags: dict):
    """The ModelConfig of a row's flags."""
    from keras_vae import config as config_lib

    return _section(config_lib.ModelConfig, row_flags)


def row_config(name: str, runs: str):
    """The resolved Config that row `name`'s command trains, its run in runs/name."""
    from keras_vae import config as config_lib

    row_flags = ROWS[name].flags
    return config_lib.resolve(
        config_lib.Config(
            model=_model_config(row_flags),
            data=_section(config_lib.DataConfig, row_flags),
            train=_section(config_lib.TrainConfig, row_flags),
            model_dir=os.path.join(runs, name),
        )
    )


def restart(name: str, runs: str, results: str = RESULTS) -> str:
    """Starts row `name`'s run in runs/name again from what results/name holds, for a run
    whose directory was lost: a backup after the collected epoch with the weights of the
    collected SavedModel and a fresh optimizer (keras_vae/backup.py), the learning curve
    so far, and a note (restarted.json) that `collect` adds the earlier epochs' training
    time and curve from. The row's command then resumes it. Returns the run's folder.

    Refused with ModelDirError, before anything is written: a run folder that already
    holds a run or other files, a row with nothing collected, a collected run of other
    settings (the row's flags changed since) or of other data files (the same files in
    another folder are fine: the new run's config names that folder), a finished one,
    and a row trained with Adagrad. A failure while writing (a SavedModel that does not
    fit) removes the new folder.
    """
    from keras_vae import backup, model_dir, training
    from keras_vae import data as data_lib
    from keras_vae.errors import ModelDirError

    run, kept = os.path.join(runs, name), os.path.join(results, name)
    if os.path.exists(os.path.join(run, model_dir.CONFIG)):
        raise ModelDirError(f"{run} already holds a run: resume it with --run")
    if os.path.isdir(run) and os.listdir(run):
        raise ModelDirError(f"{run} holds other files: move them, or choose another --runs")
    needed = ("progress.json", model_dir.CONFIG, "train_curve.json", "saved_model")
    if not all(os.path.exists(os.path.join(kept, n)) for n in needed):
        raise ModelDirError(
            f"{kept} holds no collected run to restart from (it needs {', '.join(needed)})"
        )
    progress = model_dir.read_json(os.path.join(kept, "progress.json"))
    if progress["finished"]:
        raise ModelDirError(f"{kept} holds a finished run: there is nothing to restart")
    config = row_config(name, runs)
    if config.train.optimizer == "adagrad":
        # Adagrad's step is the learning rate over the root of every squared gradient
        # since the start: afresh, its first steps are the size of the very first ones.
        # kw_frey_z2's training bound fell from 837 to -824 nats in the epoch after such
        # a restart (results/papers/README.md).
        raise ModelDirError(
            f"{name} trains with Adagrad, whose accumulated squared gradients set the size "
            "of every later step and are not in a SavedModel: start the row again with --run"
        )
    splits = data_lib.load_splits(config.data, config.train.seed)
    # The collected run must be the one the row's command trains today, its data files
    # perhaps in another folder (another machine, another checkout).
    model_dir.check_run(kept, _at_recorded_folder(config, splits.source, kept))
    record = model_dir.read_json(os.path.join(kept, model_dir.CONFIG))
    record["data"]["data_dir"] = config.data.data_dir
    model_dir.open_run(run, config.to_dict())
    try:
        model_dir.write_json(os.path.join(run, model_dir.CONFIG), record)
        if os.path.isfile(os.path.join(kept, "nll_curve.json")):
            shutil.copyfile(
                os.path.join(kept, "nll_curve.json"), os.path.join(run, "nll_curve.json")
            )
        epoch = progress["epochs"]
        backup.save_from_saved_model(
            training.starting_model(config, splits),
            os.path.join(kept, "saved_model"),
            os.path.join(run, model_dir.BACKUP),
            epoch,
            {"best": None, "best_epoch": -1, "epoch_seconds": []},
        )
        earlier = {
            "restarts": [*progress.get("restarts", []), epoch],
            "training_seconds": progress["training_seconds"],
            "train_curve": model_dir.read_json(os.path.join(kept, "train_curve.json")),
        }
        model_dir.write_json(os.path.join(run, RESTARTED), earlier)
    except BaseException:
        # Half a restart would resume as a fresh run: the folder, new and ours, goes.
        shutil.rmtree(run, ignore_errors=True)
        raise
    return run


def _at_recorded_folder(config, source: dict, kept: str) -> dict:
    """`config` as a dict, with the collected run's data_dir where the row reads the
    same data files from another folder: same names and sha256 as the collected
    SavedModel's record says it trained on. Other files there are refused with
    ModelDirError (the run would resume on other data)."""
    from keras_vae import model_dir
    from keras_vae.errors import ModelDirError

    wanted = config.to_dict()
    run = model_dir.load_saved_model_record(os.path.join(kept, "saved_model"))
    if run is None or "sha256" not in source:
        return wanted  # check_run then compares the folders as they are.
    recorded_folder = run[0].data.data_dir
    if recorded_folder in (None, config.data.data_dir):
        return wanted
    if run[1].get("sha256") != source["sha256"]:
        raise ModelDirError(
            f"{config.data.data_dir} does not hold the files {kept} was trained on (in "
            f"{recorded_folder}): their names or sha256 differ, so the run would resume on "
            "other data"
        )
    wanted["data"]["data_dir"] = recorded_folder
    return wanted


# Images trained on per epoch, and their shape, by data set (the splits of the rows).
_TRAIN_IMAGES = {"mnist": 59_000, "binarized_mnist": 50_000, "frey_face": 1_681}
_IMAGE_SHAPES = {"mnist": (28, 28), "binarized_mnist": (28, 28), "frey_face": (28, 20)}


def cost(steps: int, rounds: int) -> str:
    """Times `steps` training steps of every row's model at its batch size, in
    alternating rounds, on random batches (binary for a Bernoulli, grey levels for a
    Gaussian); returns a table of the median step and the projected epoch and schedule
    (the row's epochs). A ratio to the VAE holds on a busy machine. The steps alone:
    each epoch's validation, curve points and checkpoint come on top, which is most of
    a Frey Face epoch (17 steps)."""
    import time

    import numpy as np

    from keras_vae import config as config_lib
    from keras_vae import training

    rng = np.random.default_rng(0)
    models, batches = {}, {}
    for name, row in ROWS.items():
        train = config_lib.TrainConfig(adam_epsilon=1e-4)
        config = config_lib.Config(model=_model_config(row.flags), train=train)
        shape = _IMAGE_SHAPES[row.flags["dataset"]]
        model = training.build_model(config, shape)
        training.compile_model(model, train, steps=steps)
        models[name] = model
        size = (steps * row.flags["batch_size"], *shape)
        batches[name] = (
            rng.random(size).astype("float32")
            if row.flags["likelihood"] == "gaussian"
            else (rng.random(size) < 0.13).astype("float32")
        )

    def one_pass(name):
        models[name].fit(
            batches[name], batch_size=ROWS[name].flags["batch_size"], epochs=1, verbose=0,
            shuffle=False,
        )  # fmt: skip

    for name in models:  # Warm-up: tracing and the first steps.
        one_pass(name)
    seconds = {name: [] for name in models}
    for _ in range(rounds):
        for name in models:
            start = time.perf_counter()
            one_pass(name)
            seconds[name].append((time.perf_counter() - start) / steps)
    lines = [
        "| row | batch | step (ms) | epoch | to the VAE's epoch | the row's schedule |",
        "|---|---|---|---|---|---|",
    ]

    def epoch_seconds(name):
        row_flags = ROWS[name].flags
        return (
            statistics.median(seconds[name])
            * _TRAIN_IMAGES[row_flags["dataset"]]
            / row_flags["batch_size"]
        )

    base = epoch_seconds("burda_vae_k1")
    for name, row in ROWS.items():
        step = statistics.median(seconds[name])
        epoch = epoch_seconds(name)
        lines.append(
            f"| {name} | {row.flags['batch_size']} | {step * 1e3:.2f} | {_duration(epoch)} | "
            f"{epoch / base:.2f}x | {row.flags['epochs']:,} epochs, "
            f"{_duration(epoch * row.flags['epochs'])} |"
        )
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


def _read(path: str):
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def _reference(row: Row) -> str:
    return "a curve" if row.reference is None else f"**{row.reference:.2f}**"


def table(results: str = RESULTS) -> str:
    """The results table: one line per row, from results/ROW."""
    lines = [
        "| row | paper | pythae | keras_vae | epochs (paper's) | batch (paper's) | training "
        "time | SavedModel |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in ROWS.items():
        folder = os.path.join(results, name)
        progress = _read(os.path.join(folder, "progress.json"))
        report = _read(os.path.join(folder, "eval-test-k5000.json"))
        curve = _read(os.path.join(folder, "nll_curve.json"))
        if report is not None:
            ours = f"**{report['nll']:.2f}** (k=5000, {report['num_examples']:,} test images"
            ours += ")" if progress and progress["finished"] else f", epoch {progress['epochs']})"
        elif curve:
            last = curve[-1]
            ours = (
                f"{last['nll']:.2f} at epoch {last['epoch']} (k={last['num_importance_samples']})"
            )
        elif progress:
            ours = "running"
        else:
            ours = "not collected yet"
        epochs = f"{progress['epochs']:,}" if progress else "0"
        hours = f"{progress['training_seconds'] / 3600:.1f} h" if progress else "-"
        saved = os.path.join(folder, "saved_model")
        saved = f"`{name}/saved_model`" if os.path.isdir(saved) else "-"
        lines.append(
            f"| {row.what} ({name}) | {row.paper}: {_reference(row)} | {row.pythae} | "
            f"{ours} | {epochs} ({row.paper_epochs:,}) | {row.flags['batch_size']} "
            f"({row.paper_batch}) | {hours} | {saved} |"
        )
    return "\n".join(lines)


def _fail(message: str, code: int) -> int:
    print(f"papers.py: error: {message}", file=sys.stderr)
    return code


def main(argv):
    del argv
    if FLAGS.list:
        for name, row in ROWS.items():
            print(f"{name}: {row.paper}, {row.what}: {_reference(row)}")
        return 0
    if FLAGS.table:
        print(table())
        return 0
    if FLAGS.cost:
        print(cost(FLAGS.cost_steps, FLAGS.cost_rounds))
        return 0
    if FLAGS.row not in ROWS or not FLAGS.runs:
        return _fail(f"--row (one of {', '.join(ROWS)}) and --runs are needed", 2)
    if FLAGS.threads is not None and not FLAGS.script:
        return _fail("--threads is a setting of --script's run; add --script", 2)
    if FLAGS.collect or FLAGS.restart or FLAGS.script:
        from keras_vae.errors import KerasVAEError

        try:
            if FLAGS.script:
                print(script(FLAGS.row, FLAGS.runs, FLAGS.threads))
            else:
                print((collect if FLAGS.collect else restart)(FLAGS.row, FLAGS.runs))
        except KerasVAEError as e:
            return _fail(str(e), 1)
        return 0
    cmd = command(FLAGS.row, FLAGS.runs)
    if FLAGS.run:
        return subprocess.call(cmd)
    print(shlex.join(cmd))
    return 0


if __name__ == "__main__":
    import script_flags  # experiments/, on sys.path when this file runs as a script.

    app.run(main, flags_parser=script_flags.flags_parser("papers.py"))
