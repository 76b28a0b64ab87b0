"""Exceptions whose message is the one line a command prints before exiting non-zero."""


def first_line(error: BaseException) -> str:
    """The first non-empty line of an error's message, or its type name if it has none.

    Errors from TensorFlow and tfds often carry pages of context; a one-line message
    quotes just their first line.
    """
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class KerasVAEError(Exception):
    """Base class: a problem the user can fix, described in one line."""


class ConfigError(KerasVAEError, ValueError):
    """A configuration value (usually from a flag) is out of range or inconsistent."""


class DataError(KerasVAEError):
    """A data set is missing, unreachable or malformed."""


class ModelDirError(KerasVAEError):
    """A model directory cannot be written, or does not hold a keras_vae run."""


class TrainingError(KerasVAEError):
    """Training cannot go on (for instance, the loss became NaN)."""


class Interrupted(KerasVAEError):
    """The user pressed Ctrl-C; the message says how to go on. Commands exit with 130."""

    exit_code = 130
