"""How good are the selection rules? The regret and validator-quality tables (report-time, torch-free).

**Selection regret** of a rule, for one selection group (backbone, strategy, pair, budget, seed)::

    regret(rule) = target_acc(oracle's pick) - target_acc(rule's pick)     >= 0, in points

``oracle`` picks the candidate (trial, checkpoint) with the highest target-test accuracy, so no rule
can beat it on the same candidates: the regret is what a rule loses by not seeing test labels
(DomainBed reports the same comparison as "oracle" vs "training-domain validation").

**Validator quality**: within each selection group, the rank correlation between a validator's
score and the target-test accuracy over all its candidates (every trial's every checkpoint):
Kendall's tau-b and Spearman's rho (``scipy.stats``). +1: the validator orders the checkpoints as
the test labels would; 0: no better than chance; negative: misleading. The table shows the mean over
groups (groups with fewer than 3 candidates or constant values have no correlation and are left out).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import kendalltau, spearmanr

from bench.analysis.report.rules import ORACLE, RULES, score_column
from bench.analysis.report.select import group_columns, select

ALL = "all methods"


def rules_present(checkpoints: pd.DataFrame | None) -> list[str]:
    """The validator rules (not ``last``, not ``oracle``) whose score column the checkpoints hold
    with at least one value."""
    if checkpoints is None:
        return []
    out = []
    for rule in RULES:
        if rule in ("last", ORACLE):
            continue
        col = score_column(rule)
        if col in checkpoints.columns and checkpoints[col].notna().any():
            out.append(rule)
    return out


def regret(rows: pd.DataFrame, checkpoints: pd.DataFrame, rules: list[str] | None = None,
           method_col: str = "strategy") -> pd.DataFrame:
    """Long table: one row per (method, rule) with the mean ``selected_acc`` of the rule's picks,
    the mean ``oracle_acc``, the mean ``regret`` (paired per group) and the number of ``groups``;
    plus one ``all methods`` row per rule. ``rules`` default: ``last`` and every validator present.
    Only groups with checkpoint tables count (methods without adaptation steps have no choice)."""
    rules = ["last"] + rules_present(checkpoints) if rules is None else rules
    oracle = select(rows, checkpoints, ORACLE)
    keys = group_columns(oracle)
    # only groups with checkpoints: a cell with no adaptation steps (source_only) has nothing to select
    oracle = oracle[(oracle["status"] == "ok") & oracle["selected_step"].notna()]
    oracle = oracle[list(dict.fromkeys(keys + [method_col, "target_acc"]))]
    frames = []
    for rule in rules:
        picked = select(rows, checkpoints, rule)
        picked = picked[picked["status"] == "ok"][keys + ["target_acc"]]
        both = oracle.merge(picked, on=keys, suffixes=("_oracle", ""))
        both["rule"] = rule
        frames.append(both)
    if not frames:
        return pd.DataFrame(columns=["method", "rule", "selected_acc", "oracle_acc", "regret", "groups"])
    long = pd.concat(frames, ignore_index=True)
    long["regret"] = long["target_acc_oracle"] - long["target_acc"]
    long = pd.concat([long, long.assign(**{method_col: ALL})], ignore_index=True)
    out = long.groupby([method_col, "rule"], sort=False).agg(
        selected_acc=("target_acc", "mean"), oracle_acc=("target_acc_oracle", "mean"),
        regret=("regret", "mean"), groups=("regret", "size")).reset_index()
    return out.rename(columns={method_col: "method"})


def validator_quality(rows: pd.DataFrame, checkpoints: pd.DataFrame, rules: list[str] | None = None,
                      method_col: str = "strategy") -> pd.DataFrame:
    """Long table: one row per (method, rule) with the mean ``kendall`` tau-b and ``spearman`` rho
    between the rule's score and target-test accuracy within selection groups, and the number of
    ``groups`` that had a correlation; plus one ``all methods`` row per rule."""
    rules = rules_present(checkpoints) if rules is None else rules
    ok = rows[rows["status"] == "ok"]
    keys = [k for k in group_columns(ok)]
    join = ["cell_key"] + (["snapshot"] if "snapshot" in ok.columns and "snapshot" in checkpoints.columns else [])
    cand = ok[list(dict.fromkeys(keys + join + [method_col]))].merge(checkpoints, on=join)
    records = []
    for key, g in cand.groupby(keys, sort=True, dropna=False):
        for rule in rules:
            s, t = g[score_column(rule)].to_numpy(float), g["target_acc"].to_numpy(float)
            keep = ~(np.isnan(s) | np.isnan(t))
            s, t = s[keep], t[keep]
            if len(s) < 3 or np.ptp(s) == 0 or np.ptp(t) == 0:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tau, rho = kendalltau(s, t).statistic, spearmanr(s, t).statistic
            records.append({method_col: g[method_col].iloc[0], "rule": rule, "kendall": tau, "spearman": rho})
    if not records:
        return pd.DataFrame(columns=["method", "rule", "kendall", "spearman", "groups"])
    long = pd.DataFrame(records)
    long = pd.concat([long, long.assign(**{method_col: ALL})], ignore_index=True)
    out = long.groupby([method_col, "rule"], sort=False).agg(
        kendall=("kendall", "mean"), spearman=("spearman", "mean"), groups=("kendall", "size")).reset_index()
    return out.rename(columns={method_col: "method"})
