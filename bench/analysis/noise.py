"""A regression gate calibrated on measured noise: per-cell thresholds from an A/A pair.

An A/A pair is two runs of the same code and suite on the same kind of machine (``make ci-noise``
writes one). Whatever differs between them is noise: GPU non-determinism, thread scheduling,
throughput on a shared runner. For each cell (matched as ``bench compare`` matches cells) and each
checked metric, the measured same-code spread is

    s = |mean_A - mean_B|            (in the metric's unit: points, or percent of A for costs)

and the calibrated threshold is

    threshold = max(floor, K * s)     K = 3, floor = FLOORS[kind]

so a delta counts only when it is K times larger than what the same code produced, and never below
the floor (an A/A pair that happened to agree exactly, as deterministic CPU runs do, would otherwise
give a zero threshold). The floor is not the cross-machine spread: the same commit on torch's generic
kernels and 1 thread moved a ``suites/ci.yaml`` cell mean by 0.74 points (README, "The regression
gate on real A/A pairs"), so a baseline that will meet other machines is calibrated with such a run
too (``make ci-noise`` writes ``results/ci-aa-x``). Cells or metrics the
pair does not cover keep the fixed threshold of ``bench compare``. The second condition of a
regression (the seed-bootstrap CI of the delta excludes 0) still applies.

With one A/A pair, ``s`` is a single draw of the noise: K = 3 is a margin for that, not a tail
bound. More pairs (``calibrate`` over several) take the largest spread seen per cell.
"""
from __future__ import annotations

import math
from pathlib import Path

from bench.analysis.compare import MATCH, Check, _load, checks

K = 3.0
#: the smallest calibrated threshold per kind of metric: accuracies in points, costs in percent
FLOORS = {"accuracy": 0.5, "cost": 5.0}
RULE = (f"per-cell threshold = max(floor, {K:g} x the same-code spread |A - B| of an A/A pair); "
        f"floors {FLOORS['accuracy']:g} pts for accuracy and forgetting, {FLOORS['cost']:g}% for costs")


def _spread(chk: Check, a, b) -> float:
    a, b = a.dropna(), b.dropna()
    if not len(a) or not len(b):
        return math.nan
    d = b.mean() - a.mean()
    if chk.relative:
        d = d * 100.0 / a.mean() if a.mean() != 0 else math.nan
    return abs(float(d))


def spreads(a: Path, b: Path, rule: str = "last") -> dict[tuple, float]:
    """(cell key, metric) -> the same-code spread between the two runs of an A/A pair."""
    ra, rb = _load(Path(a), rule), _load(Path(b), rule)
    ra, rb = ra[ra["status"] == "ok"], rb[rb["status"] == "ok"]
    ga, gb = ra.groupby(MATCH), rb.groupby(MATCH)
    out = {}
    for key in sorted(set(ga.groups) & set(gb.groups)):
        for chk in checks():
            s = _spread(chk, ga.get_group(key)[chk.metric], gb.get_group(key)[chk.metric])
            if not math.isnan(s):
                out[(key, chk.metric)] = s
    return out


def calibrate(pairs: list[tuple[Path, Path]], rule: str = "last", k: float = K,
              floors: dict[str, float] = FLOORS) -> dict[tuple, float]:
    """(cell key, metric) -> calibrated threshold over one or more A/A pairs (largest spread)."""
    kinds = {c.metric: "cost" if c.is_cost else "accuracy" for c in checks()}
    worst: dict[tuple, float] = {}
    for a, b in pairs:
        for key, s in spreads(a, b, rule).items():
            worst[key] = max(worst.get(key, 0.0), s)
    return {key: max(floors[kinds[key[1]]], k * s) for key, s in worst.items()}
