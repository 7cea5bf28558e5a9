"""Leaderboard tables: methods x domain pairs, mean [95% CI] over seeds, best marked, Avg and rank.

Missing values: methods with no ``ok`` result in a table still get a row (showing why: failed,
missing, ...) but take no part in ``Avg`` and rank. ``Avg`` and the average rank are computed only
over the *complete* pairs: those where every compared method has a value, so that every method is
averaged over the same pairs. The table's note names the pairs left out.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench.analysis.report.data import NOT_OK, higher_is_better
from bench.analysis.report.stats import Estimate, bootstrap_mean

AVG, RANK = "Avg", "Avg rank"


@dataclass
class MetricTable:
    metric: str
    methods: list[str]
    pairs: list[str]
    est: dict[tuple[str, str], Estimate]
    status: dict[tuple[str, str], str]  # e.g. "1 failed" or "missing" for non-ok rows in a cell
    complete_pairs: list[str]
    avg: dict[str, float]
    rank: dict[str, float]
    best: set[tuple[str, str]] = field(default_factory=set)
    not_applicable: dict[str, str] = field(default_factory=dict)  # method -> why it was skipped

    @property
    def higher_better(self) -> bool:
        return higher_is_better(self.metric)

    def note(self, name=str) -> str:
        """What the table leaves out and why; ``name`` writes a method or pair (Markdown escaping)."""
        parts = []
        left_out = [p for p in self.pairs if p not in self.complete_pairs]
        if left_out:
            parts.append(f"{AVG} and rank over {len(self.complete_pairs)} of {len(self.pairs)} pairs "
                         f"(left out, some method lacks a value: {', '.join(map(name, left_out))})")
        no_value = [m for m in self.methods if m not in self.avg]
        if no_value:
            parts.append(f"no {AVG}/rank for {', '.join(map(name, no_value))} (no ok result)")
        if self.not_applicable:
            parts.append("not applicable here, skipped by design (reasons in the status section): "
                         + ", ".join(map(name, self.not_applicable)))
        return "; ".join(parts)


def _status_text(rows: pd.DataFrame) -> str:
    counts = rows[rows["status"].isin(NOT_OK)]["status"].value_counts()
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


def metric_table(part: pd.DataFrame, metric: str) -> MetricTable:
    """The table of ``metric`` for one (backbone, budget) slice of the results."""
    hib = higher_is_better(metric)
    pairs = sorted(part["pair"].unique())
    est, status, not_applicable = {}, {}, {}
    methods = []
    for method, rows in part.groupby("method", sort=True):
        if (rows["status"] == "skipped").all():
            not_applicable[method] = str(rows["error"].iloc[0] or "skipped")
            continue
        methods.append(method)
        for pair, cell in rows.groupby("pair"):
            ok = cell[cell["status"] == "ok"]
            if len(ok) and ok[metric].notna().any():
                est[(method, pair)] = bootstrap_mean(ok[metric])
            text = _status_text(cell)
            if text:
                status[(method, pair)] = text
    compared = [m for m in methods if any((m, p) in est for p in pairs)]
    complete = [p for p in pairs if all((m, p) in est for m in compared)]
    means = pd.DataFrame({p: {m: est[(m, p)].mean for m in compared} for p in complete}, index=compared)
    avg, rank = {}, {}
    if complete and compared:
        avg = means.mean(axis=1).to_dict()
        rank = means.rank(axis=0, ascending=not hib, method="average").mean(axis=1).to_dict()
    table = MetricTable(metric, methods, pairs, est, status, complete, avg, rank,
                        not_applicable=not_applicable)
    table.best = _best_cells(table)
    return table


def _best_cells(t: MetricTable) -> set[tuple[str, str]]:
    """Every (method, column) holding the best value of its column (ties all marked)."""
    pick = max if t.higher_better else min
    best = set()
    for p in t.pairs:
        vals = {m: t.est[(m, p)].mean for m in t.methods if (m, p) in t.est}
        if vals:
            top = pick(vals.values())
            best |= {(m, p) for m, v in vals.items() if math.isclose(v, top, abs_tol=1e-9)}
    for col, vals, fn in ((AVG, t.avg, pick), (RANK, t.rank, min)):
        if vals:
            top = fn(vals.values())
            best |= {(m, col) for m, v in vals.items() if math.isclose(v, top, abs_tol=1e-9)}
    return best


def fmt_cell(t: MetricTable, method: str, pair: str, digits: int = 1) -> str:
    """``85.2 [84.1, 86.3] n=3``, plus what did not finish; ``missing`` when nothing is there."""
    e = t.est.get((method, pair))
    st = t.status.get((method, pair), "")
    if e is None:
        return st or "missing"
    ci = "" if np.isnan(e.lo) else f" [{e.lo:.{digits}f}, {e.hi:.{digits}f}]"
    text = f"{e.mean:.{digits}f}{ci} n={e.n}"
    return f"{text} ({st})" if st else text


def display_frame(t: MetricTable) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(text, bold mask): one row per method, the pairs, then ``Avg`` and ``Avg rank``."""
    cols = t.pairs + [AVG, RANK]
    text = pd.DataFrame(index=pd.Index(t.methods, name="method"), columns=cols, dtype=object)
    for m in t.methods:
        for p in t.pairs:
            text.at[m, p] = fmt_cell(t, m, p)
        text.at[m, AVG] = f"{t.avg[m]:.1f}" if m in t.avg else "-"
        text.at[m, RANK] = f"{t.rank[m]:.2f}" if m in t.rank else "-"
    bold = pd.DataFrame(False, index=text.index, columns=cols)
    for m, c in t.best:
        bold.at[m, c] = True
    return text, bold


