"""Results as the report sees them: labelled rows from many directories, plus the cells that are missing.

Each results directory given to the report is one *snapshot* (e.g. one nightly run). The tables show
the latest snapshot of each (backbone, method, pair, budget); the trend section shows all of them.
A cell that a directory's suite declares but that has no result file becomes a row with status
``missing``, so it shows up in the tables instead of silently vanishing.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pandas as pd

from bench.results import hparams_label, read_results, read_run_records

GROUP = ["backbone", "method", "pair", "label_budget"]
#: columns where lower is better; every other metric is better when higher
LOWER_IS_BETTER = {"forgetting", "peak_mem_allocated_bytes", "peak_mem_reserved_bytes",
                   "adapt_wall_s", "trainable_params", "total_params", "source_wall_s"}
NOT_OK = ("failed", "oom", "diverged", "missing")


def higher_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


def strategy_label(strategy: str, hparams: str, all_hparams: set[str]) -> str:
    """``lora`` when a strategy appears with one set of hyper-parameters, else ``lora(rank=4)``."""
    if len(all_hparams) <= 1:
        return strategy
    shown = hparams_label(hparams)
    return f"{strategy}({shown})" if shown else strategy


def budget_order(b: str) -> tuple[int, int]:
    """Sort key of a label budget: 0, 1, 5, ... then ``all``, then anything else."""
    return (1, 0) if b == "all" else (0, int(b)) if str(b).isdigit() else (2, 0)


def expected_missing(results_dir: Path, finished: set[str]) -> list[dict]:
    """Rows (status ``missing``) for cells the directory's runs declared but that have no result.

    Each run record (``_runs/<id>.json``) lists the identity columns of the cells it was asked to
    run, so this reads JSON only: building a report never imports the suite, the registries or torch.
    """
    rows, seen = [], set()
    for record in read_run_records(results_dir):  # a damaged record: skipped with a warning
        for ident in record.get("cells", []):  # older records: no list
            key = ident["cell_key"]
            if key in finished or key in seen:
                continue
            seen.add(key)
            rows.append({**ident, "run_id": record.get("run_id", ""), "status": "missing",
                         "error": "declared by the suite but no result file (not run yet, or killed)"})
    return rows


def load(results: Iterable[str | Path]) -> pd.DataFrame:
    """All rows of ``results`` (one snapshot per directory) with ``pair``, ``method``, ``snapshot``."""
    frames = []
    for i, d in enumerate(results):
        d = Path(d)
        df = read_results(d)
        missing = expected_missing(d, set(df["cell_key"].dropna()))
        if missing:
            extra = pd.DataFrame(missing).reindex(columns=df.columns)
            df = pd.concat([df, extra], ignore_index=True) if len(df) else extra
        df["snapshot"] = str(d)
        df["snapshot_index"] = i
        frames.append(df)
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if df.empty:
        return df
    df["label_budget"] = df["label_budget"].astype(str)
    df["pair"] = df["source_domain"] + "->" + df["target_domain"]
    df["hparams"] = df["hparams"].fillna("{}")
    df = label_methods(df)
    # a snapshot's time is its earliest start; a directory with no start times keeps its CLI order
    started = pd.to_datetime(df["started_at"], utc=True, errors="coerce")
    first = started.groupby(df["snapshot"]).transform("min")
    df["snapshot_time"] = first
    return df


def label_methods(df: pd.DataFrame, by_hparams: bool = True) -> pd.DataFrame:
    """Set ``method``: the strategy, with its hyper-parameters when it appears with several
    (``by_hparams``; off after a search selected hyper-parameters per seed), and an oracle tag."""
    df = df.copy()
    if by_hparams:
        variants = df.groupby("strategy")["hparams"].agg(lambda s: set(s))
        df["method"] = [strategy_label(s, h, variants[s]) for s, h in zip(df["strategy"], df["hparams"])]
    else:
        df["method"] = df["strategy"]
    # a protocol other than the default (joint, transductive) is named in every table, so the
    # same strategy under two protocols shows as two named rows
    # (the protocol-hash tag below then separates only what these names do not)
    for col, default in (("protocol", "two_stage"), ("target_split", "inductive")):
        if col in df:
            # missing or "-" (results from before the option, read by the leaderboard) name nothing
            other = ~df[col].fillna(default).isin([default, "", "-"])
            df.loc[other, "method"] = df.loc[other, "method"] + " [" + df.loc[other, col] + "]"
    # rows measured under different protocols (steps, lr, selection, ...) are never pooled: when a
    # method appears under several protocol hashes in one cell of a table (same backbone, pair and
    # budget), each becomes its own labelled method. A protocol that differs only from pair to pair
    # (a suite's per-pair `train:` settings, e.g. TLL's per-direction lr) is one method's recipe,
    # so it stays one row whose columns can be averaged.
    df["protocol_hash"] = df["protocol_hash"].fillna("").replace("", "unknown")
    where = ["method"] + [c for c in ("backbone", "pair", "label_budget") if c in df]
    clash = df.groupby(where, dropna=False)["protocol_hash"].transform("nunique") > 1
    mixed = df["method"].isin(set(df.loc[clash, "method"]))
    df.loc[mixed, "method"] = df.loc[mixed, "method"] + " [protocol " + df.loc[mixed, "protocol_hash"].str[:8] + "]"
    # docs/protocol.md: a selection that peeks at target-test labels is labelled as such in every table
    oracle = df["selection_rule"].astype(str).str.startswith("oracle")
    df.loc[oracle, "method"] = df.loc[oracle, "method"] + " [oracle selection]"
    return df


def apply_filters(df: pd.DataFrame, backbones=(), strategies=(), pairs=(), budgets=()) -> pd.DataFrame:
    """Keep rows matching every given filter (each filter: any of its values; empty = all)."""
    for col, wanted in (("backbone", backbones), ("strategy", strategies), ("pair", pairs),
                        ("label_budget", budgets)):
        wanted = [str(w).replace(" ", "") for w in wanted]
        if wanted:
            values = df[col].astype(str).str.replace(" ", "")
            df = df[values.isin(wanted)]
    return df


def snapshot_order(df: pd.DataFrame) -> list[str]:
    """Snapshots from oldest to newest (by earliest start time, then by the order given)."""
    snaps = df.groupby("snapshot").agg(t=("snapshot_time", "min"), i=("snapshot_index", "min"))
    snaps["t"] = snaps["t"].fillna(pd.Timestamp.min.tz_localize("UTC"))
    return list(snaps.sort_values(["t", "i"]).index)


def latest(df: pd.DataFrame) -> pd.DataFrame:
    """For each (backbone, method, pair, budget) only the rows of its newest snapshot."""
    if df.empty:
        return df
    rank = {s: i for i, s in enumerate(snapshot_order(df))}
    r = df["snapshot"].map(rank)
    newest = r.groupby([df[c] for c in GROUP]).transform("max")
    return df[r == newest]


def groups(df: pd.DataFrame) -> list[tuple[str, str]]:
    """(backbone, label budget) pairs in a stable reading order."""
    keys = df[["backbone", "label_budget"]].drop_duplicates().itertuples(index=False)
    return sorted(keys, key=lambda k: (k[0], budget_order(k[1])))
