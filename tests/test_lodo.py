"""DomainBed's leave-one-domain-out cross-validation (issue 21 item 4): the suite's
``lodo_validation: true`` adds the validation cells without touching the main cells' keys, and the
report's ``leave_one_out`` rule picks, per held-out domain, the (trial, step) whose validation
cells' mean accuracy is highest. The planted accuracies make every pick a hand computation."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from bench.analysis.reference import DOMAINBED, domainbed_published
from bench.analysis.report import build_report
from bench.analysis.report.lodo import LODO, validation_only, with_lodo_scores, LODO_COLUMN
from bench.analysis.report.select import CHECKPOINT_DIR, select
from bench.plan.cells import expand, stable_hash
from bench.plan.suite import Suite
from tests.report_rows import row, write

CMNIST = list(DOMAINBED["datasets"]["ColoredMNIST"]["domains"])
# per main cell (held-out domain index i): target_acc and score_source_val at (trial, step)
MAIN_ACC = {(0, 10): 80.0, (0, 20): 30.0, (1, 10): 40.0, (1, 20): 20.0}  # + i
SOURCE_VAL = {(0, 10): 10.0, (0, 20): 90.0, (1, 10): 10.0, (1, 20): 10.0}
# the two validation cells of every main cell (its first and second source as the target)
VAL_ACC = [{(0, 10): 50.0, (0, 20): 50.0, (1, 10): 70.0, (1, 20): 99.0},
           {(0, 10): 60.0, (0, 20): 40.0, (1, 10): 60.0}]  # step 20 of trial 1 missing
# leave-one-out scores, by hand: (0,10) 55, (0,20) 45, (1,10) 65, (1,20) none (a step is missing)
LODO_PICK, SOURCE_VAL_PICK, ORACLE_PICK = (1, 10), (0, 20), (0, 10)


def _cell(pair: str, trial: int, accs: dict, scores: dict | None = None) -> tuple[dict, list[dict]]:
    steps = {s: a for (t, s), a in accs.items() if t == trial}
    r = {**row("erm", pair, 0, steps[max(steps)], backbone="small_cnn", budget="0"), "trial": trial}
    r["cell_key"] = stable_hash({"pair": pair, "trial": trial})
    ck = [{"cell_key": r["cell_key"], "step": s, "final": s == max(steps), "target_acc": a, "source_acc": 90.0,
           "score_source_val": (scores or {}).get((trial, s), 0.0)} for s, a in steps.items()]
    return r, ck


def planted(path, drop=()):
    """ColoredMNIST, erm, trials 0 and 1, one seed; ``drop``: (held-out, validation domain, trial)
    validation cells left out."""
    rows, cks = [], []
    for i, held in enumerate(CMNIST):
        sources = [d for d in CMNIST if d != held]
        for trial in (0, 1):
            main = {k: v + i for k, v in MAIN_ACC.items()}
            cells = [_cell("+".join(sources) + "->" + held, trial, main, SOURCE_VAL)]
            for v, accs in zip(sources, VAL_ACC):
                if (held, v, trial) not in drop:
                    cells.append(_cell("+".join(d for d in sources if d != v) + "->" + v, trial, accs))
            for r, ck in cells:
                rows.append(r)
                cks += ck
    write(path, rows)
    (path / CHECKPOINT_DIR).mkdir()
    ck = pd.DataFrame(cks)
    for key, part in ck.groupby("cell_key"):
        part.to_parquet(path / CHECKPOINT_DIR / f"{key}.parquet")
    return pd.DataFrame(rows), ck


def test_lodo_validation_adds_cells_and_keeps_the_main_cells_keys():
    base = dict(name="lodo", backbones=[{"name": "mlp"}], strategies=["erm"], label_budgets=[0],
                protocol="joint", adapt={"steps": 4})
    doms = ["moons", "moons-rot/30", "moons-rot/60"]
    plain = expand(Suite(**base, pairs=[{"leave_one_out": doms}]))
    more = expand(Suite(**base, pairs=[{"leave_one_out": doms, "lodo_validation": True}]))
    assert [c.key() for c in more[:len(plain)]] == [c.key() for c in plain]
    extra = {(c.source_domain, c.target_domain) for c in more[len(plain):]}
    # k (k - 1) validation cells: all but (t, v) as sources, v as the target
    assert extra == {("+".join(d for d in doms if d not in (t, v)), v) for t in doms for v in doms if v != t}
    with pytest.raises(ValueError, match="at least three"):
        Suite(**base, pairs=[{"leave_one_out": doms[:2], "lodo_validation": True}])


def test_leave_one_out_picks_the_best_mean_of_the_validation_cells(tmp_path):
    rows, ck = planted(tmp_path)
    for rule, (trial, step) in ((LODO, LODO_PICK), ("source_val", SOURCE_VAL_PICK), ("oracle", ORACLE_PICK)):
        chosen = select(rows, ck, rule)
        for i, held in enumerate(CMNIST):
            got = chosen[(chosen["target_domain"] == held) & chosen["source_domain"].str.contains("+", regex=False)]
            assert len(got) == 1 and got.iloc[0]["status"] == "ok", rule
            assert (got.iloc[0]["selected_trial"], got.iloc[0]["selected_step"]) == (trial, step), rule
            assert got.iloc[0]["target_acc"] == MAIN_ACC[(trial, step)] + i
    scored = with_lodo_scores(rows, ck)
    mains = scored[scored[LODO_COLUMN].notna()]
    assert sorted(mains[LODO_COLUMN].unique()) == [45.0, 55.0, 65.0]  # the hand means above
    # validation cells have no validation cells of their own: no score, a skipped row saying why
    single = select(rows, ck, LODO)
    single = single[~single["source_domain"].str.contains("+", regex=False)]
    assert (single["status"] == "skipped").all() and single["error"].str.contains("lodo_validation").all()


def test_a_trial_missing_a_validation_cell_is_never_picked(tmp_path):
    rows, ck = planted(tmp_path, drop={(CMNIST[0], CMNIST[2], 1)})
    chosen = select(rows, ck, LODO).set_index(["source_domain", "target_domain"])
    first = chosen.loc[("+".join(CMNIST[1:]), CMNIST[0])]
    assert (first["selected_trial"], first["selected_step"]) == (0, 10)  # trial 1 lost its score
    second = chosen.loc[(CMNIST[0] + "+" + CMNIST[2], CMNIST[1])]
    assert (second["selected_trial"], second["selected_step"]) == LODO_PICK


def test_the_report_shows_the_lodo_table_beside_domainbeds(tmp_path):
    planted(tmp_path / "res")
    md = build_report([tmp_path / "res"], tmp_path / "rep").read_text()
    assert "leave-one-domain-out cross-validation" in md
    slug = f"domainbed__ColoredMNIST__small_cnn__budget-0__{LODO}"
    table = pd.read_csv(tmp_path / "rep" / "tables" / f"{slug}.csv").set_index("domain")
    published = domainbed_published("ColoredMNIST", LODO, "erm")
    want = {held: MAIN_ACC[LODO_PICK] + i for i, held in enumerate(CMNIST)}
    for held, acc in want.items():
        assert table.at[held, "mean"] == acc and table.at[held, "published"] == published[held]
    assert math.isclose(table.at["Avg", "mean"], sum(want.values()) / 3)


def test_validation_cells_are_recognised_as_such():
    doms = ["a", "b", "c", "d"]
    pairs = [("+".join(d for d in doms if d != t), t) for t in doms]
    helpers = [("+".join(d for d in doms if d not in (t, v)), v) for t in doms for v in doms if v != t]
    frame = pd.DataFrame([{"source_domain": s, "target_domain": t} for s, t in pairs + helpers])
    assert validation_only(frame).tolist() == [False] * len(pairs) + [True] * len(helpers)


DOMS = ["moons", "moons-rot/30", "moons-rot/60"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny leave-one-out run with validation cells, and each cell's target_acc by step."""
    from bench.run.api import run

    res_dir = tmp_path_factory.mktemp("lodo") / "res"
    suite = {"name": "lodo-run", "backbones": [{"name": "mlp", "kwargs": {"hidden": 8}}], "strategies": ["erm"],
             "pairs": [{"leave_one_out": DOMS, "lodo_validation": True}], "label_budgets": [0], "seeds": [0],
             "protocol": "joint", "checkpoints": 3, "threads": 1, "device": "cpu",
             "adapt": {"steps": 6, "batch_size": 8, "lr": 0.01}}
    res = run(suite, res_dir)
    assert len(res) == 3 + 6 and (res["status"] == "ok").all(), res["error"].tolist()
    ck = pd.read_parquet(res_dir / CHECKPOINT_DIR)
    acc = {(r.source_domain, r.target_domain): ck[ck["cell_key"] == r.cell_key].set_index("step")["target_acc"]
           for r in res.itertuples()}
    return res_dir, acc


