"""What the `python -m keras_vae.*` entry points share: flags generated from the configs,
one-line errors and a quiet start-up.

With the entry modules, this is the only module that imports absl: the library
itself takes configs, not flags.
"""

import dataclasses
import importlib
import os
import re
import sys
import tempfile
import warnings

from absl import flags, logging

from keras_vae import options
from keras_vae.errors import Interrupted, KerasVAEError, first_line


def _nested(field) -> bool:
    return isinstance(field.type, type) and dataclasses.is_dataclass(field.type)


def define_flags(config_class, module: str) -> None:
    """One absl flag per declared field of `config_class` and of the configs it nests.

    The flags keep the fields' flat names (--latent_dims, not --model.latent_dims): the
    commands' flags predate the config groups. Types follow the annotations: bool,
    int, float, str (an enum where the field lists choices), and comma-separated lists
    for tuple fields. `module` is the entry module's __name__, under which --help lists
    them.
    """
    # absl files the flags of the program it runs (`python -m`) under the script's path.
    module_name = sys.argv[0] if module == "__main__" else module
    for field in dataclasses.fields(config_class):
        if _nested(field):
            define_flags(field.type, module)
            continue
        if not field.metadata.get("flag"):
            continue
        name, default, meta = field.name, field.default, field.metadata
        kind, _ = options.scalar_type(field.type)
        if meta["choices"]:
            flags.DEFINE_enum(
                name, default, list(meta["choices"]), meta["help"], module_name=module_name
            )
        elif kind is bool:
            flags.DEFINE_boolean(name, default, meta["help"], module_name=module_name)
        elif kind is int:
            flags.DEFINE_integer(name, default, meta["help"], module_name=module_name)
        elif kind is float:
            flags.DEFINE_float(name, default, meta["help"], module_name=module_name)
        elif kind is tuple:
            flags.DEFINE_string(
                name, ",".join(map(str, default)), meta["help"], module_name=module_name
            )
        else:
            flags.DEFINE_string(name, default, meta["help"], module_name=module_name)


def config_from_flags(config_class, **given):
    """An instance of `config_class` from the flags `define_flags` made; `given` fields
    are taken as they are. Raises ConfigError, naming the field, for a bad value."""
    values = dict(given)
    for field in dataclasses.fields(config_class):
        if field.name in values:
            continue
        if _nested(field):
            values[field.name] = config_from_flags(field.type)
        elif field.metadata.get("flag"):
            value = flags.FLAGS[field.name].value
            kind, element = options.scalar_type(field.type)
            if kind is tuple and isinstance(value, str):
                # An empty list is a value only where it is the default ("not set").
                empty = not value.strip() and field.default == ()
                value = () if empty else options.parse_list(value, field.name, element)
            values[field.name] = value
    return config_class(**values)


def quiet_start(program: str) -> None:
    """Keeps TensorFlow's C++ start-up chatter down and prints warnings on one line."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.formatwarning = lambda message, category, *args, **kwargs: (
        f"{program}: WARNING: {message}\n"
    )


# TensorFlow's C++ start-up lines, which TF_CPP_MIN_LOG_LEVEL does not reach: they are
# logged before absl::InitializeLog, twice (two libraries), as INFO or WARNING lines
# ("oneDNN custom operations are on", "Could not find cuda drivers"), and as an ERROR
# "failed call to cuInit" on every machine without a GPU.
_START_UP_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)"
    r"|[IW]\d{4} [\d:. ]+\d+ \S+\.cc:\d+\]"
    r"|E\d{4} [\d:. ]+\d+ cuda_\w+\.cc:\d+\] failed call to cuInit"
    r"|To enable the following instructions: )"
)


def import_module_quietly(name: str):
    """Imports module `name` (which imports TensorFlow) with TensorFlow's C++ start-up
    chatter filtered out of stderr; every other line it writes is passed on.

    The chatter is written to file descriptor 2 by C++ code, so Python's sys.stderr
    cannot filter it: the descriptor itself is pointed at a temporary file meanwhile.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            module = importlib.import_module(name)
            import tensorflow as tf

            tf.config.list_physical_devices()  # Where cuInit is tried, and fails without GPU.
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode(errors="replace").splitlines():
                if line.strip() and not _START_UP_NOISE.match(line):
                    sys.stderr.write(line + "\n")
    return module


def fail(program: str, message: str, code: int = 1) -> int:
    sys.stderr.write(f"{program}: error: {message}\n")
    sys.stderr.flush()
    return code


def flags_parser(program: str):
    """An absl `flags_parser` that answers a bad flag with one line and exit status 2."""

    def parse(argv):
        try:
            remaining = flags.FLAGS(argv)
        except flags.Error as e:
            sys.exit(fail(program, first_line(e), 2))
        if len(remaining) > 1:
            sys.exit(fail(program, f"unexpected arguments {remaining[1:]}", 2))
        return remaining

    return parse


def run_guarded(program: str, body) -> int:
    """Runs body(); a KerasVAEError becomes its one-line message and exit status 1."""
    if not flags.FLAGS["verbosity"].present:
        # TensorFlow's savers log each file at INFO; users want the progress lines.
        logging.set_verbosity(logging.WARNING)
    try:
        body()
    except Interrupted as e:
        return _interrupted(program, str(e))
    except KeyboardInterrupt:
        return _interrupted(program, "interrupted; files already written are complete")
    except KerasVAEError as e:
        return fail(program, str(e))
    return 0


def _interrupted(program: str, message: str) -> int:
    # On a terminal the progress bar may hold the line: start a fresh one.
    if sys.stdout.isatty():
        sys.stdout.write("\n")
        sys.stdout.flush()
    sys.stderr.write(f"{program}: {message}\n")
    sys.stderr.flush()
    return Interrupted.exit_code
