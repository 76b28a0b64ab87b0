"""Writes the README's flag tables from the configs, which declare each option once.

    python experiments/readme_flags.py          # rewrites README.md's tables in place
    python experiments/readme_flags.py --check  # exit 1 if README.md is out of date

Each table sits between `<!-- flags:COMMAND -->` and `<!-- /flags:COMMAND -->` and is
made from the same fields, defaults and help texts as the command's absl flags.
"""

import dataclasses
import pathlib
import re
import sys

from keras_vae import config, eval_config, options, visualize_config

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
COMMANDS = {
    "train": config.Config,
    "evaluate": eval_config.EvalConfig,
    "visualize": visualize_config.VisualizeConfig,
}


def _rows(config_class):
    for field in dataclasses.fields(config_class):
        if isinstance(field.type, type) and dataclasses.is_dataclass(field.type):
            yield from _rows(field.type)
        elif field.metadata.get("flag"):
            yield field


def _default(field) -> str:
    value = field.default
    if isinstance(value, tuple):
        return "`" + ",".join(map(str, value)) + "`"
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "on" if value else "off"
    return (
        f"`{value}`"
        if isinstance(value, str)
        else f"{value:g}"
        if isinstance(value, float)
        else str(value)
    )


def table(config_class) -> str:
    """The markdown table of a command's flags."""
    lines = ["| flag | default | meaning |", "|---|---|---|"]
    for field in _rows(config_class):
        kind, _ = options.scalar_type(field.type)
        name = f"`--[no]{field.name}`" if kind is bool else f"`--{field.name}`"
        text = field.metadata["help"].replace("|", "\\|")
        if field.metadata["choices"]:
            text += " One of: " + ", ".join(f"`{c}`" for c in field.metadata["choices"]) + "."
        lines.append(f"| {name} | {_default(field)} | {text} |")
    return "\n".join(lines)


def render(readme: str) -> str:
    """`readme` with every flags block replaced by the table of its command."""
    for command, config_class in COMMANDS.items():
        pattern = re.compile(
            rf"(<!-- flags:{command} -->\n).*?(<!-- /flags:{command} -->)", re.DOTALL
        )
        readme = pattern.sub(lambda m: m.group(1) + table(config_class) + "\n" + m.group(2), readme)
    return readme


def main(argv) -> int:
    current = README.read_text()
    wanted = render(current)
    if "--check" in argv:
        if wanted != current:
            print("README.md's flag tables are out of date: python experiments/readme_flags.py")
            return 1
        return 0
    README.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
