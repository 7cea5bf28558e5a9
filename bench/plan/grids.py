"""A suite's ``also`` grids: more backbones x strategies x pairs x budgets x seeds whose cells join
the suite's own, for a combination that should not multiply the whole grid (one pretrained backbone
on one real pair, next to the toy backbones on their toy pairs).

Each grid changes some of :data:`GRID_FIELDS`; every other field (training stages, selection,
protocol, threads, ...) is the suite's. A grid's cells are exactly the cells of the suite with
those fields replaced, so their keys are what a suite spelling that grid out would give, and
adding a grid changes no key of the suite's own cells. The suite's ``grids`` (e.g. ``-o grids=[1]``)
picks which grids run: a subset of the same cells, under the same keys.
"""
from __future__ import annotations

from typing import Any

from pydantic import ValidationError

# no import of bench.plan.suite here (it imports this module): the grid's suite class is the
# suite's own, type(suite), and "Suite" in the signatures is only a name

#: the fields an ``also`` grid may set (the axes of the grid)
GRID_FIELDS = ("backbones", "strategies", "pairs", "label_budgets", "seeds")


def grid_suite(suite: "Suite", index: int) -> "Suite":
    """``suite.also[index]`` as a suite of its own (validated as one; ValueError naming the grid)."""
    Suite = type(suite)  # noqa: N806 (the class, not an import: see above)
    grid = suite.also[index]
    unknown = sorted(set(grid) - set(GRID_FIELDS))
    if unknown:
        raise ValueError(f"also[{index}]: {', '.join(unknown)} cannot be set per grid (a grid sets "
                         f"{', '.join(GRID_FIELDS)}; the rest is the suite's)")
    base: dict[str, Any] = {f: getattr(suite, f) for f in Suite.model_fields if f not in ("also", "grids")}
    try:
        return Suite.model_validate({**base, **grid})
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ValueError(f"also[{index}]{'.' + where if where else ''}: {err['msg']}") from None


def grid_suites(suite: "Suite") -> list["Suite"]:
    """The suite itself (its own grid), then each ``also`` grid as a suite."""
    return [suite, *(grid_suite(suite, i) for i in range(len(suite.also)))]


def selected_grids(suite: "Suite") -> list["Suite"]:
    """The grids of :func:`grid_suites` that ``suite.grids`` names (all when it is None)."""
    grids = grid_suites(suite)
    if suite.grids is None:
        return grids
    bad = [i for i in suite.grids if not 0 <= i < len(grids)]
    if bad or not suite.grids:
        raise ValueError(f"grids: {bad or '[]'} not a grid of this suite (0: its own grid; its also "
                         f"grids: {list(range(1, len(grids))) or 'none'})")
    return [grids[i] for i in dict.fromkeys(suite.grids)]
