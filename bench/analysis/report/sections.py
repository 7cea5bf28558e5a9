"""Report sections for model selection and aggregates: the aggregates table (IQM, probability of
improvement over source_only, average rank), the selection-regret table and the validator-quality
table, each as report blocks (see ``bench.analysis.report.render``) plus CSV / LaTeX files."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from bench.analysis.report import render
from bench.analysis.report.aggregate import BASELINE, CI_METHOD, aggregate
from bench.analysis.report.data import higher_is_better
from bench.analysis.report.rules import ORACLE, RULES
from bench.analysis.report.select import describe
from bench.analysis.report.selection_tables import ALL, regret, rules_present, validator_quality


def _slug(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "__".join(parts)).strip("_")


def rule_title(rule: str) -> str:
    """The selection part of every table title: ``selection: source_val``, the oracle flagged."""
    if rule == ORACLE:
        return "selection: oracle [ORACLE: picks by target-test labels, analysis only]"
    return f"selection: {rule}"


def _plain(text: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(False, index=text.index, columns=text.columns)


def _ci(v: float, lo: float, hi: float, digits: int) -> str:
    if pd.isna(v):
        return "-"
    return f"{v:.{digits}f}" + ("" if pd.isna(lo) else f" [{lo:.{digits}f}, {hi:.{digits}f}]")


def aggregate_blocks(out: Path, part: pd.DataFrame, metric: str, rule: str, backbone: str,
                     budget: str) -> list[tuple]:
    """IQM, P(improvement over source_only) and average rank across the pairs of one slice."""
    ok = part[(part["status"] == "ok") & part[metric].notna()]
    if ok.empty or ok["pair"].nunique() == 0:
        return []
    base = sorted(m for m in ok["method"].unique() if ok.loc[ok["method"] == m, "strategy"].iloc[0] == BASELINE)
    t = aggregate(ok, metric, baseline=base[0] if len(base) == 1 else BASELINE,
                  higher_is_better=higher_is_better(metric))
    if t.empty:
        return []
    digits = 1
    text = pd.DataFrame({
        "IQM [95% CI]": [_ci(r.iqm, r.iqm_lo, r.iqm_hi, digits) for r in t.itertuples()],
        f"P(> {BASELINE}) [95% CI]": [_ci(r.p_improve, r.p_lo, r.p_hi, 2) for r in t.itertuples()],
        "Avg rank [95% CI]": [_ci(r.avg_rank, r.rank_lo, r.rank_hi, 2) for r in t.itertuples()],
        "pairs": t["tasks"].astype(str).tolist(), "runs": t["runs"].astype(str).tolist()},
        index=pd.Index(t["method"], name="method"))
    bold = _plain(text)
    bold.iloc[:, 0] = (t["iqm"] == (t["iqm"].max() if higher_is_better(metric) else t["iqm"].min())).to_numpy()
    bold.iloc[:, 2] = (t["avg_rank"] == t["avg_rank"].min()).to_numpy()
    caption = f"aggregates across pairs, {metric}, {backbone}, label budget {budget}, {rule_title(rule)}"
    render.write_table(out, _slug("aggregates", metric, backbone, f"budget-{budget}", rule), text, bold,
                       t, caption)
    pairs = int(t["tasks"].iloc[0])
    note = (f"Over the {pairs} pair(s) where every method has a value; runs = seeds x pairs pooled. "
            "IQM: mean of the middle 50% of the runs. P(> source_only): probability that a run of the "
            "method beats a run of source_only on the same pair (0.5 = no difference), averaged over "
            f"pairs. Avg rank: 1 = best, per pair by seed mean. CI: {CI_METHOD}. Computed with "
            "numpy/scipy after Agarwal et al. (rliable does not install in a working state here).")
    return [("h3", caption), ("table", text, bold), ("p", note)]


def _signed(v: float) -> str:
    text = f"{v:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text


def _pivot(long: pd.DataFrame, rules: list[str], cell) -> pd.DataFrame:
    methods = sorted(m for m in long["method"].unique() if m != ALL) + [ALL]
    text = pd.DataFrame("-", index=pd.Index(methods, name="method"), columns=rules, dtype=object)
    for r in long.itertuples(index=False):
        text.at[r.method, r.rule] = cell(r)
    return text


def selection_blocks(out: Path, raw: pd.DataFrame, checkpoints: pd.DataFrame | None, backbone: str,
                     budget: str) -> list[tuple]:
    """The regret and validator-quality tables of one (backbone, budget) slice of raw rows (every
    trial); empty when the slice has no checkpoint tables."""
    if checkpoints is None or raw.empty:
        return []
    ck = checkpoints[checkpoints["cell_key"].isin(raw["cell_key"])]
    validators = rules_present(ck)
    if ck.empty:
        return []
    title = f"{backbone}, label budget {budget}"
    blocks: list[tuple] = []
    rules = ["last"] + validators
    reg = regret(raw, ck, rules)
    if not reg.empty:
        text = _pivot(reg, rules, lambda r: f"{r.selected_acc:.1f} ({_signed(-r.regret)})")
        oracle = reg.groupby("method")["oracle_acc"].first()
        text[ORACLE] = [f"{oracle.get(m, float('nan')):.1f}" for m in text.index]
        caption = (f"selection regret, target_acc, {title}, rules: {', '.join(rules)} vs "
                   "oracle [ORACLE: target-test labels, analysis only]")
        render.write_table(out, _slug("regret", backbone, f"budget-{budget}"), text, _plain(text), reg, caption)
        blocks += [("h3", caption), ("table", text, _plain(text)),
                   ("p", "Each cell: mean target accuracy of the rule's pick (over pairs and seeds), and "
                         "in brackets minus the regret: how many points it falls short of the oracle's "
                         "pick from the same trials and checkpoints (0 = as good as peeking at test "
                         "labels). `last` = trial 0's final weights, no selection. Rules: "
                         + "; ".join(describe(r) for r in rules) + ".")]
    qual = validator_quality(raw, ck, validators)
    if not qual.empty:
        text = _pivot(qual, validators, lambda r: f"{r.kendall:+.2f} / {r.spearman:+.2f} (n={r.groups})").T
        text.index.name = "validator"
        caption = f"validator quality, {title}: rank correlation of each score with target-test accuracy"
        render.write_table(out, _slug("validator_quality", backbone, f"budget-{budget}"), text,
                           _plain(text), qual, caption)
        blocks += [("h3", caption), ("table", text, _plain(text)),
                   ("p", "Kendall tau-b / Spearman rho between the validator's score (higher = better; "
                         "entropy and DEV negated) and target-test accuracy, over every trial's every "
                         "checkpoint of one (strategy, pair, seed), averaged over n such groups. "
                         "+1: orders checkpoints as the test labels would; 0: chance.")]
    return blocks


def rules_help() -> str:
    return "; ".join(f"{k}: {v}" for k, v in RULES.items())
