"""What the package declares: its console scripts and its licence."""

import os
import subprocess
import sys
import tomllib

import pytest
from conftest import REPO


def _pyproject():
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]


@pytest.mark.parametrize("script, module", [
    ("keras-vae-train", "keras_vae.train"),
    ("keras-vae-evaluate", "keras_vae.evaluate"),
    ("keras-vae-visualize", "keras_vae.visualize"),
    ("keras-vae-score", "keras_vae.score"),
])
def test_console_scripts_run_the_commands(script, module):
    assert _pyproject()["scripts"][script] == f"{module}:run"
    path = os.path.join(os.path.dirname(sys.executable), script)
    if not os.path.exists(path):
        pytest.skip(f"{script} is not installed in this environment (pip install -e .)")
    result = subprocess.run([path, "--no_such_flag"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"{module}: error: Unknown command line flag 'no_such_flag'"
    ]


def test_the_licence_file_is_the_declared_one():
    assert _pyproject()["license"] == {"text": "Apache-2.0"}
    text = open(os.path.join(REPO, "LICENSE")).read()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_readme_says_what_the_package_is_before_the_commands():
    lines = open(os.path.join(REPO, "README.md")).read().splitlines()
    first_text = next(line for line in lines[1:] if line.strip())
    assert first_text.startswith("Variational autoencoders")
    assert lines.index(first_text) < lines.index("```bash")
