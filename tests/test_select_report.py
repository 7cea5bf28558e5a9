"""``bench report --select`` and ``bench compare --select`` on planted results directories with
checkpoint tables: titles name the rule, the regret / validator-quality / aggregates sections appear,
``last`` is unchanged by trials and checkpoints, and compare selects both sides by the same rule."""
from __future__ import annotations

import shutil

import pandas as pd
from click.testing import CliRunner

from bench.cli import main
from bench.analysis.compare import compare
from bench.analysis.report import build_report
from bench.analysis.report.select import CHECKPOINT_DIR
from tests.report_rows import row, write

PAIRS = ["synth-digits->digits", "digits->synth-digits"]
SEEDS = (0, 1, 2)


def planted_dir(path, trials=3, shift=0.0, with_search=True):
    """source_only (no checkpoints) and dann with ``trials`` trials x 3 checkpoints per seed. On every
    seed, trial 1 step 2 is best by target accuracy and by source_val; snd prefers trial 0's last."""
    rows, ck = [], []
    for pair in PAIRS:
        for seed in SEEDS:
            rows.append({**row("source_only", pair, seed, 60.0 + seed + shift), "trial": 0})
            for trial in range(trials if with_search else 1):
                r = row("dann", pair, seed, 0.0)
                r["cell_key"] = f"dann-{pair.replace('->', '_')}-{seed}-{trial}"
                r["hparams"] = '{"lr": %s}' % (0.01 * (trial + 1))
                r["trial"] = trial
                accs = [62.0 + seed, 64.0 + seed, 66.0 + seed]
                if trial == 1:
                    accs[1] = 80.0 + seed
                for step, acc in enumerate(accs, 1):
                    ck.append({"cell_key": r["cell_key"], "step": step * 10, "final": step == 3,
                               "target_acc": acc + shift, "source_acc": 88.0,
                               "score_source_val": 1.0 if (trial, step) == (1, 2) else 0.0,
                               "score_snd": 1.0 if (trial, step) == (0, 3) else 0.0})
                r["target_acc"], r["target_gain"] = accs[-1] + shift, accs[-1] + shift - 50.0
                rows.append(r)
    # an older results directory: no trial recorded (null), no checkpoint tables
    write(path, rows if with_search else [{**r, "trial": None} for r in rows])
    (path / CHECKPOINT_DIR).mkdir(exist_ok=True)
    ckf = pd.DataFrame(ck)
    for key, g in ckf.groupby("cell_key"):
        g.to_parquet(path / CHECKPOINT_DIR / f"{key}.parquet")
    return path


def table(out, name):
    return pd.read_csv(out / "tables" / f"{name}.csv").set_index("method")


def test_report_select_rule_picks_and_names_the_rule(tmp_path):
    res = planted_dir(tmp_path / "res")
    md = build_report([res], tmp_path / "rep", rule="source_val").read_text()
    t = table(tmp_path / "rep", "target_acc__small_cnn__budget-10__select-source_val")
    for pair in PAIRS:  # trial 1, step 2 on every seed: 80, 81, 82
        assert t.at["dann", f"{pair} mean"] == 81.0 and t.at["source_only", f"{pair} mean"] == 61.0
    titles = [line for line in md.splitlines() if line.startswith("### ")]
    assert titles and all("selection: source_val" in t or "selection regret" in t or "validator quality" in t
                          for t in titles)
    assert "### selection regret" in md and "### validator quality" in md
    assert "### aggregates across pairs" in md and "oracle" not in t.index.str.cat()


def test_regret_and_aggregates_tables_in_the_report(tmp_path):
    res = planted_dir(tmp_path / "res")
    build_report([res], tmp_path / "rep", rule="snd")
    reg = pd.read_csv(tmp_path / "rep" / "tables" / "regret__small_cnn__budget-10.csv")
    reg = reg.set_index(["method", "rule"])
    assert reg.at[("dann", "source_val"), "regret"] == 0.0      # it found the oracle's pick
    assert reg.at[("dann", "snd"), "regret"] == 14.0             # 80+s vs 66+s
    assert reg.at[("dann", "last"), "regret"] == 14.0
    agg = table(tmp_path / "rep", "aggregates__target_acc__small_cnn__budget-10__snd")
    assert agg.at["dann", "p_improve"] == 1.0 and agg.at["dann", "avg_rank"] == 1.0
    assert agg.at["source_only", "iqm"] == 61.0


