"""The typed parts of a row: what each stage of a cell (bench/cell/run_cell.py) measured.

A row is the cell's identity (``bench.plan.cells.identity_row``), its provenance, one part per stage
(source stage, evaluate before, transferability, adapt, evaluate after) and its outcome. Every part
is a :class:`RowPart` dataclass whose fields are results columns: a field that is not a column of
``bench.results.SCHEMA`` is refused when the class is defined (``TypeError`` at import), and
``write_row`` refuses a row key that is not a column, so nothing a stage measures is dropped
silently. tests/test_row_parts.py checks both, and that identity and parts together fill every column.
"""
from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from bench.results import SCHEMA

NAN = float("nan")


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class RowPart:
    """What one stage measured: its fields are results columns, and the row takes them as the
    stage ends (``write_row`` refuses a key that is not a column)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        unknown = sorted(set(inspect.get_annotations(cls)) - set(SCHEMA.names))
        if unknown:  # a misspelt or undeclared column: add it to bench.results.schema.COLUMNS first
            raise TypeError(f"{cls.__name__}: fields {unknown} are not results columns")

    def columns(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass
class SourceFacts(RowPart):
    source_wall_s: float
    source_cached: bool


@dataclass
class Before(RowPart):
    """The source model before adaptation (NaN under the joint protocol: there is none)."""

    source_acc_before: float = NAN
    target_acc_before: float = NAN
    a_distance_before: float = NAN


@dataclass
class Transferability(RowPart):
    logme: float
    leep: float
    nce: float
    hscore: float


@dataclass
class Adaptation(RowPart):
    steps: int
    adapt_wall_s: float
    train_samples_per_s: float
    compile_s: float
    mem_kind: str
    peak_mem_allocated_bytes: int
    peak_mem_reserved_bytes: int
    mem_baseline_bytes: int
    trainable_params: int
    total_params: int
    adapter_bytes: int | None
    extra: str  # JSON: footprint, the strategy's own facts, placement, step times
    selection_step: int | None = None  # the step in-run selection kept (bench/cell/selection.py)


@dataclass
class After(RowPart):
    target_acc: float
    infer_samples_per_s: float
    source_acc_after: float
    forgetting: float
    target_gain: float
    a_distance_after: float


@dataclass
class Provenance(RowPart):
    """Where and from what code the cell ran (set before it runs)."""

    git_sha: str
    package_versions: str  # JSON
    device_name: str
    host: str
    started_at: datetime = field(default_factory=_now)


@dataclass
class Outcome(RowPart):
    """How the cell ended: ``ok``, or why not (``bench.results.STATUSES``) with the error text."""

    status: str
    error: str = ""
    finished_at: datetime = field(default_factory=_now)
