"""What a user sees on the console: clean lines in a log, a bar on a terminal, Ctrl-C, no noise."""

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

from conftest import _write_synthetic_folder

FAST = ["--hidden_units=16", "--batch_size=20"]


def _command(program, *flags):
    return [sys.executable, "-m", program, *flags]


def test_a_redirected_log_has_one_plain_line_per_epoch_and_no_start_up_noise(tmp_path):
    folder = _write_synthetic_folder(tmp_path / "idx", train=400, test=40)
    result = subprocess.run(
        _command("keras_vae.train", f"--dataset=idx:{folder}", "--epochs=3",
                 f"--model_dir={tmp_path / 'run'}", "--steps_per_execution=4", *FAST),
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert lines[3].startswith("test ELBO") and len(lines) == 4
    assert not re.search(r"[\x08\x1b\r]", result.stdout)
    # TensorFlow's C++ start-up lines (oneDNN, CUDA, cuInit) are filtered; nothing else
    # was there to say.
    assert result.stderr == ""


def test_a_terminal_gets_a_bar_that_never_overshoots_and_clean_epoch_lines(tmp_path):
    folder = _write_synthetic_folder(tmp_path / "idx", train=400, test=40)
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        _command("keras_vae.train", f"--dataset=idx:{folder}", "--epochs=2",
                 f"--model_dir={tmp_path / 'run'}", "--steps_per_execution=7", *FAST),
        stdout=follower, stderr=subprocess.PIPE, text=False,
    )
    os.close(follower)
    output = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 300)
        if not ready:
            break
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # The child closed the terminal.
            break
        if not chunk:
            break
        output += chunk
    process.wait(timeout=300)
    os.close(leader)
    assert process.returncode == 0, process.stderr.read()
    text = output.decode().replace("\r\n", "\n")
    # 360 training images at batch 20: 18 steps an epoch.
    counts = [tuple(map(int, m)) for m in re.findall(r"(\d+)/(\d+)(?: loss|\x1b)", text)]
    assert counts and all(done <= total == 18 for done, total in counts)
    # The bar's line is cleared before each epoch's summary, which stands on its own.
    assert text.count("\r\x1b[Kepoch 1/2: train loss") == 1
    assert text.count("\r\x1b[Kepoch 2/2: train loss") == 1


def test_ctrl_c_says_how_to_resume_and_keeps_the_backup(tmp_path):
    folder = _write_synthetic_folder(tmp_path / "idx", train=2000, test=40)
    run = tmp_path / "run"
    flags = [f"--dataset=idx:{folder}", "--epochs=200", f"--model_dir={run}", *FAST]
    process = subprocess.Popen(
        _command("keras_vae.train", *flags),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # A child of a non-interactive shell would otherwise ignore SIGINT.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    for line in process.stdout:
        if line.startswith("epoch 2/"):
            break
    backup = run / "backup"
    deadline = time.monotonic() + 60
    while not (backup / "epoch-0002").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    before = {p.name: p.stat().st_mtime_ns for p in (backup / "epoch-0002").iterdir()}
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    match = re.fullmatch(
        r"keras_vae\.train: interrupted in epoch (\d+); rerun the same command to resume "
        r"after epoch (\d+)", lines[0],
    )
    assert match and int(match.group(1)) == int(match.group(2)) + 1, lines[0]
    done = int(match.group(2))
    assert (backup / f"epoch-{done:04d}").is_dir()
    if done == 2:
        assert {p.name: p.stat().st_mtime_ns for p in (backup / "epoch-0002").iterdir()} == before
    assert not (run / "metrics.json").exists()
    # The same command resumes where it said.
    process = subprocess.Popen(
        _command("keras_vae.train", *flags), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().strip().startswith(f"resuming after epoch {done} ")
    finally:
        process.kill()
        process.communicate(timeout=60)


def test_bernoulli_on_grey_pixels_warns_once_and_evaluate_labels_its_nll(tmp_path):
    folder = _write_synthetic_folder(tmp_path / "idx", train=100, test=30)
    run = tmp_path / "run"
    result = subprocess.run(
        _command("keras_vae.train", f"--dataset=idx:{folder}", "--epochs=1", "--binarize=none",
                 "--likelihood=bernoulli",
                 f"--model_dir={run}", *FAST),
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 1 and "cross-entropy of grey levels" in warnings[0]
    result = subprocess.run(
        _command("keras_vae.evaluate", f"--model_dir={run}", "--num_importance_samples=5"),
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((run / "eval-test-k5.json").read_text())
    assert report["nll_kind"] == "cross_entropy" and "not a likelihood" in report["nll_means"]
