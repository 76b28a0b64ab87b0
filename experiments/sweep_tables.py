"""Rewrites the table.md of sweep result folders from their rows.json.

    python experiments/sweep_tables.py results/sweeps/*/

For tables written before a column was added to experiments/sweep.py's table: the
numbers come from rows.json, which holds everything each run measured.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from configs import EXPERIMENTS  # noqa: E402
from sweep import markdown_table  # noqa: E402


def rewrite(folder: str) -> None:
    with open(os.path.join(folder, "rows.json")) as f:
        report = json.load(f)
    # Sweeps record their experiment; the first ones recorded only the --experiment flag.
    experiment = EXPERIMENTS[report.get("experiment") or report["flags"]["experiment"]]
    with open(os.path.join(folder, "table.md"), "w") as f:
        f.write(
            f"Command: `{report['command']}`\n\n{experiment.TITLE}. {experiment.CLAIM}\n\n"
            f"{markdown_table(report['rows'])}"
        )


if __name__ == "__main__":
    for folder in sys.argv[1:]:
        rewrite(folder)
