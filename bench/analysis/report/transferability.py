"""How well does each transferability score predict the fine-tuned target accuracy? (torch-free)

For each pair, label budget and *axis* (a set of source models to rank), and each seed: Kendall's
tau-b between a score (computed before adaptation) and the target accuracy that the reference
strategy (``full_finetune`` by default) reached from the same source model, and whether the score's
top source model is a truly best one (top-1 hit). Over seeds: the mean tau with a percentile
bootstrap CI (:func:`bench.analysis.report.stats.bootstrap_mean`) and the hit rate.

Axes:
- ``all source models``: every backbone entry of the suite (backbones, widths, input sizes);
- ``source lengths of <b>``: the entries ``<b>@<steps>`` of one backbone trained for different
  source-stage lengths (``source_steps`` in the suite).
Across strategies there is no axis: all four scores are computed on the source model before
adaptation, so they are one number per source model and cannot rank strategies.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from bench.analysis.report.render import write_table
from bench.analysis.report.stats import bootstrap_mean

SCORES = ("logme", "leep", "nce", "hscore")
MIN_MODELS = 3  # with two models tau is +-1 by construction
NOTE = ("Kendall's tau-b between each score (before adaptation, on the source model and the "
        "budget's labelled target examples) and the target accuracy after `{ref}` from that source "
        "model: mean over seeds [95% percentile-bootstrap CI over seeds]; `hit` = share of seeds "
        "where the score's top source model is a best one by accuracy. **Bold**: the best tau in its "
        "row. No across-strategy axis: none of the four scores depends on the adapted model (all are "
        "computed before adaptation), so they cannot rank strategies.")


def per_seed(ok: pd.DataFrame, score: str, seed_models: list[str]) -> tuple[float, bool] | None:
    """(tau, top-1 hit) for one seed's rows (one per source model), or None if too few models."""
    part = ok[ok["backbone"].isin(seed_models)][["backbone", score, "target_acc"]].dropna()
    if part["backbone"].nunique() < MIN_MODELS:
        return None
    part = part.groupby("backbone").mean()
    if part[score].nunique() < 2 or part["target_acc"].nunique() < 2:
        return None  # tau is undefined for a constant ranking
    tau = float(kendalltau(part[score], part["target_acc"]).statistic)
    best_acc = part["target_acc"].max()
    hit = bool(part.loc[part[score].idxmax(), "target_acc"] == best_acc)
    return tau, hit


def axes(models: list[str]) -> dict[str, list[str]]:
    """``all source models`` plus one ``source lengths of <b>`` per backbone with several lengths."""
    out = {"all source models": sorted(models)}
    families: dict[str, list[str]] = {}
    for m in models:
        if "@" in m:
            families.setdefault(m.rsplit("@", 1)[0], []).append(m)
    for base, members in sorted(families.items()):
        if len(members) >= 2:
            out[f"source lengths of {base}"] = sorted(members)
    return out


def predictor_frame(rows: pd.DataFrame, reference: str = "full_finetune") -> pd.DataFrame:
    """One row per (pair, budget, axis, score): tau, its CI, seeds, hit rate, models ranked."""
    ok = rows[(rows["status"] == "ok") & (rows["strategy"] == reference)].copy()
    if ok.empty or not set(SCORES) & set(ok.columns):
        return pd.DataFrame()
    ok["pair"] = ok["source_domain"] + " -> " + ok["target_domain"]
    out = []
    for (pair, budget), part in ok.groupby(["pair", "label_budget"], sort=True):
        for axis, models in axes(sorted(part["backbone"].unique())).items():
            for score in SCORES:
                if score not in part.columns:
                    continue
                results = [r for _, seed_rows in part.groupby("seed")
                           if (r := per_seed(seed_rows, score, models)) is not None]
                if not results:
                    continue
                est = bootstrap_mean([t for t, _ in results])
                out.append({"pair": pair, "label_budget": budget, "axis": axis, "models": len(models),
                            "score": score, "tau": est.mean, "tau_lo": est.lo, "tau_hi": est.hi,
                            "seeds": est.n, "top1_hit": float(np.mean([h for _, h in results]))})
    return pd.DataFrame(out)


def _cell(r: pd.Series) -> str:
    ci = "" if math.isnan(r["tau_lo"]) else f" [{r['tau_lo']:+.2f}, {r['tau_hi']:+.2f}]"
    return f"{r['tau']:+.2f}{ci} hit {100 * r['top1_hit']:.0f}%"


def predictor_table(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(text, bold mask): rows ``pair | budget | axis (models, seeds)``, one column per score."""
    if frame.empty:
        return pd.DataFrame(), pd.DataFrame()
    frame = frame.assign(row=frame["pair"] + " | " + frame["label_budget"].astype(str) + " | "
                         + frame["axis"] + " (" + frame["models"].astype(str) + " models, "
                         + frame["seeds"].astype(str) + " seeds)")
    tau = frame.pivot(index="row", columns="score", values="tau")
    text = frame.assign(text=frame.apply(_cell, axis=1)).pivot(index="row", columns="score", values="text")
    cols = [s for s in SCORES if s in text.columns]
    text, tau = text[cols].fillna("-"), tau[cols]
    text.index.name = "pair | budget | axis"
    bold = tau.eq(tau.max(axis=1), axis=0) & tau.notna()
    return text, bold


def best_scores(frame: pd.DataFrame) -> pd.Series:
    """Mean tau of each score over every (pair, budget, axis) row: which predicts best overall."""
    return frame.groupby("score")["tau"].mean().sort_values(ascending=False) if not frame.empty else pd.Series()


def transferability_blocks(rows: pd.DataFrame, out: Path | None = None,
                           reference: str = "full_finetune") -> list[tuple]:
    """Report blocks (see ``bench.analysis.report.render``); empty when no row carries the scores. With
    ``out``, also ``tables/transferability.csv`` (one row per pair x budget x axis x score) and
    ``.tex``."""
    frame = predictor_frame(rows, reference)
    if frame.empty:
        return []
    text, bold = predictor_table(frame)
    if out is not None:
            write_table(Path(out), "transferability", text, bold, frame.set_index("pair"),
                    f"Kendall tau of transferability scores vs {reference} target accuracy")
    overall = ", ".join(f"`{s}` {t:+.2f}" for s, t in best_scores(frame).items())
    return [("h2", "Transferability: which score predicts the fine-tuned accuracy"),
            ("p", NOTE.format(ref=reference)), ("table", text, bold),
            ("p", f"Mean tau over the rows above, best first: {overall}.")]
