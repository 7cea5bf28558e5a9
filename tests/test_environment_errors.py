"""Faults of the machine, not of a cell: a full disk and a bad --device stop the run with exit 2 and a
message, store nothing as a cell's result, and the same command resumes once the fault is gone.

The full disk is real: the run is a subprocess under a file-size limit (``RLIMIT_FSIZE``, with
SIGXFSZ ignored), so every write beyond the limit fails with the OS's EFBIG, exactly as a full disk
fails with ENOSPC (both are "no room to write" to the harness). No root needed.
"""
from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.results import read_results, result_files
from tests.conftest import REPO

SUITE = """
name: tiny
backbones: [small_cnn]
strategies: [source_only, full_finetune]
pairs: ["synth-digits -> digits"]
label_budgets: [5]
seeds: [0]
source: {steps: 5, batch_size: 16}
adapt: {steps: 3, batch_size: 16}
threads: 1
"""


def bench(*args: str, max_file_bytes: int | None = None) -> subprocess.CompletedProcess:
    def limit() -> None:
        if max_file_bytes is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
            resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=REPO, env=env, text=True,
                          capture_output=True, timeout=600, preexec_fn=limit)


@pytest.fixture
def suite_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(SUITE)
    return path


def test_full_disk_while_saving_the_source_model_stops_and_the_same_command_resumes(tmp_path, suite_file):
    results = tmp_path / "results"
    args = ["run", str(suite_file), "--results", str(results), "--no-progress"]
    # room for the probe (64 KiB), rows (~15 KiB) and the run record, not for the source model
    full = bench(*args, max_file_bytes=96 * 1024)
    assert full.returncode == 2, full.stderr
    assert "disk is full" in full.stderr and "same command" in full.stderr
    assert "Traceback" not in full.stderr
    assert result_files(results) == []  # nothing stored as a cell's result
    assert not list((results / "_source_models").glob(".*.tmp"))  # no half-written model left
    again = bench(*args)
    assert again.returncode == 0, again.stderr
    assert set(read_results(results)["status"]) == {"ok"} and len(result_files(results)) == 2


def test_a_disk_full_from_the_start_is_seen_by_the_probe(tmp_path, suite_file):
    results = tmp_path / "results"
    full = bench("run", str(suite_file), "--results", str(results), max_file_bytes=1024)
    assert full.returncode == 2 and "disk is full" in full.stderr, full.stderr
    assert "Traceback" not in full.stderr
    assert not (results / "_runs").exists() or not any((results / "_runs").iterdir())


def test_unknown_device_is_refused_before_anything_runs(tmp_path, suite_file):
    results = tmp_path / "results"
    out = bench("run", str(suite_file), "--results", str(results), "--device", "gpu")
    assert out.returncode == 2 and "gpu" in out.stderr and "cpu" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and not results.exists()


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_a_clear_error_not_a_result(tmp_path, suite_file):
    results = tmp_path / "results"
    out = bench("run", str(suite_file), "--results", str(results), "--device", "cuda")
    assert out.returncode == 2 and "CUDA" in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert not results.exists()


def test_ctrl_c_exits_130_with_one_line_and_the_same_command_resumes(tmp_path):
    import time

    # full_finetune runs 10,000 steps (~15 s here): the signal must find a cell running on any CPU;
    # with the 3-step suite a fast or lightly loaded machine finished before the SIGINT (exit 0)
    suite_file = tmp_path / "suite.yaml"
    suite_file.write_text(SUITE.replace("full_finetune]", "{name: full_finetune, steps: 10000}]"))
    results = tmp_path / "results"
    args = [sys.executable, "-m", "bench", "run", str(suite_file), "--results", str(results), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # the child starts with SIGINT's default action, as a command typed at a terminal does: a test run
    # started in the background by a shell without job control (`make test &`, nohup in a script)
    # inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler at all
    proc = subprocess.Popen(args, cwd=REPO, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while not list((results / "_runs").glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.2)  # the run record exists: cells are about to run
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err and len(err.strip().splitlines()) <= 3, err
    again = bench("run", str(suite_file), "--results", str(results), "--no-progress")
    assert again.returncode == 0 and set(read_results(results)["status"]) == {"ok"}, again.stderr
