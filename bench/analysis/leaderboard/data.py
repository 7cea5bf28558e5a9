"""The leaderboard's data: everything the page shows, aggregated here in Python and embedded as JSON.

Flow: results directories (one snapshot each) -> rows (``bench.analysis.report.data.load``, the same reader as
``bench report``) -> per selection rule, the newest snapshot of each cell with one row per seed
(``select``) -> per (backbone, budget, precision, protocol): the same ``metric_table`` that
``bench report`` prints (so the page's numbers are the report's), an aggregate across pairs, costs,
Pareto points; plus a drill-down record per cell and the history (``history.py``).

The page gets only what its views need: per-seed rows of the newest snapshot, seed means of older
snapshots, regression verdicts; never the raw 40,000-row history.
"""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import pandas as pd

from bench.analysis.leaderboard.cells import CELL, GROUP, NOT_RECORDED, cell_id, num
from bench.analysis.leaderboard.adapters import (AGGREGATE_KIND, RULES, aggregate, available_rules,
                                                 read_checkpoints, relabel, select)
from bench.analysis.report.cd import cd_view
from bench.analysis.report.data import budget_order, latest, load, snapshot_order
from bench.analysis.report.rank_moves import describe, rank_moves
from bench.analysis.report.stats import pareto_front
from bench.analysis.report.tables import metric_table
from bench.analysis.leaderboard.history import history
from bench.analysis.reference import PUBLISHED

#: identity columns other issues add; old results lack them, so they read as NOT_RECORDED
OPTIONAL_IDENTITY = ("precision", "protocol")
COSTS = {  # payload key -> (results column, scale, lower is better, label)
    "mem": ("peak_mem_allocated_bytes", 1 / 2**20, True, "peak memory (MiB)"),
    "params": ("trainable_params", 1.0, True, "trainable parameters"),
    "sps": ("train_samples_per_s", 1.0, False, "train throughput (samples/s)"),
}
KEEP = CELL + ["strategy", "source_domain", "snapshot", "status", "error", "target_acc", "forgetting",
               "target_gain", "seed", "selected_trial", "selected_step", "run_id", "cell_key"] + [
               c for c, *_ in COSTS.values()]
LOOSE = GROUP + ["strategy", "pair"]  # a cell whatever its trials' hyper-parameters
TRIAL_COLUMNS = ["trial", "seed", "hparams", "target_acc", "status", "cell_key"]
DRILL = ["hparams", "trial", "seed", "target_acc", "status", "cell_key", "snapshot", "git_sha",
         "device_name", "host", "run_id", "package_versions", "started_at"]
SEED_COLUMNS = ["seed", "target_acc", "forgetting", "target_gain", "selected_trial", "selected_step",
                "status", "error", "run_id", "cell_key"]


def prepare(rows: pd.DataFrame) -> pd.DataFrame:
    """Give old results the identity columns they lack (precision, protocol, trial)."""
    rows = rows.copy()
    for col in OPTIONAL_IDENTITY:
        rows[col] = rows[col].fillna(NOT_RECORDED).astype(str) if col in rows else NOT_RECORDED
    if "trial" not in rows:
        rows["trial"] = 0
    return rows


def slim(rows: pd.DataFrame) -> pd.DataFrame:
    """Only the columns the views read: the report's table code slices frames per (method, pair),
    and a frame without the provenance strings slices several times faster."""
    return rows[[c for c in KEEP if c in rows.columns]]


