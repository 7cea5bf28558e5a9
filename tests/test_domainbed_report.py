"""The report's DomainBed layout (issue 21 item 5): for multi-source cells one table per dataset and
selection rule (training-domain validation = ``source_val``, test-domain validation = ``oracle``),
one row per algorithm, one column per held-out domain plus Avg, mean ± standard error over seeds,
DomainBed's published numbers beside ours. Every expected number is computed here from the rows and
checkpoint tables the run wrote, or taken from ``bench.analysis.reference``; none is a number seen
on one machine."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bench.analysis.reference import DOMAINBED, domainbed_columns, domainbed_missing, domainbed_published, domainbed_row
from bench.analysis.report import build_report
from bench.analysis.report.select import CHECKPOINT_DIR
from bench.run.api import run
from tests.report_rows import row, write

DOMS = ["moons", "moons-rot/30", "moons-rot/60"]
DATASET = ", ".join(sorted(DOMS))
SEEDS = (0, 1)


def tiny_suite():
    return {"name": "dg-report", "backbones": [{"name": "mlp", "kwargs": {"hidden": 8}}],
            "strategies": ["erm", {"name": "vrex", "anneal_steps": 2}],
            "pairs": [{"leave_one_out": DOMS}], "label_budgets": [0], "seeds": list(SEEDS),
            "protocol": "joint", "checkpoints": 3, "threads": 1, "device": "cpu",
            "adapt": {"steps": 6, "batch_size": 8, "lr": 0.01}}


def layout_csv(out, rule, dataset=DATASET, backbone="mlp"):
    slug = f"domainbed__{dataset}__{backbone}__budget-0__{rule}".replace(", ", "_").replace("/", "_")
    return pd.read_csv(out / "tables" / f"{slug}.csv")


def expected(res: pd.DataFrame, ck: pd.DataFrame, rule_column: str) -> dict:
    """(strategy, held-out domain) -> the target accuracies of each seed's best checkpoint by
    ``rule_column`` (ties: the earlier step), read from what the run wrote."""
    picks = {}
    for r in res.itertuples():
        mine = ck[ck["cell_key"] == r.cell_key].sort_values("step", kind="stable")
        best = mine.loc[mine[rule_column].idxmax()]
        picks.setdefault((r.strategy, r.target_domain), []).append(best["target_acc"])
    return picks


def test_a_tiny_leave_one_out_run_gives_one_row_per_algorithm_one_column_per_domain(tmp_path):
    res = run(tiny_suite(), tmp_path / "res")
    assert (res["status"] == "ok").all(), res["error"].tolist()
    ck = pd.read_parquet(tmp_path / "res" / CHECKPOINT_DIR)
    md = build_report([tmp_path / "res"], tmp_path / "rep").read_text()
    assert "## Domain generalization, DomainBed's layout" in md
    for rule, column in (("source_val", "score_source_val"), ("oracle", "target_acc")):
        table = layout_csv(tmp_path / "rep", rule)
        assert sorted(table["algorithm"].unique()) == ["erm", "vrex"]
        assert sorted(table["domain"].unique()) == sorted(DOMS + ["Avg"])
        assert len(table) == 2 * (len(DOMS) + 1)
        for (strategy, domain), accs in expected(res, ck, column).items():
            got = table[(table["algorithm"] == strategy) & (table["domain"] == domain)].iloc[0]
            accs = np.array(accs)
            assert got["n"] == len(SEEDS)
            assert math.isclose(got["mean"], accs.mean(), abs_tol=1e-9)
            assert math.isclose(got["se"], accs.std() / math.sqrt(len(accs)), abs_tol=1e-9)
        for strategy in ("erm", "vrex"):
            mine = table[table["algorithm"] == strategy].set_index("domain")
            assert math.isclose(mine.at["Avg", "mean"], mine.loc[DOMS, "mean"].mean(), abs_tol=1e-9)
        assert table["published"].isna().all()  # moons is no DomainBed dataset
    assert "test-domain validation set (oracle)" in md and "ORACLE" in md


def test_a_planted_checkpoint_is_placed_in_its_row_and_column(tmp_path):
    res = run({**tiny_suite(), "strategies": ["erm"]}, tmp_path / "res")
    cell = res[(res["target_domain"] == "moons-rot/30") & (res["seed"] == 1)].iloc[0]
    path = tmp_path / "res" / CHECKPOINT_DIR / f"{cell.cell_key}.parquet"
    ck = pd.read_parquet(path)
    ck.loc[0, "score_source_val"] = ck["score_source_val"].max() + 1.0  # training-domain validation's pick
    ck.loc[0, "target_acc"] = 3.25
    ck.to_parquet(path)
    other = res[(res["target_domain"] == "moons-rot/30") & (res["seed"] == 0)].iloc[0]
    other_ck = pd.read_parquet(tmp_path / "res" / CHECKPOINT_DIR / f"{other.cell_key}.parquet")
    other_acc = other_ck.sort_values("step").loc[other_ck["score_source_val"].idxmax(), "target_acc"]
    build_report([tmp_path / "res"], tmp_path / "rep")
    table = layout_csv(tmp_path / "rep", "source_val").set_index(["algorithm", "domain"])
    assert math.isclose(table.at[("erm", "moons-rot/30"), "mean"], (3.25 + other_acc) / 2, abs_tol=1e-9)
    # two seeds: population std |a - b| / 2, over sqrt(2)
    assert math.isclose(table.at[("erm", "moons-rot/30"), "se"], abs(3.25 - other_acc) / (2 * math.sqrt(2)),
                        abs_tol=1e-9)


def planted_cmnist(path, accs, checkpoints=True, selection="last", dataset="ColoredMNIST",
                   backbone="small_cnn", strategy="erm"):
    """``strategy`` on a DomainBed dataset's held-out domains (ColoredMNIST's three unless told),
    one checkpoint each: ``accs[domain][seed]``."""
    domains = list(DOMAINBED["datasets"][dataset]["domains"])
    rows, ck = [], []
    for target, per_seed in accs.items():
        pair = "+".join(d for d in domains if d != target) + "->" + target
        for seed, acc in enumerate(per_seed):
            r = {**row(strategy, pair, seed, acc, backbone=backbone, budget="0"), "selection_rule": selection}
            rows.append(r)
            ck.append({"cell_key": r["cell_key"], "step": 10, "final": True, "target_acc": acc,
                       "source_acc": 90.0, "score_source_val": 50.0})
    write(path, rows)
    (path / CHECKPOINT_DIR).mkdir()
    for c in ck if checkpoints else []:
        pd.DataFrame([c]).to_parquet(path / CHECKPOINT_DIR / f"{c['cell_key']}.parquet")
    return path


def test_published_numbers_sit_beside_ours_with_the_difference(tmp_path):
    accs = {"cmnist/90": [70.0, 72.0, 74.0], "cmnist/80": [60.0, 61.0, 62.0], "cmnist/-90": [12.0, 14.0, 16.0]}
    md = build_report([planted_cmnist(tmp_path / "res", accs)], tmp_path / "rep").read_text()
    for rule in ("source_val", "oracle"):
        table = layout_csv(tmp_path / "rep", rule, "ColoredMNIST", "small_cnn").set_index("domain")
        published = domainbed_published("ColoredMNIST", rule, "erm")
        for domain, values in accs.items():
            assert table.at[domain, "mean"] == np.mean(values)
            assert table.at[domain, "published"] == published[domain]
            assert math.isclose(table.at[domain, "difference"], np.mean(values) - published[domain])
        avg = np.mean([np.mean(v) for v in accs.values()])
        assert math.isclose(table.at["Avg", "mean"], avg) and table.at["Avg", "published"] == published["Avg"]
    # the Markdown table: DomainBed's column labels, and "ours ± se (published, difference)"
    header = next(line for line in md.splitlines() if line.startswith("| algorithm") and "+90%" in line)
    assert [c.strip() for c in header.strip("|").split("|")] == ["algorithm", "+90%", "+80%", "-90%", "Avg"]
    pub = domainbed_published("ColoredMNIST", "source_val", "erm")["cmnist/-90"]
    se = np.std(accs["cmnist/-90"]) / math.sqrt(3)
    assert f"14.0 ± {se:.1f} ({pub:.1f}, {14.0 - pub:+.1f})" in md


def test_runs_without_checkpoints_show_their_in_run_source_val_and_no_oracle(tmp_path):
    accs = {"cmnist/90": [70.0], "cmnist/80": [60.0], "cmnist/-90": [12.0]}
    # recorded as a run with in-run selection source_val and no checkpoint tables
    path = planted_cmnist(tmp_path / "res", accs, checkpoints=False, selection="source_val")
    md = build_report([path], tmp_path / "rep").read_text()
    table = layout_csv(tmp_path / "rep", "source_val", "ColoredMNIST", "small_cnn").set_index("domain")
    assert table.at["cmnist/-90", "mean"] == 12.0 and math.isnan(table.at["cmnist/-90", "se"])
    assert "test-domain validation set (oracle) (selection: oracle" in md and "not available" in md


# --- VLCS: the published table has a domain (V = VOC2007) that vlcs-mini lacks ---------------------

VLCS_DOMAINS = ["vlcs-mini/caltech", "vlcs-mini/labelme", "vlcs-mini/sun"]


def test_every_published_row_has_one_value_per_column_and_its_avg():
    """Transcription check: every row is the table's columns then Avg, and Avg is the mean of the
    columns within DomainBed's rounding (Avg of the unrounded means, each shown to 0.1: <= 0.1)."""
    rules = ("source_val", "leave_one_out", "oracle")
    for dataset, ref in DOMAINBED["datasets"].items():
        columns = domainbed_columns(dataset)
        assert set(ref["domains"].values()) <= set(columns), dataset
        assert set(ref) >= set(rules), dataset
        for rule in rules:
            assert "erm" in ref[rule], (dataset, rule)
            for strategy, values in ref[rule].items():
                assert len(values) == len(columns) + 1, (dataset, rule, strategy)
                assert abs(sum(values[:-1]) / len(columns) - values[-1]) <= 0.1 + 1e-9, (dataset, rule, strategy)


