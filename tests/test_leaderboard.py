"""The leaderboard's data (what index.html embeds) against bench report and bench compare on a
planted history, and its handling of old results; the page itself is tested in a real browser in
test_leaderboard_browser.py."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from bench.analysis.compare import checks, compare, judge
from bench.analysis.leaderboard.data import build, seeds_of
from bench.analysis.leaderboard.page import write
from bench.analysis.report import build_report
from bench.analysis.report.stats import pareto_front
from bench.results import read_results
from tests.leaderboard_rows import METHODS, PAIRS, REGRESSED, write_history
from tests.report_rows import row, write as write_rows


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("lb")
    dirs = write_history(root)
    return root, dirs, build(dirs)


def test_cell_numbers_equal_bench_reports_tables(planted):
    root, dirs, payload = planted
    build_report(dirs, root / "report")
    for metric, key in (("target_acc", "acc"), ("forgetting", "forgetting"), ("target_gain", "gain")):
        csv = pd.read_csv(root / "report" / "tables" / f"{metric}__small_cnn__budget-10.csv").set_index("method")
        cells = {(c["method"], c["pair"]): c for c in payload["cells"] if c["rule"] == "last"}
        assert {m for m, _ in cells} == set(csv.index)
        for (m, p), c in cells.items():
            assert c[key] == pytest.approx(csv.at[m, f"{p} mean"], abs=1e-3), (metric, m, p)
            if key == "acc":
                assert c["acc_lo"] == pytest.approx(csv.at[m, f"{p} ci_lo"], abs=1e-3)
                assert c["acc_hi"] == pytest.approx(csv.at[m, f"{p} ci_hi"], abs=1e-3)
                assert c["n"] == csv.at[m, f"{p} n"]
        if metric == "target_acc":
            ranking = {r["method"]: r for r in payload["ranking"] if r["rule"] == "last" and r["rank"]}
            for m in csv.index:
                assert ranking[m]["rank"] == pytest.approx(csv.at[m, "Avg rank"], abs=1e-3)
                assert ranking[m]["avg"] == pytest.approx(csv.at[m, "Avg"], abs=1e-3)
                assert ranking[m]["agg"] == pytest.approx(expected_aggregate(dirs[-1], m), abs=1e-3)


def expected_aggregate(newest, method: str) -> float:
    """IQM of the method's ok runs pooled over pairs (bench.analysis.report.aggregate), or before it exists
    the mean of per-pair seed means (the report's Avg)."""
    from scipy.stats import trim_mean

    from bench.analysis.leaderboard.adapters import AGGREGATE_KIND

    rows = read_results(newest)
    ok = rows[(rows["status"] == "ok") & (rows["strategy"] == method)]
    if AGGREGATE_KIND == "IQM":
        return trim_mean(ok["target_acc"], 0.25)
    return ok.groupby("target_domain")["target_acc"].mean().mean()


def test_the_newest_night_and_its_failed_and_skipped_cells(planted):
    _, _, payload = planted
    cid = f"small_cnn|10|-|-|full_finetune|{PAIRS[1]}"
    cell = next(c for c in payload["cells"] if c["id"] == cid)
    assert cell["status"] == "1 failed" and cell["n"] == 3     # the failed seed is not averaged
    assert seeds_of(payload, cid) == [0, 1, 2, 3]                # ...but the drill-down lists it
    skipped = [r for r in payload["ranking"] if r["method"] == "dann"]
    assert skipped and skipped[0]["rank"] is None and "skipped" in skipped[0]["note"]
    prov = payload["drill"][cid]["provenance"]
    assert prov["device"] == ["cpu: test"] and prov["commit"] == ["x"] and prov["run"] == ["run-1"]


def test_history_flags_what_bench_compare_flags(planted):
    _, dirs, payload = planted
    flagged = {(r["id"].split("|")[4], r["id"].split("|")[5], r["metric"])
               for r in payload["regressions"] if r["verdict"] == "REGRESSION"}
    by_compare = {(r.strategy, r.pair, r.metric) for r in compare(dirs[0], dirs[1]).regressions.itertuples()}
    assert flagged == by_compare and (REGRESSED[0], REGRESSED[1], "target_acc") in flagged
    series = payload["history"]["last"][f"small_cnn|10|-|-|{REGRESSED[0]}|{REGRESSED[1]}"]
    assert [p[0] for p in series] == [0, 1] and series[0][1] - series[1][1] == pytest.approx(10)


def test_fast_verdicts_equal_the_full_bootstrap():
    rng = np.random.default_rng(0)
    for _ in range(200):
        base = rng.normal(70, rng.uniform(0.1, 3), 3)
        cand = base + rng.normal(rng.uniform(-5, 5), 1, 3)
        for chk in checks():
            assert judge(chk, base, cand, fast=True)[1] == judge(chk, base, cand)[1]


def test_pareto_points_are_the_methods_and_the_front_is_pareto_front(planted):
    _, _, payload = planted
    points = payload["pareto"]["last|small_cnn|10|-|-"]
    assert sorted(p["method"] for p in points) == sorted(METHODS)
    x = np.array([p["mem"] for p in points])
    y = np.array([p["acc"] for p in points])
    assert [p["mem_front"] for p in points] == list(pareto_front(x, y))
    # planted: more memory buys more accuracy, so every method is on the memory front
    assert all(p["mem_front"] for p in points)


def test_old_results_without_new_identity_columns_and_a_published_reference(tmp_path):
    old = [row(m, "office31/amazon->office31/webcam", s, 70 + s + i, backbone="timm/resnet50", budget="0")
           for i, m in enumerate(["source_only", "dann"]) for s in range(2)]
    write_rows(tmp_path / "old", old)
    payload = build([tmp_path / "old"])
    assert {c["precision"] for c in payload["cells"]} == {"-"} and {c["protocol"] for c in payload["cells"]} == {"-"}
    refs = {r["method"]: r for r in payload["references"]}
    assert refs["dann"]["published"] == 86.1 and refs["dann"]["measured"] == pytest.approx((71 + 72) / 2)
    assert refs["mcc"]["measured"] is None and refs["mcc"]["pairs"] == 0


def test_the_page_is_self_contained(planted, tmp_path):
    _, dirs, _ = planted
    page = write(dirs, tmp_path / "site").read_text()
    assert not re.search(r"<script[^>]+src=", page) and not re.search(r"<link[^>]+href=", page)
    assert "Plotly" in page and "lb-data" in page


def test_history_joins_old_snapshots_that_lack_precision_and_protocol(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bench.results import SCHEMA

    old = [row("dann", PAIRS[0], s, 70.0 + s, day=0) for s in range(3)]
    old_schema = pa.schema([f for f in SCHEMA if f.name not in ("precision", "protocol")],
                           metadata=SCHEMA.metadata)
    (tmp_path / "old").mkdir()
    pq.write_table(pa.Table.from_pylist(old, schema=old_schema), tmp_path / "old" / "rows.parquet")
    new = [row("dann", PAIRS[0], s, 70.5 + s, day=1) | {"precision": "fp32", "protocol": "two_stage"}
           for s in range(3)]
    schema = SCHEMA
    for name in ("precision", "protocol"):   # columns other issues add to SCHEMA; old files lack them
        schema = schema if name in schema.names else schema.append(pa.field(name, pa.string()))
    (tmp_path / "new").mkdir()
    pq.write_table(pa.Table.from_pylist(new, schema=schema), tmp_path / "new" / "rows.parquet")
    payload = build([tmp_path / "old", tmp_path / "new"])
    assert list(payload["history"]["last"]) == [f"small_cnn|10|fp32|two_stage|dann|{PAIRS[0]}"]
    assert [p[0] for p in next(iter(payload["history"]["last"].values()))] == [0, 1]
    assert {c["precision"] for c in payload["cells"]} == {"fp32"}   # the newest snapshot's cell