def numeric_frame(t: MetricTable) -> pd.DataFrame:
    """Machine-readable table for CSV: mean, CI bounds and n per pair, then Avg and rank."""
    rows = []
    for m in t.methods:
        row = {"method": m}
        for p in t.pairs:
            e = t.est.get((m, p), Estimate(math.nan, math.nan, math.nan, 0))
            row.update({f"{p} mean": e.mean, f"{p} ci_lo": e.lo, f"{p} ci_hi": e.hi, f"{p} n": e.n,
                        f"{p} status": t.status.get((m, p), "")})
        row[AVG], row[RANK] = t.avg.get(m, math.nan), t.rank.get(m, math.nan)
        rows.append(row)
    return pd.DataFrame(rows)


COST_COLUMNS = {  # column -> (heading, scale)
    "trainable_params": ("trainable params", 1.0),
    "total_params": ("total params", 1.0),
    "peak_mem_allocated_bytes": ("peak memory (MiB)", 1 / 2**20),
    "train_samples_per_s": ("train samples/s", 1.0),
    "infer_samples_per_s": ("inference samples/s", 1.0),
    "adapt_wall_s": ("adaptation wall (s)", 1.0),
}


def cost_frame(part: pd.DataFrame) -> pd.DataFrame:
    """Per method: mean cost over its ok cells (all pairs and seeds), with the number of cells."""
    ok = part[part["status"] == "ok"]
    rows = []
    for method, rows_m in ok.groupby("method", sort=True):
        row = {"method": method}
        for col, (head, scale) in COST_COLUMNS.items():
            row[head] = rows_m[col].astype(float).mean() * scale
        row["memory kind"] = ",".join(sorted(rows_m["mem_kind"].dropna().unique()))
        row["cells"] = len(rows_m)
        rows.append(row)
    return pd.DataFrame(rows).set_index("method") if rows else pd.DataFrame()


def fmt_cost(df: pd.DataFrame) -> pd.DataFrame:
    def f(v):
        if isinstance(v, str):
            return v
        if pd.isna(v):
            return "-"
        return f"{v:,.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:.2f}"
    return df.apply(lambda col: col.map(f)) if not df.empty else df
