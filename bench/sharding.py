"""``--shard i/n``: a deterministic, cost-balanced 1/n of a suite's cells, for any scheduler.

Every shard computes the same assignment from the suite alone (no coordination), so a SLURM array
(``--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT``) or a CI matrix can spread a suite, all
shards writing into one results directory (one file per cell, claims by flock: no clobbering).

Balance: cells sharing a source model stay together where possible (the source stage is trained
once per group, not once per shard), groups are placed largest first on the least-loaded shard
(LPT). A group bigger than a fair share is split into its cells. Cost is a proxy: samples
processed (steps x batch size) in the source stage and the adaptation stage.
"""
from __future__ import annotations

import re
from collections import defaultdict

from bench.suite import Cell, SuiteError

SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` -> (i, n), shards numbered 0..n-1."""
    m = SHARD_RE.match(text or "")
    if not m:
        raise SuiteError(f"--shard {text!r}: expected INDEX/COUNT such as 0/4 (shards are numbered 0..COUNT-1)")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 0 <= i < n:
        raise SuiteError(f"--shard {text!r}: INDEX must be in 0..{max(n - 1, 0)} and COUNT at least 1")
    return i, n


def adapt_cost(cell: Cell) -> float:
    from bench.strategies import get_strategy

    cls = get_strategy(cell.strategy)
    steps = cls.total_steps(cls.Hparams(**cell.hparams), cell.adapt.steps) if cls.trains else 0
    return steps * cell.adapt.batch_size + 1.0  # +1: evaluation and bookkeeping are never free


def source_cost(cell: Cell) -> float:
    return cell.source.steps * cell.source.batch_size


def assign(cells: list[Cell], n: int) -> list[list[Cell]]:
    """The cells of each of ``n`` shards; the same input always gives the same answer."""
    groups: dict[str, list[Cell]] = defaultdict(list)
    for c in cells:
        groups[c.source_key()].append(c)
    items: list[tuple[float, str, list[Cell]]] = []
    for key, members in groups.items():
        cost = source_cost(members[0]) + sum(adapt_cost(c) for c in members)
        items.append((cost, key, members))
    fair = sum(cost for cost, _, _ in items) / n
    split: list[tuple[float, str, list[Cell]]] = []
    for cost, key, members in items:
        if cost > fair and len(members) > 1:  # too big for one shard: each cell pays its own source
            split += [(source_cost(c) + adapt_cost(c), c.key(), [c]) for c in members]
        else:
            split.append((cost, key, members))
    shards: list[list[Cell]] = [[] for _ in range(n)]
    load = [0.0] * n
    for cost, _, members in sorted(split, key=lambda t: (-t[0], t[1])):
        target = min(range(n), key=lambda s: (load[s], s))
        shards[target] += members
        load[target] += cost
    order = {c.key(): i for i, c in enumerate(cells)}
    return [sorted(s, key=lambda c: order[c.key()]) for s in shards]


def shard_cells(cells: list[Cell], shard: str | None) -> list[Cell]:
    if not shard:
        return cells
    i, n = parse_shard(shard)
    return assign(cells, n)[i]
