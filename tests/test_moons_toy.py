"""The DANN paper's toy through the harness: interleaving moons as source, a fresh sample rotated by
30 degrees as target, a small MLP. Source-only loses accuracy on the rotated target; dann, mmd,
dan and coral must recover a good part of the lost accuracy (mean over three seeds), and none may
fall clearly below source-only on any seed. Same settings as scripts/moons_toy.py."""
from __future__ import annotations

import tempfile

import pandas as pd
import pytest
import torch

from bench.cell import run_cell
from bench.suite import expand
from scripts.moons_toy import toy_suite

SEEDS = [0, 1, 2]
METHODS = ["source_only", {"name": "dann", "steps": 1500}, "mmd", "dan", "coral"]
#: fraction of the source-only gap to 100% that a method must win back on average; measured
#: recoveries on seeds 0-2 are in docs/domain-adaptation.md (all well above this)
MIN_RECOVERY = 0.3


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run_cell(c, tmp) for c in expand(toy_suite(SEEDS, 30, METHODS))]
    df = pd.DataFrame(rows)
    assert (df.status == "ok").all(), df[df.status != "ok"][["strategy", "error"]].to_string()
    return df.pivot(index="seed", columns="strategy", values="target_acc")


@pytest.mark.slow
def test_source_only_loses_accuracy_on_the_rotated_target(results):
    assert results["source_only"].mean() < 95  # the rotation costs accuracy (source-test is ~100)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["dann", "mmd", "dan", "coral"])
def test_alignment_recovers_much_of_the_lost_accuracy(results, method):
    base = results["source_only"]
    recovered = (results[method].mean() - base.mean()) / (100 - base.mean())
    assert recovered >= MIN_RECOVERY, (method, results.round(1).to_dict())
    assert (results[method] >= base - 2).all(), (method, results.round(1).to_dict())
