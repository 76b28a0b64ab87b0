"""Config fields declared once: each option's default, help text and check in one `option()`.

    latent_dims: int = option(2, "Size of the latent code z.", check=integer(1))

Every config dataclass of keras_vae declares its fields so. `validate` checks an
instance against its declarations (the field's type, its choices, its check), and
keras_vae/cli.py generates each command's absl flags from the same fields, so adding an
option means declaring it in its config and using it, and nothing else.

Like config.py, this module imports neither TensorFlow nor absl.
"""

import dataclasses
import math
import types
import typing

from keras_vae.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Check:
    """A condition on one value and the words that state it ("a positive integer")."""

    holds: typing.Callable[[object], bool]
    requirement: str


def option(default, help: str, *, check: Check | None = None, choices=None, flag: bool = True):
    """A dataclass field with its help text, its check and its choices.

    flag=False keeps the field out of the generated command-line flags (a field that a
    command sets itself, or one that only the library API takes).
    """
    metadata = {"help": help, "check": check, "choices": tuple(choices or ()), "flag": flag}
    return dataclasses.field(default=default, metadata=metadata)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def integer(low: int, high: int | None = None, requirement: str | None = None) -> Check:
    """An integer from `low` (to `high`, inclusive, when given)."""
    if requirement is None:
        if high is not None:
            requirement = f"an integer from {low:,} to {high:,}"
        elif low == 1:
            requirement = "a positive integer"
        else:
            requirement = f"an integer >= {low}"
    return Check(lambda v: _is_int(v) and v >= low and (high is None or v <= high), requirement)


def finite(low: float, *, strict: bool = False, requirement: str | None = None) -> Check:
    """A finite number >= low (> low when `strict`)."""
    if requirement is None:
        requirement = (
            "a finite positive number" if strict and low == 0 else f"a finite number >= {low:g}"
        )
    return Check(
        lambda v: _is_number(v) and math.isfinite(v) and (v > low if strict else v >= low),
        requirement,
    )


def scalar_type(annotation):
    """int, float, bool or str of a field's annotation; (type, element) for tuple[T, ...]."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if typing.get_origin(annotation) is tuple:
        return tuple, typing.get_args(annotation)[0]
    return annotation, None


def _type_ok(value, annotation) -> bool:
    if value is None:
        return type(None) in typing.get_args(annotation)
    kind, element = scalar_type(annotation)
    if kind is tuple:
        return isinstance(value, tuple) and all(_type_ok(v, element) for v in value)
    if kind is int:
        return _is_int(value)
    if kind is float:
        return _is_number(value)
    return isinstance(value, kind)


_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
_PLURALS = {int: "integers", float: "numbers", bool: "booleans", str: "strings"}


def validate(instance) -> None:
    """Raises ConfigError naming the first field of `instance` that breaks its declaration."""
    hints = typing.get_type_hints(type(instance))
    for field in dataclasses.fields(instance):
        if "help" not in field.metadata:
            continue  # A nested config, which validated itself.
        name, value, meta = field.name, getattr(instance, field.name), field.metadata
        kind, element = scalar_type(hints[name])
        if not _type_ok(value, hints[name]):
            words = f"a list of {_PLURALS[element]}" if kind is tuple else _TYPE_WORDS.get(kind)
            raise ConfigError(f"{name} must be {words}, got {value!r}")
        if value is None:
            continue
        if meta["choices"] and value not in meta["choices"]:
            raise ConfigError(
                f"unknown {name} {value!r}: expected one of {', '.join(meta['choices'])}"
            )
        check = meta["check"]
        if check is not None and not check.holds(value):
            raise ConfigError(f"{name} must be {check.requirement}, got {value!r}")


def from_json_values(cls, values: dict):
    """`cls` built from a JSON dict, its tuple fields from JSON lists (config.json)."""
    hints = typing.get_type_hints(cls)
    values = dict(values)
    for name, value in values.items():
        if name in hints and scalar_type(hints[name])[0] is tuple and isinstance(value, list):
            values[name] = tuple(value)
    return cls(**values)


def declared_fields(cls) -> list[dataclasses.Field]:
    """The fields of `cls` declared with `option` that become flags."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("flag")]


def parse_list(text: str, name: str, element: type) -> tuple:
    """'512,256' -> (512, 256) for a tuple field; ConfigError names the field otherwise."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ConfigError(f"{name} must list at least one value, e.g. 1,2")
    try:
        return tuple(element(p) for p in parts)
    except ValueError:
        words = "integers" if element is int else "numbers"
        raise ConfigError(f"{name} must be comma-separated {words}, got {text!r}") from None
