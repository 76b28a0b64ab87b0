"""One line and exit status 2 for a bad flag of an experiments/ script.

keras_vae.cli.flags_parser does the same for the package's commands, but a script that
imports keras_vae imports TensorFlow (the package registers its Keras classes), and a
script's flags, or `papers.py --list`, need not wait for that. Nothing here imports
TensorFlow.
"""

import sys

from absl import flags


def flags_parser(program: str):
    """An absl `flags_parser` for app.run that answers a bad flag in one line."""

    def parse(argv):
        try:
            remaining = flags.FLAGS(argv)
        except flags.Error as e:
            sys.stderr.write(f"{program}: error: {str(e).splitlines()[0]}\n")
            sys.exit(2)
        if len(remaining) > 1:
            sys.stderr.write(f"{program}: error: unexpected arguments {remaining[1:]}\n")
            sys.exit(2)
        return remaining

    return parse
