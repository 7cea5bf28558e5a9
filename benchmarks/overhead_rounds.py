"""Harness overhead in wall-clock time: interleaved rounds of the harness cell and the bare loop of
``overhead_cells.py`` (300 steps each), the median speed ratio and a bootstrap interval over rounds.

Each round times both sides back to back, in alternating order (harness first in even rounds, bare
first in odd ones), so a slow drift of the machine's load hits both; the round's ratio is
bare seconds / harness seconds (the harness's speed as a fraction of the bare loop's). The interval
is the 2.5-97.5 percentiles of the median over 10,000 resamples of the rounds (seeded).

Needs a quiet machine: a shared VM moves one loop by +-15% between rounds, which the interval then
shows rather than hides. Instruction counts (``overhead_instructions.py``) are the figure that
load cannot move.

    python benchmarks/overhead_rounds.py [--rounds 12] [--steps 300]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def bootstrap_median(ratios: list[float], resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """The 95% percentile-bootstrap interval of the median of ``ratios``."""
    r = np.asarray(ratios, dtype=float)
    idx = np.random.default_rng(seed).integers(len(r), size=(resamples, len(r)))
    lo, hi = np.percentile(np.median(r[idx], axis=1), [2.5, 97.5])
    return float(lo), float(hi)


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def rounds(n: int, steps: int) -> list[float]:
    import torch

    torch.set_num_threads(1)
    from overhead_cells import bare_cell, harness_cell, prepare

    s = prepare(Path(tempfile.mkdtemp(prefix="bench-overhead-rounds-")), steps)
    harness_cell(s), bare_cell(s)  # warm-up: first-call allocations, kernel choices, imports
    ratios = []
    for i in range(n):
        if i % 2 == 0:
            h = timed(harness_cell, s)
            b = timed(bare_cell, s)
        else:
            b = timed(bare_cell, s)
            h = timed(harness_cell, s)
        ratios.append(b / h)
        print(f"round {i + 1}/{n}: harness {h:.3f} s, bare {b:.3f} s, bare/harness {b / h:.4f}", flush=True)
    return ratios


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--steps", type=int, default=300)
    a = ap.parse_args()
    if a.rounds < 2:
        raise SystemExit("overhead_rounds: --rounds must be at least 2 (an interval needs rounds to resample)")
    ratios = rounds(a.rounds, a.steps)
    lo, hi = bootstrap_median(ratios)
    print(f"[a''] wall clock, {a.rounds} interleaved rounds of {a.steps} steps: harness speed / bare loop "
          f"speed, median {statistics.median(ratios):.3f} [95% bootstrap {lo:.3f}, {hi:.3f}] "
          f"(target: >= 0.97, interval above 0.95; needs a quiet machine)")


if __name__ == "__main__":
    main()