def _lodo_pick(acc: dict, held: str) -> float:
    """By hand: the held-out domain's own accuracy at the step of the best validation mean."""
    sources = [d for d in DOMS if d != held]
    main = acc[("+".join(sources), held)]
    score = sum(acc[("+".join(d for d in sources if d != v), v)] for v in sources) / len(sources)
    best = score[score == score.max()].index.min()  # ties: the earlier step
    return main[best]


def test_a_tiny_run_with_validation_cells_gives_the_lodo_table_its_checkpoints_imply(tiny_run, tmp_path):
    res_dir, acc = tiny_run
    build_report([res_dir], tmp_path / "rep")
    slug = f"domainbed__{'_'.join(sorted(DOMS))}__mlp__budget-0__{LODO}".replace("/", "_")
    table = pd.read_csv(tmp_path / "rep" / "tables" / f"{slug}.csv").set_index("domain")
    for held in DOMS:
        assert math.isclose(table.at[held, "mean"], _lodo_pick(acc, held), abs_tol=1e-9)


def test_select_leave_one_out_gives_the_ordinary_tables_the_lodo_picks(tiny_run, tmp_path):
    """``bench report DIR --select leave_one_out``: the per-pair target_acc table holds, for each
    held-out domain, its own accuracy at the best validation mean's step; the validation cells have
    no score of their own and are skipped rows saying why."""
    from click.testing import CliRunner

    from bench.cli import main

    res_dir, acc = tiny_run
    r = CliRunner().invoke(main, ["report", str(res_dir), "--out", str(tmp_path / "rep"), "--select", LODO])
    assert r.exit_code == 0, r.output
    table = pd.read_csv(tmp_path / "rep" / "tables" / f"target_acc__mlp__budget-0__select-{LODO}.csv")
    erm = table[table["method"].str.startswith("erm")]  # "erm [joint]": the protocol is labelled
    assert len(erm) == 1, table["method"].tolist()
    mains = {"+".join(d for d in DOMS if d != held) + "->" + held: held for held in DOMS}
    for pair, held in mains.items():
        assert math.isclose(erm.iloc[0][f"{pair} mean"], _lodo_pick(acc, held), abs_tol=1e-9), pair
    # the validation cells are the rule's inputs: no column of their own
    assert {c.rsplit(" ", 1)[0] for c in table.columns if c.endswith(" mean")} == set(mains)
    md = (tmp_path / "rep" / "README.md").read_text()
    assert f"selection: {LODO}" in md
    r = CliRunner().invoke(main, ["report", str(res_dir), "--tables", "target_acc", "--select", LODO])
    assert r.exit_code == 0 and f"selection: {LODO}" in r.output, r.output
    assert all(f"**mlp, {pair}," in r.output for pair in mains) and "Not ok" not in r.output


def test_select_leave_one_out_without_validation_cells_says_which_setting_makes_them(tmp_path):
    from click.testing import CliRunner

    from bench.cli import main

    dropped = {(held, v, trial) for held in CMNIST for v in CMNIST for trial in (0, 1)}
    planted(tmp_path / "res", drop=dropped)  # main cells with checkpoints, no validation cell
    for args in (["--out", str(tmp_path / "rep")], ["--tables", "target_acc"]):
        r = CliRunner().invoke(main, ["report", str(tmp_path / "res"), *args, "--select", LODO])
        assert r.exit_code == 2, r.output
        lines = r.output.strip().splitlines()
        assert len(lines) == 1 and "lodo_validation: true" in lines[0] and "checkpoints" in lines[0], lines
    r = CliRunner().invoke(main, ["report", str(tmp_path / "res"), "--select", "help"])
    assert r.exit_code == 0 and LODO in r.output