def build(results: list, rules: list[str] | None = None) -> dict:
    """The whole payload of the page (a JSON-able dict) from results directories."""
    everything = load(results)
    if everything.empty:
        return {"rules": {}, "snapshots": [], "groups": [], "ranking": [], "cells": [], "pareto": {},
                "cd": {}, "drill": {}, "history": {}, "regressions": [], "rank_moves": [], "references": [],
                "meta": _meta(results)}
    everything = prepare(everything)
    checkpoints = read_checkpoints(results)
    rule_names = rules or available_rules(checkpoints)
    # as bench report does: select over every snapshot, name methods, then the newest of each cell
    chosen = {rule: relabel(select(everything, checkpoints, rule), rule) for rule in rule_names}
    selected = {rule: slim(latest(rows)) for rule, rows in chosen.items()}
    payload = {"rules": {r: _rule_text(r) for r in rule_names}, "aggregate_kind": AGGREGATE_KIND,
               "groups": [], "ranking": [], "cells": [], "pareto": {}, "cd": {}, "meta": _meta(results)}
    for rule, rows in selected.items():
        for key, part in rows.groupby(GROUP, sort=False):
            gid = cell_id(key)
            if gid not in payload["groups"]:
                payload["groups"].append(gid)
            ranking, cells, points = _group(part, rule, dict(zip(GROUP, key)))
            payload["ranking"] += ranking
            payload["cells"] += cells
            payload["pareto"][f"{rule}|{gid}"] = points
            payload["cd"][f"{rule}|{gid}"] = cd_view(part, "target_acc", True,
                                                    f"{' · '.join(map(str, key))}, rule {rule}")
    payload["groups"].sort(key=lambda g: (g.split("|")[0], budget_order(g.split("|")[1]), g))
    payload["drill"] = drill_down(everything, selected, checkpoints)
    payload.update(history(everything, chosen))
    payload["rank_moves"] = _rank_moves(chosen)
    payload["references"] = references(selected.get("last", next(iter(selected.values()))))
    return payload


def _rank_moves(chosen: dict[str, pd.DataFrame]) -> list[dict]:
    """Every overtaking between consecutive snapshots, per rule (bench.analysis.report.rank_moves)."""
    out = []
    for rule, rows in chosen.items():
        moves = rank_moves(rows[rows["status"] == "ok"], "target_acc")
        for m in moves.to_dict("records"):
            out.append({**{k: num(v) if isinstance(v, float) else v for k, v in m.items()},
                        "rule": rule, "label_budget": str(m["label_budget"]),
                        "snapshot": Path(m["snapshot"]).name, "previous": Path(m["previous"]).name,
                        "text": describe(pd.Series(m))})
    return out


def _rule_text(rule: str) -> str:
    return RULES.get(rule, rule)


def _meta(results) -> dict:
    return {"results": [str(r) for r in results]}


def _group(part: pd.DataFrame, rule: str, ident: dict) -> tuple[list, list, list]:
    """Ranking rows, table rows and Pareto points of one (rule, backbone, budget, precision, protocol)."""
    acc = metric_table(part, "target_acc")
    forg = metric_table(part, "forgetting")
    gain = metric_table(part, "target_gain")
    agg = aggregate(part, acc)
    base = {"rule": rule, **ident}
    ok = part[part["status"] == "ok"]
    costs = ok.groupby(["method", "pair"])[[c for c, *_ in COSTS.values()]].mean()
    cells = []
    for m in acc.methods:
        for p in acc.pairs:
            e, f, g = acc.est.get((m, p)), forg.est.get((m, p)), gain.est.get((m, p))
            row = {**base, "id": cell_id([ident[k] for k in GROUP] + [m, p]), "method": m, "pair": p,
                   "acc": num(e.mean) if e else None, "acc_lo": num(e.lo) if e else None,
                   "acc_hi": num(e.hi) if e else None, "n": e.n if e else 0,
                   "forgetting": num(f.mean) if f else None, "gain": num(g.mean) if g else None,
                   "status": acc.status.get((m, p), "ok" if e else "missing"),
                   "best": (m, p) in acc.best}
            for k, (col, scale, *_rest) in COSTS.items():
                row[k] = num(costs.at[(m, p), col] * scale, 2) if (m, p) in costs.index else None
            cells.append(row)
    ranking = [{**base, "method": m, "agg": num(a["agg"]), "agg_lo": num(a["lo"]), "agg_hi": num(a["hi"]),
                "avg": num(acc.avg.get(m)), "rank": num(acc.rank.get(m), 3),
                "rank_lo": num(a.get("rank_lo")), "rank_hi": num(a.get("rank_hi")),
                "p_improve": num(a.get("p_improve"), 3), "pairs": len(acc.complete_pairs),
                "of_pairs": len(acc.pairs), "best": (m, "Avg rank") in acc.best}
               for m, a in agg.items()]
    ranking += [{**base, "method": m, "agg": None, "avg": None, "rank": None, "pairs": 0,
                 "of_pairs": len(acc.pairs), "note": "skipped: " + why}
                for m, why in acc.not_applicable.items()]
    return ranking, cells, pareto_points(ok)