def test_vlcs_reference_names_our_three_domains_and_keeps_vocs_column_apart():
    assert domainbed_columns("VLCS") == ("C", "L", "S", "V") and domainbed_missing("VLCS") == ("V",)
    assert domainbed_missing("ColoredMNIST") == () and domainbed_missing("RotatedMNIST") == ()
    row_ = domainbed_row("VLCS", "source_val", "erm")
    assert list(row_) == ["C", "L", "S", "V", "Avg"]
    published = domainbed_published("VLCS", "source_val", "erm")
    # our domains under the harness's names; no Avg: the published one is over C, L, S and V
    assert published == {"vlcs-mini/caltech": row_["C"], "vlcs-mini/labelme": row_["L"], "vlcs-mini/sun": row_["S"]}
    assert "Avg" in domainbed_published("ColoredMNIST", "source_val", "erm")
    # the suite's algorithms have a published row under every rule
    for rule in ("source_val", "leave_one_out", "oracle"):
        for strategy in ("erm", "dg_coral", "group_dro"):
            assert set(domainbed_published("VLCS", rule, strategy)) == set(VLCS_DOMAINS)


def test_vlcs_layout_shows_vocs_published_column_and_no_avg_difference(tmp_path):
    accs = {"vlcs-mini/caltech": [90.0, 94.0, 98.0], "vlcs-mini/labelme": [60.0, 62.0, 64.0],
            "vlcs-mini/sun": [70.0, 71.0, 75.0]}
    path = planted_cmnist(tmp_path / "res", accs, dataset="VLCS", backbone="lite0-imagenet", strategy="dg_coral")
    md = build_report([path], tmp_path / "rep").read_text()
    for rule in ("source_val", "oracle"):
        table = layout_csv(tmp_path / "rep", rule, "VLCS", "lite0-imagenet").set_index("domain")
        published, row_ = domainbed_published("VLCS", rule, "dg_coral"), domainbed_row("VLCS", rule, "dg_coral")
        for domain, values in accs.items():
            assert table.at[domain, "published"] == published[domain] and table.at[domain, "comparable"]
            assert math.isclose(table.at[domain, "difference"], np.mean(values) - published[domain])
        assert math.isclose(table.at["Avg", "mean"], np.mean([np.mean(v) for v in accs.values()]))
        assert table.at["Avg", "published"] == row_["Avg"] and not table.at["Avg", "comparable"]
        assert math.isnan(table.at["Avg", "difference"])
        assert table.at["V", "n"] == 0 and math.isnan(table.at["V", "mean"]) and table.at["V", "published"] == row_["V"]
    header = next(line for line in md.splitlines() if line.startswith("| algorithm") and "| V " in line)
    assert [c.strip() for c in header.strip("|").split("|")] == ["algorithm", "C", "L", "S", "V", "Avg"]
    row_ = domainbed_row("VLCS", "source_val", "dg_coral")
    line = next(line for line in md.splitlines() if line.startswith("| dg_coral") and f"({row_['V']:.1f})" in line)
    cells = [c.strip() for c in line.strip("|").split("|")]
    se = np.std(accs["vlcs-mini/caltech"]) / math.sqrt(3)
    assert cells[1] == f"94.0 ± {se:.1f} ({row_['C']:.1f}, {94.0 - row_['C']:+.1f})"
    assert cells[4] == f"- ({row_['V']:.1f})" and cells[5].endswith(f"({row_['Avg']:.1f} over C/L/S/V)")
    assert "compare per domain" in md
