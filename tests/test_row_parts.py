"""The cell protocol as typed stages (bench/cell/row_parts.py): every stage's part of the row is a
dataclass of results columns, the cell's identity and the parts fill every column between them, and
``write_row`` refuses a key that is not a column."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from bench.cell import row_parts
from bench.cell.row_parts import RowPart
from bench.plan.cells import IDENTITY_COLUMNS, expand, identity_row
from bench.results import SCHEMA, new_row, write_row
from tests.sweep_helpers import make_suite

PARTS = [c for c in vars(row_parts).values() if isinstance(c, type) and issubclass(c, RowPart) and c is not RowPart]


def fields_of(part: type) -> set[str]:
    return {f.name for f in dataclasses.fields(part)}


def test_every_stages_fields_are_schema_columns():
    assert {p.__name__ for p in PARTS} >= {"SourceFacts", "Before", "Transferability", "Adaptation", "After",
                                             "Provenance", "Outcome"}
    for part in PARTS:
        assert fields_of(part) <= set(SCHEMA.names), part.__name__


def test_identity_and_the_stages_parts_fill_every_column():
    """Nothing in the schema is left to its default by every stage: a column nobody fills is an
    orphan (say which part measures it)."""
    filled = set(IDENTITY_COLUMNS).union(*(fields_of(p) for p in PARTS))
    assert filled == set(SCHEMA.names), sorted(set(SCHEMA.names) - filled)


def test_a_part_with_a_field_that_is_not_a_column_is_refused_when_defined():
    with pytest.raises(TypeError, match="target_accuracy"):
        @dataclass
        class Misspelt(RowPart):  # noqa: F841 - defining it is the test
            target_accuracy: float


def test_write_row_refuses_a_key_that_is_not_a_column_and_writes_the_parts(tmp_path):
    cell = expand(make_suite(strategies=["source_only"]))[0]
    row = {**new_row(), **identity_row(cell, "run-1"),
           **row_parts.Before(50.0, 40.0, 1.0).columns(), **row_parts.Outcome("ok").columns()}
    assert write_row(tmp_path, row).exists()  # columns only: written
    with pytest.raises(ValueError, match="not columns: \\['target_accuracy'\\]"):
        write_row(tmp_path, {**row, "target_accuracy": 50.0})
