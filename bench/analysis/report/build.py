"""Assemble the report: for each (backbone, label budget) the metric, forgetting and target-gain
tables, the cost table and the plots; then the trend over snapshots and the status of every cell.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from bench.analysis.reference import has_published_pair, reference_blocks
from bench.analysis.report import plots, render
from bench.analysis.report.cd import cd_blocks
from bench.analysis.report.data import (NOT_OK, apply_filters, groups, higher_is_better, label_methods,
                                        latest, load, snapshot_order)
from bench.analysis.report.domainbed import domainbed_blocks
from bench.analysis.report.in_run_selection import in_run_selection_blocks
from bench.analysis.report.lodo import tables_rows
from bench.analysis.report.rank_moves import RULE as MOVE_RULE, rank_moves
from bench.analysis.report.seeds_needed import seeds_blocks
from bench.analysis.report.sections import aggregate_blocks, rule_title, selection_blocks
from bench.analysis.report.select import SELECTION_GROUP, describe, read_checkpoints, select
from bench.analysis.report.rules import ORACLE
from bench.analysis.report.selection_tables import rules_present
from bench.analysis.report.stats import CI_METHOD
from bench.analysis.report.transferability import transferability_blocks
from bench.results import read_selection_tables
from bench.analysis.report.tables import cost_frame, display_frame, fmt_cost, metric_table, numeric_frame

SECONDARY = ("forgetting", "target_gain")


def _slug(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "__".join(parts)).strip("_")


def build_report(results: list[str | Path], out: str | Path, metric: str = "target_acc",
                 backbones=(), strategies=(), pairs=(), budgets=(), rule: str = "last") -> Path:
    """Write ``index.html``, ``README.md``, ``tables/*.csv|tex`` and ``plots/*.png`` under ``out``.

    ``rule``: the report-time selection rule (``bench.analysis.report.select``); ``last`` (no selection)
    needs no checkpoint tables and gives the numbers as recorded. Returns the Markdown path.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    everything = load(results)
    if not everything.empty:
        everything = apply_filters(everything, backbones, strategies, pairs, budgets)
        if metric not in everything.columns:
            raise ValueError(f"metric {metric!r} is not a results column; try target_acc, forgetting, "
                             "target_gain, source_acc_after")
    checkpoints = read_checkpoints(results, [str(d) for d in results])
    selected = everything
    if not everything.empty:  # raises SelectionError (a ValueError) when the rule cannot apply
        selected = label_methods(tables_rows(select(everything, checkpoints, rule), rule),
                                 by_hparams=rule == "last")
    blocks: list[tuple] = [("h1", f"transfer-bench report, {rule_title(rule)}")]
    blocks.append(("p", _intro(results, everything, metric) + f" Model selection: {describe(rule)}."))
    if everything.empty:
        blocks.append(("p", "No results match (none yet, or the filters exclude all)."))
    else:
        current = latest(selected)
        for backbone, budget in groups(current):
            part = current[(current["backbone"] == backbone) & (current["label_budget"] == budget)]
            blocks += _group_blocks(out, part, metric, backbone, budget, rule)
            blocks += aggregate_blocks(out, part, metric, rule, backbone, budget)
            blocks += cd_blocks(out, part, metric, higher_is_better(metric),
                                f"{backbone}, label budget {budget}, {rule_title(rule)}",
                                _table_slug(metric, backbone, f"budget-{budget}", rule=rule))
            blocks += seeds_blocks(out, part, metric, f"{backbone}, label budget {budget}, {rule_title(rule)}",
                                   _table_slug(metric, backbone, f"budget-{budget}", rule=rule))
            blocks += selection_blocks(out, _raw_rows(everything, part), checkpoints, backbone, budget)
        in_run = read_selection_tables(results, [str(d) for d in results])  # None: no cell selected in-run
        blocks += in_run_selection_blocks(latest(everything), in_run)
        blocks += transferability_blocks(current, out)  # empty unless rows carry the scores
        blocks += _trend_blocks(out, selected, metric, rule)
        blocks += reference_blocks(current, _rows_by_rule(everything, checkpoints))
        blocks += domainbed_blocks(out, everything, checkpoints, rule)  # multi-source cells only
        blocks += _status_blocks(latest(everything))
    md = out / "README.md"
    md.write_text(render.markdown(blocks))
    (out / "index.html").write_text(render.html_page(blocks, "transfer-bench report"))
    return md


def _intro(results, df: pd.DataFrame, metric: str) -> str:
    n_snap = df["snapshot"].nunique() if not df.empty else 0
    return (f"Results: {', '.join(render.md_code(r) for r in results)} ({len(df)} cells in {n_snap} snapshot(s); "
            f"each directory is one snapshot and the tables show the newest one of each cell). "
            f"Main metric: {render.md_code(metric)}. Each cell: mean [95% CI] n=seeds that finished ok; "
            f"CI: {CI_METHOD}. **Bold**: best in its column. `Avg` and `Avg rank` (1 = best) use only "
            "the pairs where every compared method has a value; failed or missing cells are shown as "
            "such and counted in the status section; methods that do not apply at a budget are "
            "listed under their table.")


def _rows_by_rule(everything: pd.DataFrame, checkpoints: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """The newest rows as the oracle and each label-free validator picks them, for the published
    references' per-rule columns; empty without checkpoint tables, or with no published pair here
    (then nothing is selected at all)."""
    if checkpoints is None or not has_published_pair(everything):
        return {}
    return {rule: latest(select(everything, checkpoints, rule)) for rule in [ORACLE] + rules_present(checkpoints)}


def _raw_rows(everything: pd.DataFrame, part: pd.DataFrame) -> pd.DataFrame:
    """Every trial's row behind the selected rows of ``part`` (same snapshot and selection group)."""
    keys = ["snapshot"] + SELECTION_GROUP
    return everything.merge(part[keys].drop_duplicates(), on=keys)


def _table_slug(*parts: str, rule: str) -> str:
    # rule 'last' keeps the file names reports always had
    return _slug(*parts) if rule == "last" else _slug(*parts, f"select-{rule}")


def _table_blocks(out: Path, part: pd.DataFrame, metric: str, backbone: str, budget: str,
                  rule: str) -> list[tuple]:
    t = metric_table(part, metric)
    if not t.methods:
        return []
    text, bold = display_frame(t)
    caption = f"{metric}, {backbone}, label budget {budget}, {rule_title(rule)}"
    render.write_table(out, _table_slug(metric, backbone, f"budget-{budget}", rule=rule), text, bold,
                       numeric_frame(t), caption)
    blocks = [("h3", caption), ("table", text, bold)]
    if t.note():
        blocks.append(("p", t.note(render.md_text)))
    return blocks


def _group_blocks(out: Path, part: pd.DataFrame, metric: str, backbone: str, budget: str,
                  rule: str = "last") -> list[tuple]:
    title = f"{backbone}, label budget {budget}"
    blocks: list[tuple] = [("h2", title)]
    for m in [metric] + [s for s in SECONDARY if s != metric]:
        blocks += _table_blocks(out, part, m, backbone, budget, rule)
    cost = cost_frame(part)
    if not cost.empty:
        shown = fmt_cost(cost)
        render.write_table(out, _table_slug("cost", backbone, f"budget-{budget}", rule=rule), shown,
                           pd.DataFrame(False, index=shown.index, columns=shown.columns), cost,
                           f"cost, {backbone}, label budget {budget}, {rule_title(rule)}")
        blocks += [("h3", f"cost, {title}, {rule_title(rule)}"),
                   ("table", shown, pd.DataFrame(False, index=shown.index, columns=shown.columns)),
                   ("p", "Mean over the method's ok cells (all pairs and seeds). Memory: peak of the "
                         "adaptation stage; `cpu_rss` is the process's resident memory (includes the "
                         "interpreter and libraries), `cuda` is torch's allocated memory. Throughput "
                         "timings on a shared machine are noisy.")]
    slug = _table_slug(backbone, f"budget-{budget}", rule=rule)
    title = f"{title}, {rule_title(rule)}"
    figs = [(plots.pareto(part, metric, f"{metric} vs cost: {title}"), f"pareto__{slug}.png",
             f"{metric} against peak memory, trainable parameters and throughput, Pareto front dashed"),
            (plots.forgetting_vs_gain(part, f"forgetting vs target gain: {title}"),
             f"forgetting_gain__{slug}.png", "forgetting against target gain per method and pair"),
            (plots.pair_bars(metric_table(part, metric), f"{metric} per pair, 95% CI: {title}"),
             f"bars__{slug}.png", f"{metric} per pair with 95% confidence intervals")]
    for fig, name, alt in figs:
        if fig is not None:
            blocks.append(("img", plots.save(fig, out / "plots" / name), alt))
    return blocks


def _trend_blocks(out: Path, df: pd.DataFrame, metric: str, rule: str = "last") -> list[tuple]:
    snaps = snapshot_order(df)
    blocks: list[tuple] = [("h2", "Leaderboard over time")]
    if len(snaps) < 2:
        return blocks + [("p", "One snapshot only: pass several results directories (e.g. one per "
                               "nightly run) to see each cell's trend.")]
    blocks.append(("p", f"Snapshots, oldest first: {', '.join(render.md_code(s) for s in snaps)}. Each value: "
                        f"mean {render.md_code(metric)} over the seeds that finished ok; `change` = newest minus the "
                        "one before it."))
    ok = df[df["status"] == "ok"]
    for backbone, budget in groups(ok):
        part = ok[(ok["backbone"] == backbone) & (ok["label_budget"] == budget)]
        table = part.pivot_table(index=["method", "pair"], columns="snapshot", values=metric, aggfunc="mean")
        table = table[[s for s in snaps if s in table.columns]]
        table["change"] = table.apply(_last_change, axis=1)
        text = table.apply(lambda col: col.map(lambda v: "-" if pd.isna(v) else f"{v:+.1f}" if col.name == "change" else f"{v:.1f}"))
        text.columns = [Path(c).name if c != "change" else c for c in text.columns]
        text.index = [f"{m} @ {p}" for m, p in text.index]
        text.index.name = "method @ pair"
        title = f"{backbone}, label budget {budget}"
        blocks += [("h3", f"trend, {title}, {rule_title(rule)}"), ("table", text, pd.DataFrame(False, index=text.index,
                                                                             columns=text.columns))]
        fig = plots.trend(part, metric, snaps, f"{metric} over snapshots: {title}")
        if fig is not None:
            name = f"trend__{_slug(backbone, f'budget-{budget}')}.png"
            blocks.append(("img", plots.save(fig, out / "plots" / name), f"{metric} trend, {title}"))
    return blocks + _move_blocks(ok, metric, rule)


def _move_blocks(ok: pd.DataFrame, metric: str, rule: str) -> list[tuple]:
    """Which methods changed places between consecutive snapshots, beyond noise first."""
    moves = rank_moves(ok, metric, higher_is_better(metric))
    head = [("h3", f"rank moves, {metric}, {rule_title(rule)}")]
    if moves.empty:
        return head + [("p", "No method overtook another between consecutive snapshots.")]
    verdict = moves["beyond_noise"].map(lambda b: "unknown (one seed)" if b is None else
                                        "beyond noise" if b else "within noise")
    moves = moves.assign(verdict=verdict, _o=verdict.map({"beyond noise": 0}).fillna(1))
    moves = moves.sort_values(["_o", "snapshot", "pair", "method"], kind="stable")
    text = pd.DataFrame({"snapshot": moves["snapshot"].map(lambda s: Path(s).name),
                         "pair": moves["pair"], "backbone": moves["backbone"],
                         "budget": moves["label_budget"], "method": moves["method"],
                         "overtook": moves["overtook"],
                         "lead": [f"{a:+.2f} -> {b:+.2f}" for a, b in zip(moves["lead_before"], moves["lead_now"])],
                         "noise": moves["noise"].map(lambda v: "-" if pd.isna(v) else f"{v:.2f}"),
                         "verdict": moves["verdict"]}).astype(str).reset_index(drop=True)
    bold = pd.DataFrame(False, index=text.index, columns=text.columns)
    bold["verdict"] = text["verdict"] == "beyond noise"
    n = int((text["verdict"] == "beyond noise").sum())
    return head + [("p", f"{len(text)} overtaking(s), {n} beyond noise. `lead`: the method's lead over the one "
                         f"it overtook (mean {render.md_code(metric)}, points), before -> now; {MOVE_RULE}."),
                   ("table", text, bold)]


def _last_change(row: pd.Series) -> float:
    vals = row.dropna()
    return vals.iloc[-1] - vals.iloc[-2] if len(vals) >= 2 else float("nan")


def _status_blocks(df: pd.DataFrame) -> list[tuple]:
    counts = df["status"].value_counts().to_dict()
    blocks: list[tuple] = [("h2", "Cell status"),
                           ("p", ", ".join(f"{render.md_text(k)}: {v}" for k, v in sorted(counts.items())))]
    skipped = df[df["status"] == "skipped"]
    if not skipped.empty:
        per = skipped.groupby(["method", "label_budget"]).size()
        blocks.append(("p", "Skipped by design (not applicable): " + "; ".join(
            f"{render.md_text(m)} at budget {render.md_text(b)} ({n} cells)" for (m, b), n in per.items())))
    bad = df[df["status"].isin(NOT_OK)]
    if not bad.empty:
        rows = bad[["backbone", "method", "pair", "label_budget", "seed", "status", "error"]].copy()
        rows["error"] = rows["error"].fillna("").map(lambda e: e.splitlines()[0][:140] if e else "")
        rows = rows.sort_values(["status", "backbone", "method", "pair", "seed"]).set_index("backbone")
        rows = rows.astype(str)
        blocks += [("h3", "Cells that did not finish ok"),
                   ("table", rows, pd.DataFrame(False, index=rows.index, columns=rows.columns))]
    return blocks

