"""The holes of the ``bench compare`` CI gate (issue 26 K): NaN accuracy in an ``ok`` row is a
regression; a side without the core columns, or with accuracies stored as text, cannot be compared
(exit 2, one line); a non-finite or negative threshold is refused (exit 2)."""
from __future__ import annotations

import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.results import result_files
from tests.report_rows import row, write

PAIR = "synth-digits->digits"


def side(path, acc=80.0, **kw):
    return write(path, [row("full_finetune", PAIR, s, acc + s, **kw) for s in range(3)])


def run(*args) -> tuple[int, str]:
    res = CliRunner().invoke(main, ["compare", *map(str, args)])
    assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit), res.output
    return res.exit_code, res.output


def rewrite(results_dir, change) -> None:
    """Rewrite every result file of ``results_dir`` through ``change(table) -> table``, keeping
    the schema's metadata (its version), as a foreign tool or a hand edit would."""
    for path in result_files(results_dir):
        table = pq.read_table(path)
        pq.write_table(change(table).replace_schema_metadata(table.schema.metadata), path)


def test_nan_accuracy_in_an_ok_row_of_the_candidate_is_a_regression(tmp_path):
    base = side(tmp_path / "base")
    cand = write(tmp_path / "cand", [dict(row("full_finetune", PAIR, s, 80.0 + s), target_acc=math.nan)
                                     for s in range(3)])
    code, out = run(base, cand)
    assert code == 1 and "REGRESSION" in out and "without a value" in out
    one = write(tmp_path / "one", [row("full_finetune", PAIR, s, 80.0 + s) for s in range(2)]
                + [dict(row("full_finetune", PAIR, 2, 82.0), target_acc=math.nan)])
    assert run(base, one)[0] == 1   # one seed of three is enough


@pytest.mark.parametrize("column", ["target_acc", "status"])
@pytest.mark.parametrize("which", ["baseline", "candidate"])
def test_a_side_without_a_core_column_cannot_be_compared(tmp_path, column, which):
    base, cand = side(tmp_path / "base"), side(tmp_path / "cand")
    rewrite(base if which == "baseline" else cand, lambda t: t.drop_columns([column]))
    code, out = run(base, cand)
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and column in lines[0], out


def test_accuracy_stored_as_text_cannot_be_compared(tmp_path):
    base, cand = side(tmp_path / "base"), side(tmp_path / "cand")

    def as_text(t: pa.Table) -> pa.Table:
        i = t.schema.get_field_index("target_acc")
        return t.set_column(i, "target_acc", pa.array([str(v) for v in t["target_acc"].to_pylist()]))
    rewrite(cand, as_text)
    code, out = run(base, cand)
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "target_acc" in lines[0] and "not numbers" in lines[0], out


@pytest.mark.parametrize("option", ["--acc-threshold", "--forgetting-threshold", "--throughput-threshold",
                                    "--memory-threshold"])
@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_a_threshold_that_is_not_a_finite_tolerance_is_refused(tmp_path, option, value):
    base, cand = side(tmp_path / "base"), side(tmp_path / "cand", acc=70.0)   # a 10-point drop
    code, out = run(base, cand, option, value)
    assert code == 2 and option in out and len([ln for ln in out.splitlines() if ln.strip()]) == 1, out
    assert run(base, cand)[0] == 1   # the drop itself is a regression under the defaults
