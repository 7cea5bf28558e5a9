"""Benchmarks run with ``make bench`` (pytest-benchmark). Timings are single-threaded on purpose:
compare ratios within one run, not absolute numbers across machines (FACTS.md)."""
import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's bench and tests


@pytest.fixture(scope="session", autouse=True)
def quiet_torch(tmp_path_factory):
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("BENCH_CACHE", str(tmp_path_factory.mktemp("bench-cache")))
    torch.set_num_threads(1)

#: one-line findings (ratios) that benchmarks want shown after the tables
NOTES: list[str] = []


def pytest_terminal_summary(terminalreporter):
    for line in NOTES:
        terminalreporter.write_line(line)
