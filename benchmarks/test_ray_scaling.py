"""(c) the same sweep on a local Ray cluster with 1 vs 2 CPU workers (one cell per CPU).

Runs only inside a loopback-only network namespace (``make bench`` uses scripts/in-loopback-netns):
Ray must not talk to the machine's external address. Each round starts and stops its own Ray
(~4 s start, ~1.3 s stop on these machines), as a real sweep would.
"""
from __future__ import annotations

import os

import pytest

from bench.results import read_results
from bench.run.runner import run_suite
from tests.sweep_helpers import make_suite

pytestmark = pytest.mark.skipif(os.environ.get("BENCH_RAY_NETNS") != "1",
                                reason="starts Ray: run inside scripts/in-loopback-netns (make bench does)")
TIMES: dict[int, float] = {}


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.benchmark(group="c: 8-cell sweep on local Ray workers")
def test_ray_sweep(benchmark, tmp_path_factory, workers):
    suite = make_suite(strategies=["full_finetune", "target_only"], seeds=[0, 1, 2, 3], source_steps=150,
                       adapt_steps=150, batch_size=64)
    holder = {}

    def fresh():
        holder["dir"] = tmp_path_factory.mktemp(f"ray{workers}")
        return (), {}

    def sweep():
        run_suite(suite, holder["dir"], executor="ray", show_progress=False,
                  executor_options={"num_cpus": workers})

    benchmark.pedantic(sweep, setup=fresh, rounds=2)
    df = read_results(holder["dir"])
    assert len(df) == 8 and set(df.status) == {"ok"}
    TIMES[workers] = benchmark.stats.stats.mean
    if len(TIMES) == 2:
        from conftest import NOTES

        NOTES.append(f"[c] 8-cell sweep on Ray: 1 worker {TIMES[1]:.1f} s, 2 workers {TIMES[2]:.1f} s, "
                     f"speed-up x{TIMES[1] / TIMES[2]:.2f} (means of 2 rounds)")
