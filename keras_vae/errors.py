"""Exceptions whose message is the one line a command prints before exiting non-zero."""


class KerasVAEError(Exception):
    """Base class: a problem the user can fix, described in one line."""


class ConfigError(KerasVAEError, ValueError):
    """A configuration value (usually from a flag) is out of range or inconsistent."""


class DataError(KerasVAEError):
    """A data set is missing, unreachable or malformed."""


class ModelDirError(KerasVAEError):
    """A model directory cannot be written, or does not hold a keras_vae run."""
