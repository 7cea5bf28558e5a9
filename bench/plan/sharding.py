"""``--shard i/n``: a deterministic, cost-balanced 1/n of a suite's cells, for any scheduler.

Every shard computes the same assignment from the suite alone (no coordination), so a SLURM array
(``--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT``) or a CI matrix can spread a suite, all
shards writing into one results directory (one file per cell, claims by flock: no clobbering).

Balance: a shard pays a source stage once per source model it trains, so cells sharing a source
model stay together unless splitting them balances better (two greedy longest-first plans, the
better one wins; see ``assign``). Cost is a proxy: samples processed (steps x batch size) in the source stage and
the adaptation stage; backbones are not weighed against each other (unknown before running).
"""
from __future__ import annotations

import re
from collections import defaultdict

from bench.errors import SuiteError
from bench.plan.cells import Cell
from bench.plan.protocol import starts_from_initial
from bench.strategies.declared import declared

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
    cls = declared(cell.strategy)
    steps = cls.total_steps(cls.Hparams(**cell.hparams), cell.adapt.steps) if cls.trains else 0
    return steps * cell.adapt.batch_size + 1.0  # +1: evaluation and bookkeeping are never free


def source_cost(cell: Cell) -> float:
    return cell.source.steps * cell.source.batch_size


def will_skip(cell: Cell) -> bool:
    """Whether the cell is skipped before any work (a strategy that needs target labels, budget 0)."""
    return declared(cell.strategy).needs_target_labels and cell.label_budget == 0


def runs_source_stage(cell: Cell) -> bool:
    """Whether the cell loads (or first trains) its source model: every cell that is not skipped,
    except a joint-training method under ``protocol: joint``."""
    return not will_skip(cell) and not starts_from_initial(cell.protocol, declared(cell.strategy))


def expected_work(cells: list[Cell], cached_sources: set[str] = frozenset()) -> list[float]:
    """Each cell's expected cost in the order given, for a progress bar's ETA: its adaptation, plus
    the source stage on the first cell of each source model that is not in ``cached_sources``; a
    cell that will be skipped costs 1."""
    work, paid = [], set(cached_sources)
    for c in cells:
        if will_skip(c):
            work.append(1.0)
            continue
        cost = adapt_cost(c)
        if runs_source_stage(c) and c.source_key() not in paid:
            paid.add(c.source_key())
            cost += source_cost(c)
        work.append(cost)
    return work


def shard_load(shard: list[Cell]) -> float:
    """Expected cost of a shard: its cells' adaptation plus one source stage per source model."""
    firsts = {c.source_key(): c for c in shard}
    return sum(adapt_cost(c) for c in shard) + sum(source_cost(c) for c in firsts.values())


def assign(cells: list[Cell], n: int) -> list[list[Cell]]:
    """The cells of each of ``n`` shards; the same input always gives the same answer.

    Two greedy longest-first plans, the one with the smaller largest shard wins (ties: the first):
    whole source-model groups (a group above a fair share split into cells), and single cells
    placed where the load after adding them is smallest, counting a source stage only for a shard
    that lacks that source model.
    """
    order = {c.key(): i for i, c in enumerate(cells)}
    plans = [_by_groups(cells, n), _by_cells(cells, n)]
    best = min(plans, key=lambda plan: max(shard_load(s) for s in plan))
    return [sorted(s, key=lambda c: order[c.key()]) for s in best]


def _groups(cells: list[Cell]) -> dict[str, list[Cell]]:
    groups: dict[str, list[Cell]] = defaultdict(list)
    for c in sorted(cells, key=lambda c: c.key()):
        groups[c.source_key()].append(c)
    return groups


def _by_groups(cells: list[Cell], n: int) -> list[list[Cell]]:
    items = [(shard_load(m), k, m) for k, m in _groups(cells).items()]
    fair = sum(cost for cost, _, _ in items) / n
    split = []
    for cost, key, members in items:
        if cost > fair and len(members) > 1:  # too big for one shard: each cell pays its own source
            split += [(shard_load([c]), c.key(), [c]) for c in members]
        else:
            split.append((cost, key, members))
    shards: list[list[Cell]] = [[] for _ in range(n)]
    for _, _, members in sorted(split, key=lambda t: (-t[0], t[1])):
        target = min(range(n), key=lambda s: (shard_load(shards[s]), s))
        shards[target] += members
    return shards


def _by_cells(cells: list[Cell], n: int) -> list[list[Cell]]:
    groups = _groups(cells)
    gcost = {k: shard_load(m) for k, m in groups.items()}
    shards: list[list[Cell]] = [[] for _ in range(n)]
    for c in sorted(cells, key=lambda c: (-gcost[c.source_key()], c.source_key(), -adapt_cost(c), c.key())):
        target = min(range(n), key=lambda s: (shard_load(shards[s] + [c]), s))
        shards[target].append(c)
    return shards


def shard_cells(cells: list[Cell], shard: str | None) -> list[Cell]:
    if not shard:
        return cells
    i, n = parse_shard(shard)
    return assign(cells, n)[i]
