"""Comparison tables from results: strategies x domain pairs, mean +- std over seeds, an Avg column.

One table per (backbone, label budget). Cells that did not finish ok are counted and listed, never
silently dropped.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from bench.reference import reference_section
from bench.results import read_results


def strategy_label(strategy: str, hparams: str, all_hparams: set[str]) -> str:
    """``lora`` when a strategy appears with one set of hyper-parameters, else ``lora(rank=4)``."""
    if len(all_hparams) <= 1:
        return strategy
    hp = json.loads(hparams)
    shown = ",".join(f"{k}={v}" for k, v in sorted(hp.items()) if v is not None)
    return f"{strategy}({shown})" if shown else strategy


def with_labels(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["pair"] = df["source_domain"] + "->" + df["target_domain"]
    variants = df.groupby("strategy")["hparams"].agg(lambda s: set(s))
    df["method"] = [strategy_label(s, h, variants[s]) for s, h in zip(df["strategy"], df["hparams"])]
    return df


def metric_table(df: pd.DataFrame, metric: str = "target_acc") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(mean, std) frames: methods as rows, pairs as columns, plus ``Avg`` (mean over pairs)."""
    ok = df[df["status"] == "ok"]
    grouped = ok.groupby(["method", "pair"])[metric]
    mean = grouped.mean().unstack("pair")
    std = grouped.std(ddof=1).unstack("pair")
    mean["Avg"] = mean.mean(axis=1, skipna=False)
    return mean, std


def format_table(mean: pd.DataFrame, std: pd.DataFrame, seeds: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=mean.index)
    for col in mean.columns:
        vals = []
        for m in mean.index:
            mu = mean.at[m, col]
            if pd.isna(mu):
                vals.append("n/a")
            elif col == "Avg":
                vals.append(f"{mu:.1f}")
            else:
                sd = std.at[m, col] if col in std.columns else np.nan
                n = seeds.at[m, col] if col in seeds.columns else 0
                vals.append(f"{mu:.1f} ± {sd:.1f} (n={n})" if not pd.isna(sd) else f"{mu:.1f} (n={n})")
        out[col] = vals
    return out


def build_report(results: list[str | Path], out: str | Path, metric: str = "target_acc") -> Path:
    """Write ``README.md`` and ``tables/*.csv`` under ``out``; returns the Markdown path."""
    out = Path(out)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    df = read_results(results)
    lines = [f"# transfer-bench report", "", f"Results: {', '.join(map(str, results))} "
             f"({len(df)} cells). Metric: `{metric}` in percent, mean ± std over seeds "
             "(n = seeds that finished ok); `Avg` is the mean over pairs.", ""]
    if df.empty:
        lines.append("No results yet.")
    else:
        df = with_labels(df)
        for (backbone, budget), part in df.groupby(["backbone", "label_budget"], sort=True):
            mean, std = metric_table(part, metric)
            seeds = part[part["status"] == "ok"].groupby(["method", "pair"]).size().unstack("pair")
            if mean.empty:
                continue
            table = format_table(mean, std, seeds)
            name = f"{metric}__{backbone}__budget-{budget}".replace("/", "_")
            mean.to_csv(out / "tables" / f"{name}__mean.csv")
            std.to_csv(out / "tables" / f"{name}__std.csv")
            lines += [f"## {backbone}, label budget {budget}", "", table.to_markdown(), ""]
        lines += reference_section(df)
        lines += _status_section(df)
    path = out / "README.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _status_section(df: pd.DataFrame) -> list[str]:
    counts = df["status"].value_counts().to_dict()
    lines = ["## Cell status", "", ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())), ""]
    bad = df[~df["status"].isin(["ok", "skipped"])]
    if not bad.empty:
        lines += ["| method | pair | budget | seed | status | error |", "|---|---|---|---|---|---|"]
        for r in bad.itertuples():
            err = (r.error or "").splitlines()[0][:120] if r.error else ""
            lines.append(f"| {r.method} | {r.pair} | {r.label_budget} | {r.seed} | {r.status} | {err} |")
    return lines