def pareto_points(ok: pd.DataFrame) -> list[dict]:
    """Per method: accuracy and each cost (mean over pairs and seeds, as ``bench report``'s Pareto
    plot), and for each cost whether the method is on the front (no other method is at least as
    good on both and better on one)."""
    if ok.empty:
        return []
    per = ok.groupby("method")[["target_acc"] + [c for c, *_ in COSTS.values()]].mean()
    points = {m: {"method": m, "acc": num(per.at[m, "target_acc"])} for m in per.index}
    for k, (col, scale, lower, _label) in COSTS.items():
        d = per[["target_acc", col]].dropna()
        front = pareto_front(d[col].to_numpy() * scale, d["target_acc"].to_numpy(), lower) if len(d) else []
        for m, v, on in zip(d.index, d[col].to_numpy() * scale, front):
            points[m][k] = num(v, 2)
            points[m][k + "_front"] = bool(on)
    return [p for p in points.values() if p["acc"] is not None]


def drill_down(everything: pd.DataFrame, selected: dict[str, pd.DataFrame],
               checkpoints: pd.DataFrame | None) -> dict:
    """Per cell of the tables: its seeds under each rule (with the selected trial and step), every
    trial of its newest snapshot, their learning curves, and provenance. Built from plain records
    (one pass each), not per-group frame slices."""
    raw = newest_raw(everything)
    curves = _curves(checkpoints, raw)
    by_loose: dict[str, list[dict]] = {}
    for r in _records(raw, LOOSE + DRILL):
        by_loose.setdefault(cell_id([r[c] for c in LOOSE]), []).append(r)
    out = {}
    for rule, rows in selected.items():
        for r in sorted(_records(rows, CELL + ["strategy", "snapshot"] + SEED_COLUMNS), key=lambda r: r["seed"]):
            cid = cell_id([r[c] for c in CELL])
            if cid not in out:
                trials = by_loose.get(cell_id([r[c] for c in LOOSE]), [])
                out[cid] = {"hparams": sorted({t["hparams"] for t in trials if t.get("hparams")}),
                            "trials": [{c: t.get(c) for c in TRIAL_COLUMNS} for t in trials],
                            "curves": {t["cell_key"]: {**curves[(t["snapshot"], t["cell_key"])],
                                                       "seed": t["seed"], "trial": t.get("trial")}
                                       for t in trials if (t["snapshot"], t["cell_key"]) in curves},
                            "provenance": _provenance(trials), "seeds": {}}
            seed = {c: r[c] for c in SEED_COLUMNS if c in r}
            if r.get("cell_key") and r.get("snapshot"):  # the command that reruns this number
                seed["reproduce"] = reproduce_command(r["snapshot"], r["cell_key"], rule)
            out[cid]["seeds"].setdefault(rule, []).append(seed)
    return out


def reproduce_command(results_dir: str, cell_key: str, rule: str) -> str:
    """``bench reproduce`` for one seed's number (shell-quoted: a path is data, never code)."""
    return " ".join(["bench", "reproduce", shlex.quote(str(results_dir)), shlex.quote(cell_key)]
                    + (["--select", shlex.quote(rule)] if rule != "last" else []))


