"""The report reads the in-run selection tables (``_selection/``) through the one reader
(``bench.results.read_selection_tables``) and says what each rule kept, per method and pair."""
from __future__ import annotations

import shutil

import pandas as pd
import pytest
import torch

from bench.analysis.report.build import build_report
from bench.analysis.report.data import load
from bench.analysis.report.in_run_selection import TITLE, in_run_frame
from bench.results import DamagedFile, ResultsDir, read_results, read_selection_table, read_selection_tables
from bench.run.api import run
from test_in_run_selection import moons_suite


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("insel")
    run(moons_suite("source_val"), results=d)  # no checkpoint tables: the selection tables alone
    return d


def test_the_section_counts_what_the_tables_hold(results, tmp_path):
    rows = read_results(results)
    frame = in_run_frame(load([results]), read_selection_tables([results], [str(results)]))
    assert sorted(frame["method"]) == ["dann", "full_finetune"] and set(frame["cells"]) == {2}  # 2 seeds
    for line in frame.itertuples():
        mine = rows[rows["strategy"] == line.method]
        tables = [pd.read_parquet(ResultsDir(results).selection_table(k)) for k in mine["cell_key"]]
        kept = [t[t["kept"]].iloc[0] for t in tables]
        assert line.checks == len(tables[0]) and line.steps == 20
        assert line.kept_final == sum(bool(k["final"]) for k in kept)
        assert line.kept_step == pd.Series([k["step"] for k in kept]).median()
        assert line.score_gain >= 0  # the kept check has the highest score, the final one included
    md = build_report([results], tmp_path / "report").read_text()
    assert f"## {TITLE}" in md and "source_val" in md


def test_without_in_run_selection_the_section_is_absent(results, tmp_path):
    plain = tmp_path / "plain"
    shutil.copytree(results, plain)
    shutil.rmtree(ResultsDir(plain).selection_tables)
    assert read_selection_tables([plain]) is None
    assert TITLE not in build_report([plain], tmp_path / "report").read_text()


def test_a_table_of_another_cell_is_refused_by_the_reader(results, tmp_path):
    first, second = sorted(ResultsDir(results).selection_files())[:2]
    impostor = tmp_path / second.name
    shutil.copy(first, impostor)  # the first cell's checks under the second cell's name
    with pytest.raises(DamagedFile, match="another cell"):
        read_selection_table(impostor)
