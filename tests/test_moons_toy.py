"""The DANN paper's toy through the runner (``suites/moons.yaml``): moons as source, a fresh sample
rotated by 30 degrees as target, a 2x32 MLP, seeds 0-4.

What is asserted, and why (see tests/README.md, "Statistical tests"): float results differ
slightly between CPUs, and one seed's accuracy moves by several points when they do, so nothing
here is a per-seed number. Measured on this repository's machine over seeds 0-7 (threads 1; the
same seeds with 2 threads are in docs/domain-adaptation.md), paired gain over source-only per seed:

    method  mean gain   sd    every seed > 0?
    dan        10.0     5.9   yes
    coral       8.5     7.0   yes
    dann        5.7     9.5   no (-7 on seed 3)
    moments     4.1     8.3   no (-5.6 on seed 7)

* dan and coral: the seed mean beats source-only, and wins back >= 30% of source-only's gap to 100%
  (measured 72% and 61%; with 5 seeds the standard error of that fraction is ~0.18).
* dann and moments (mean + covariance matching): their mean gain is within two standard errors of zero at 5 seeds, so no
  gain is asserted; only that they train without collapsing (seed mean >= 80, measured ~91 and ~90
  with an SE of ~3 and ~2 against source-only's 86).
* source-only loses accuracy on the rotated target: seed mean < 95 (measured 86, SE ~3).

``BENCH_TEST_THREADS`` (default 1) sets torch's thread count, to check the margins hold under
another one (tests/README.md).
"""
from __future__ import annotations

import os

import pandas as pd
import pytest

from bench.results import read_results
from bench.run.runner import run_suite
from bench.plan.suite import load_suite

pytestmark = pytest.mark.numeric  # float results: `make test-numeric` reruns these on other kernels

THREADS = int(os.environ.get("BENCH_TEST_THREADS", "1"))
#: the first five strategies of the suite: source_only, dann, moments, dan, coral
METHODS = 5
MIN_RECOVERY = 0.3
NO_COLLAPSE = 80.0


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> pd.DataFrame:
    suite = load_suite("suites/moons.yaml")
    suite = suite.model_copy(update={"strategies": suite.strategies[:METHODS], "threads": THREADS})
    out = tmp_path_factory.mktemp("moons")
    run_suite(suite, out, device="cpu", show_progress=False, executor="inline")
    df = read_results(out)
    assert (df.status == "ok").all(), df[df.status != "ok"][["strategy", "error"]].to_string()
    assert df["seed"].nunique() == 5
    return df.pivot(index="seed", columns="strategy", values="target_acc")


@pytest.mark.slow
def test_source_only_loses_accuracy_on_the_rotated_target(results):
    assert results["source_only"].mean() < 95  # the rotation costs accuracy (source-test is ~100)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["dan", "coral"])
def test_kernel_and_covariance_alignment_recover_lost_accuracy_on_the_seed_mean(results, method):
    base = results["source_only"]
    gain = (results[method] - base).mean()
    assert gain > 0, (method, results.round(1).to_dict())
    assert gain / (100 - base.mean()) >= MIN_RECOVERY, (method, results.round(1).to_dict())


@pytest.mark.slow
@pytest.mark.parametrize("method", ["dann", "moments"])
def test_adversarial_and_moment_alignment_train_without_collapsing(results, method):
    assert results[method].mean() >= NO_COLLAPSE, (method, results.round(1).to_dict())