def newest_raw(everything: pd.DataFrame) -> pd.DataFrame:
    """Every row (all trials) of the newest snapshot of each (backbone, budget, precision,
    protocol, strategy, pair): what a cell's drill-down lists."""
    rank = {s: i for i, s in enumerate(snapshot_order(everything))}
    r = everything["snapshot"].map(rank)
    newest = r.groupby([everything[c] for c in LOOSE]).transform("max")
    return everything[r == newest]


def _records(df: pd.DataFrame, cols: list[str]) -> list[dict]:
    """Rows as JSON-safe dicts (strings kept, numbers through ``num``, times as ISO text)."""
    cols = [c for c in cols if c in df.columns]

    def value(v):
        if isinstance(v, str):
            return v
        if isinstance(v, pd.Timestamp):
            return None if pd.isna(v) else v.isoformat()
        return num(v)
    return [{c: value(v) for c, v in zip(cols, r)} for r in df[cols].itertuples(index=False)]


def _provenance(rows: list[dict]) -> dict:
    def uniq(col):
        return sorted({str(r[col]) for r in rows if r.get(col) is not None})

    versions = {}
    for text in uniq("package_versions"):
        try:
            versions.update(json.loads(text))
        except (TypeError, ValueError):
            continue
    started = uniq("started_at")
    return {"commit": uniq("git_sha"), "device": uniq("device_name"), "host": uniq("host"),
            "run": uniq("run_id"), "snapshot": uniq("snapshot"), "packages": versions,
            "started": [started[0], started[-1]] if started else []}


def _curves(checkpoints: pd.DataFrame | None, newest: pd.DataFrame) -> dict[tuple, dict]:
    """Per (snapshot, cell_key) of the newest rows: step, target and source accuracy (the validator
    scores stay out: the page draws accuracies, and they would double the embedded curves)."""
    if checkpoints is None or checkpoints.empty:
        return {}
    wanted = newest[["snapshot", "cell_key"]].drop_duplicates()
    part = checkpoints.merge(wanted, on=["snapshot", "cell_key"])
    cols = [c for c in ("target_acc", "source_acc") if c in part.columns]
    out = {}
    for key, rows in part.sort_values("step").groupby(["snapshot", "cell_key"]):
        out[key] = {"step": [int(s) for s in rows["step"]],
                    **{c: [num(v) for v in rows[c]] for c in cols if rows[c].notna().any()}}
    return out


def references(selected: pd.DataFrame) -> list[dict]:
    """Published numbers (bench/analysis/reference.py) beside the measured ones, per matching group."""
    out = []
    ok = selected[selected["status"] == "ok"]
    for dataset, ref in PUBLISHED.items():
        part = ok[(ok["label_budget"] == "0") & ok["source_domain"].str.startswith(f"{dataset}/")
                  & ok["backbone"].str.startswith(ref["backbone_prefix"])]
        for key, rows in part.groupby(GROUP):
            per_pair = rows.groupby(["strategy", "pair"])["target_acc"].mean().groupby("strategy").agg(
                ["mean", "size"])
            for strategy, published in ref["avg"].items():
                have = strategy in per_pair.index
                out.append({**dict(zip(GROUP, key)), "dataset": dataset, "source": ref["source"],
                            "method": strategy, "published": published,
                            "measured": num(per_pair.at[strategy, "mean"]) if have else None,
                            "pairs": int(per_pair.at[strategy, "size"]) if have else 0})
    return out


def seeds_of(payload: dict, cid: str, rule: str = "last") -> list:
    """The seeds the drill-down of cell ``cid`` lists under ``rule`` (for tests and tooling)."""
    return [s["seed"] for s in payload["drill"][cid]["seeds"].get(rule, [])]


__all__ = ["build", "prepare", "pareto_points", "seeds_of"]
