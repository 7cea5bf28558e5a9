"""Leaderboard report on hand-made results whose right answers are known from the inputs."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bench.analysis.report import build_report
from bench.analysis.report.data import latest, load
from bench.analysis.report.stats import bootstrap_mean
from bench.analysis.report.tables import AVG, RANK, display_frame, metric_table
from tests.report_rows import row, write

pytestmark = pytest.mark.numeric  # float results: `make test-numeric` reruns these on other kernels

A, B = "synth-digits->digits", "digits->digits-c/gaussian_noise"
VALUES = {  # method -> pair -> accuracies over seeds 0, 1, 2
    "full_finetune": {A: [80, 82, 81], B: [70, 71, 69]},
    "linear_probe": {A: [85, 86, 84], B: [60, 62, 61]},
    "source_only": {A: [70, 70, 71], B: [72, 74, 73]},
}


def rows_from(values, **kw):
    return [row(m, p, s, v, **kw) for m, per in values.items() for p, vs in per.items()
            for s, v in enumerate(vs)]


@pytest.fixture
def table(tmp_path):
    write(tmp_path / "r", rows_from(VALUES))
    return metric_table(load([tmp_path / "r"]), "target_acc")


def test_means_avg_rank_and_best_match_a_direct_computation(table):
    means = pd.DataFrame({p: {m: np.mean(VALUES[m][p]) for m in VALUES} for p in (A, B)})
    for m in VALUES:
        for p in (A, B):
            assert table.est[(m, p)].mean == pytest.approx(means.at[m, p])
            assert table.est[(m, p)].n == 3
        assert table.avg[m] == pytest.approx(means.loc[m].mean())
    ranks = means.rank(ascending=False).mean(axis=1)
    assert table.rank == pytest.approx(ranks.to_dict())
    columns = {p: means[p] for p in (A, B)} | {AVG: means.mean(axis=1), RANK: -ranks}
    expected_best = {(m, c) for c, col in columns.items() for m in col.index if col[m] == col.max()}
    assert table.best == expected_best
    text, bold = display_frame(table)
    assert bold.to_numpy().sum() == len(expected_best)
    assert text.at["linear_probe", A].startswith(f"{np.mean(VALUES['linear_probe'][A]):.1f} [")


def test_confidence_interval_matches_scipy_percentile_bootstrap(table):
    vals = VALUES["full_finetune"][A]
    ref = stats.bootstrap((np.array(vals, float),), np.mean, method="percentile", n_resamples=20_000,
                          random_state=1).confidence_interval
    e = table.est[("full_finetune", A)]
    assert e.lo == pytest.approx(ref.low, abs=0.2) and e.hi == pytest.approx(ref.high, abs=0.2)
    assert min(vals) <= e.lo < np.mean(vals) < e.hi <= max(vals)
    single = bootstrap_mean([5.0])
    assert single.mean == 5.0 and np.isnan(single.lo)


def test_forgetting_best_is_the_lowest(tmp_path):
    rows = [row("full_finetune", A, s, 80, forgetting=f) for s, f in enumerate([5, 6, 7])]
    rows += [row("linear_probe", A, s, 80, forgetting=f) for s, f in enumerate([1, 2, 3])]
    t = metric_table(load([write(tmp_path / "r", rows)]), "forgetting")
    assert ("linear_probe", A) in t.best and ("full_finetune", A) not in t.best
    assert t.rank["linear_probe"] == 1


def test_failed_missing_and_skipped_cells_are_shown_not_dropped(tmp_path):
    rows = rows_from(VALUES)
    rows = [r for r in rows if not (r["strategy"] == "source_only" and r["target_domain"] != "digits")]
    rows.append(row("gradual_unfreeze", A, 0, 0, status="failed"))
    skip = row("target_only", A, 0, 0, status="skipped")
    skip["error"] = "target_only needs target labels and the label budget is 0"
    rows.append(skip)
    t = metric_table(load([write(tmp_path / "r", rows)]), "target_acc")
    text, _ = display_frame(t)
    assert text.at["source_only", B] == "missing"
    assert "1 failed" in text.at["gradual_unfreeze", A]
    assert "target_only" not in text.index and "target_only" in t.note()
    # Avg and rank only over the pair every compared method has; the note names the left-out pair
    assert t.complete_pairs == [A]
    assert t.avg["full_finetune"] == pytest.approx(np.mean(VALUES["full_finetune"][A]))
    assert B in t.note() and "gradual_unfreeze" not in t.avg


def test_declared_but_unfinished_cells_are_missing(tmp_path):
    from bench.run.runner import write_run_record
    from bench.plan.suite import load_suite
    from bench.plan.cells import expand

    suite = load_suite("suites/smoke.yaml")
    (tmp_path / "r").mkdir()
    write_run_record(suite, tmp_path / "r", "x", "cpu", 0, cells=expand(suite))
    df = load([tmp_path / "r"])
    assert len(df) == len(expand(suite)) and set(df["status"]) == {"missing"}
    assert set(df["cell_key"]) == {c.key() for c in expand(suite)}
    assert set(df["protocol_hash"]) == {c.protocol_hash() for c in expand(suite)}


def test_report_files_trend_and_latest_standing(tmp_path):
    old = write(tmp_path / "night1", rows_from(VALUES, day=0))
    shifted = {m: {p: [v - 10 for v in vs] for p, vs in per.items()} for m, per in VALUES.items()}
    new = write(tmp_path / "night2", rows_from(shifted, day=1))
    df = load([new, old])  # given out of order: time decides which is newest
    assert set(latest(df)["snapshot"]) == {str(new)}
    out = tmp_path / "rep"
    md = build_report([old, new], out)
    text = md.read_text()
    newest_ff = f"{np.mean(shifted['full_finetune'][A]):.1f} ["
    assert newest_ff in text and "Leaderboard over time" in text and "night1" in text
    assert "**" in text  # the best cells are marked
    html = (out / "index.html").read_text()
    assert "data:image/png;base64," in html and "http://" not in html and "https://" not in html
    tex = (out / "tables" / "target_acc__small_cnn__budget-10.tex").read_text()
    assert "\\toprule" in tex and "\\bfseries" in tex and "full\\_finetune" in tex
    csv = pd.read_csv(out / "tables" / "target_acc__small_cnn__budget-10.csv")
    assert list(csv["method"]) == sorted(VALUES)
    assert (out / "plots" / "trend__small_cnn__budget-10.png").stat().st_size > 0
    assert any(p.name.startswith("pareto__") for p in (out / "plots").iterdir())


def test_filters_and_unknown_metric(tmp_path):
    d = write(tmp_path / "r", rows_from(VALUES))
    md = build_report([d], tmp_path / "rep", strategies=["linear_probe"], pairs=[A]).read_text()
    assert "linear_probe" in md and "full_finetune" not in md and B not in md
    with pytest.raises(ValueError, match="not a results column"):
        build_report([d], tmp_path / "rep2", metric="nope")


def test_rows_of_different_protocols_are_never_pooled(tmp_path):
    """A 5-step and a 60-step run of one strategy: two labelled methods, each with its own seeds."""
    d = write(tmp_path / "r", [row("dann", A, s, 60.0, protocol="steps5") for s in range(2)]
              + [row("dann", A, s, 90.0, protocol="steps60") for s in range(2)])
    df = load([d])
    assert df["method"].nunique() == 2 and all("[protocol" in m for m in df["method"])
    assert set(df.groupby("method")["seed"].count()) == {2}


def test_a_protocol_that_differs_only_per_pair_is_one_method(tmp_path):
    """A suite's per-pair settings (TLL's lr per direction) give each pair its own protocol hash,
    but one method per pair: one row with both pairs and an Avg. A clash inside one pair still
    splits the method everywhere."""
    rows = [row("dann", A, s, 60.0, protocol="lr0.01") for s in range(2)]
    rows += [row("dann", B, s, 80.0, protocol="lr0.1") for s in range(2)]
    table = metric_table(load([write(tmp_path / "r", rows)]), "target_acc")
    assert table.methods == ["dann"] and table.avg["dann"] == pytest.approx(70.0)
    clash = rows + [row("dann", A, 2, 90.0, protocol="lr0.1")]
    df = load([write(tmp_path / "c", clash)])
    assert df["method"].nunique() == 2 and all("[protocol" in m for m in df["method"])


def test_tables_option_prints_mean_and_sd_under_its_command(tmp_path):
    from click.testing import CliRunner

    from bench.cli import main

    d = write(tmp_path / "r", [row("dann", A, s, 60.0 + 2 * s) for s in range(3)]
              + [row("source_only", A, s, 50.0) for s in range(3)])
    out = CliRunner().invoke(main, ["report", str(d), "--tables", "target_acc,forgetting"])
    assert out.exit_code == 0, out.output
    assert out.output.startswith(f"Generated by: `bench report {d} --tables target_acc,forgetting`")
    assert "| dann" in out.output and "62.0 ± 2.00" in out.output and "50.0 ± 0.00" in out.output
    bad = CliRunner().invoke(main, ["report", str(d), "--tables", "no_such_column"])
    assert bad.exit_code == 2 and "no_such_column" in bad.output


def test_tables_take_numbers_from_extra_and_bytes_as_mib(tmp_path):
    from click.testing import CliRunner

    from bench.cli import main

    rows = [row("lora", A, s, 60.0) for s in range(2)]
    for s, r in enumerate(rows):
        r["extra"] = json.dumps({"footprint_bytes": (100 + 2 * s) * 2**20, "adapt_step_s": 0.5})
    d = write(tmp_path / "r", rows)
    out = CliRunner().invoke(main, ["report", str(d), "--tables", "footprint_mib,adapt_step_s,peak_mem_allocated_mib"])
    assert out.exit_code == 0, out.output
    line = next(x for x in out.output.splitlines() if x.startswith("| lora"))
    # footprint 100 and 102 MiB: mean 101, sd sqrt(2); the step time from extra; the column in MiB
    assert "101.0 ± 1.41" in line and "0.50 ± 0.00" in line and "100.0 ± 0.00" in line, line
    bad = CliRunner().invoke(main, ["report", str(d), "--tables", "no_such_mib"])
    assert bad.exit_code == 2 and "no_such_mib" in bad.output