def test_oracle_is_labelled_in_every_table(tmp_path):
    res = planted_dir(tmp_path / "res")
    md = build_report([res], tmp_path / "rep", rule="oracle").read_text()
    t = table(tmp_path / "rep", "target_acc__small_cnn__budget-10__select-oracle")
    assert "dann [oracle selection]" in t.index and "source_only" in t.index  # source_only: no selection
    heads = [line for line in md.splitlines() if line.startswith("### ") and "target_acc," in line]
    assert heads and all("ORACLE" in h for h in heads)


def test_last_ignores_trials_and_checkpoints(tmp_path):
    """Rule last on a directory with a search and checkpoints = the same directory with trial 0 only
    and no checkpoint files (an old results directory): identical tables."""
    full = planted_dir(tmp_path / "full")
    old = planted_dir(tmp_path / "old", with_search=False)
    shutil.rmtree(old / CHECKPOINT_DIR)
    build_report([full], tmp_path / "a")
    build_report([old], tmp_path / "b")
    for name in ("target_acc__small_cnn__budget-10", "forgetting__small_cnn__budget-10"):
        pd.testing.assert_frame_equal(table(tmp_path / "a", name), table(tmp_path / "b", name))
    assert "dann" in table(tmp_path / "a", "target_acc__small_cnn__budget-10").index  # one label, not per lr


def test_cli_report_select_and_errors(tmp_path):
    res = planted_dir(tmp_path / "res")
    old = write(tmp_path / "old", [row("dann", PAIRS[0], s, 70.0) for s in SEEDS])
    runner = CliRunner()
    r = runner.invoke(main, ["report", str(res), "--out", str(tmp_path / "rep"), "--select", "dev"])
    assert r.exit_code != 0 and "score_dev" in r.output         # no such score: says which exist
    r = runner.invoke(main, ["report", str(res), "--out", str(tmp_path / "rep"), "--select", "snd"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["report", str(old), "--out", str(tmp_path / "rep2"), "--select", "snd"])
    assert r.exit_code == 2 and "--select last" in r.output
    r = runner.invoke(main, ["report", str(res), "--select", "help"])
    assert r.exit_code == 0 and "oracle" in r.output and "source_val" in r.output


def test_compare_uses_the_same_rule_on_both_sides(tmp_path):
    """A candidate whose every checkpoint is 5 points lower: a regression under every rule; under
    source_val both sides pick trial 1 step 2 and the delta is exactly -5."""
    base = planted_dir(tmp_path / "base")
    cand = planted_dir(tmp_path / "cand", shift=-5.0)
    for rule in ("last", "source_val", "snd"):
        cmp = compare(base, cand, rule=rule)
        dann = cmp.rows[(cmp.rows["strategy"] == "dann") & (cmp.rows["metric"] == "target_acc")]
        assert len(dann) == len(PAIRS) and (dann["delta"] == "-5.00").all(), dann
        assert (dann["verdict"] == "REGRESSION").all() and any(rule in n for n in cmp.notes)
    same = compare(base, base, rule="source_val")
    assert same.exit_code == 0
    rows = same.rows[same.rows["metric"] == "target_acc"].set_index(["strategy", "pair"])
    assert rows.at[("dann", PAIRS[0]), "baseline"] == "81.0"    # selected, not trial 0's 66.0
    r = CliRunner().invoke(main, ["compare", str(base), str(cand), "--select", "snd"])
    assert r.exit_code == 1 and "snd" in r.output
    old = write(tmp_path / "old", [row("dann", PAIRS[0], s, 70.0) for s in SEEDS])
    r = CliRunner().invoke(main, ["compare", str(old), str(old), "--select", "snd"])
    assert r.exit_code == 2 and "checkpoint" in r.output
