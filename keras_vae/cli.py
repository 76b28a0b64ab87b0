"""What the `python -m keras_vae.*` entry points share: one-line errors and quiet start-up."""

import os
import sys
import warnings

from absl import flags, logging

from keras_vae.errors import KerasVAEError, first_line


def quiet_start(program: str) -> None:
    """Keeps TensorFlow's C++ start-up chatter down and prints warnings on one line."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.formatwarning = lambda message, category, *args, **kwargs: (
        f"{program}: WARNING: {message}\n"
    )


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
    except KerasVAEError as e:
        return fail(program, str(e))
    return 0
