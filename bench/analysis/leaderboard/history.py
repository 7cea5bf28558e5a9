"""History: each cell (method, pair, ...) across snapshots, with the steps ``bench compare`` would flag.

Snapshots are ordered as ``bench report``'s trend orders them (earliest start time, then the order
given). Between each snapshot and the previous one that has the cell, every metric of
``bench.analysis.compare.checks()`` is judged by ``bench.analysis.compare.judge``: the same rule as ``bench compare``
(beyond the threshold in the bad direction AND the seed-bootstrap CI of the delta excludes 0; cost
metrics count only when both snapshots ran on the same devices; a cell ok before and not ok now is a
regression). Only the seed means and the non-``ok`` verdicts are embedded.
"""
from __future__ import annotations

import pandas as pd

from bench.analysis.compare import checks, judge
from bench.analysis.leaderboard.cells import CELL, NOT_RECORDED, cell_id, num
from bench.analysis.report.data import snapshot_order

FLAGGED = ("REGRESSION", "improved", "worse (not counted: different hardware)")


def history(everything: pd.DataFrame, chosen: dict[str, pd.DataFrame]) -> dict:
    """``snapshots`` (oldest first), ``history`` {rule: {cell id: [[snapshot index, mean acc, n], ...]}}
    and ``regressions`` (flagged steps, newest first). ``chosen``: per rule, the selected rows of
    every snapshot."""
    order = snapshot_order(everything)
    times = everything.groupby("snapshot")["snapshot_time"].min()
    snapshots = [{"name": s, "time": None if pd.isna(times.get(s)) else times[s].isoformat()}
                 for s in order]
    series: dict[str, dict] = {}
    flagged: list[dict] = []
    for rule, rows in chosen.items():
        by_snapshot = dict(tuple(rows.groupby("snapshot", sort=False)))
        per_snapshot = [(i, _cells(by_snapshot[snap])) for i, snap in enumerate(order) if snap in by_snapshot]
        series[rule], steps = _series_and_steps(_join_unrecorded(per_snapshot))
        flagged += [{"rule": rule, **s} for s in steps]
    flagged.sort(key=lambda r: (-r["snapshot"], r["id"], r["metric"]))
    return {"snapshots": snapshots, "history": series, "regressions": flagged}


def _cells(chosen: pd.DataFrame) -> dict[str, dict]:
    """Per cell id: the seed values of each checked metric (ok rows), status and devices.

    Works on numpy arrays by group index: slicing a wide frame 14,000 times (30 snapshots of a
    1,400-cell suite) costs minutes, this costs a second."""
    metrics = [c.metric for c in checks()]
    values = {m: chosen[m].to_numpy(dtype=float) for m in metrics}
    status = chosen["status"].astype(str).to_numpy()
    device = chosen["device_name"].astype(str).to_numpy()
    out = {}
    for key, idx in chosen.groupby(CELL, sort=False).indices.items():
        ok = idx[status[idx] == "ok"]
        out[cell_id(key)] = {"values": {m: v[ok] for m, v in values.items()}, "n_ok": len(ok),
                             "statuses": sorted(set(status[idx])), "devices": frozenset(device[idx])}
    return out


def _join_unrecorded(per_snapshot: list[tuple[int, dict]]) -> list[tuple[int, dict]]:
    """Old snapshots lack precision/protocol (``-``); newer ones record them. Join an old cell to
    the one newer cell with the same names (backbone, budget, method, pair), as ``bench compare``
    matches on names; leave it apart when several newer cells could be it."""
    names = lambda cid: (lambda p: (p[0], p[1], p[4], p[5]))(cid.split("|"))  # noqa: E731
    recorded: dict[tuple, set] = {}
    for _, cells in per_snapshot:
        for cid in cells:
            if NOT_RECORDED not in cid.split("|")[2:4]:
                recorded.setdefault(names(cid), set()).add(cid)
    out = []
    for i, cells in per_snapshot:
        renamed = {}
        for cid, cell in cells.items():
            match = recorded.get(names(cid), set())
            unrecorded = NOT_RECORDED in cid.split("|")[2:4]
            renamed[next(iter(match)) if unrecorded and len(match) == 1 else cid] = cell
        out.append((i, renamed))
    return out


def _series_and_steps(per_snapshot: list[tuple[int, dict]]) -> tuple[dict, list[dict]]:
    series: dict[str, list] = {}
    previous: dict[str, tuple[int, dict]] = {}
    steps = []
    for i, cells in per_snapshot:
        for cid, cur in cells.items():
            acc = cur["values"]["target_acc"]
            series.setdefault(cid, []).append([i, num(acc.mean()) if len(acc) else None, cur["n_ok"]])
            if cid in previous:
                steps += _judge_step(cid, previous[cid], (i, cur))
            previous[cid] = (i, cur)
    return series, steps


def _judge_step(cid: str, before: tuple[int, dict], after: tuple[int, dict]) -> list[dict]:
    (i0, b), (i1, c) = before, after
    base = {"id": cid, "snapshot": i1, "since": i0}
    if b["n_ok"] and not c["n_ok"]:
        return [{**base, "metric": "status", "verdict": "REGRESSION", "delta": None, "lo": None,
                 "hi": None, "note": f"{b['n_ok']} ok before, now {', '.join(c['statuses'])}"}]
    same_hw = b["devices"] == c["devices"]
    out = []
    for chk in checks():
        d, verdict = judge(chk, b["values"][chk.metric], c["values"][chk.metric],
                           count=not chk.is_cost or same_hw, fast=True)
        if verdict in FLAGGED:
            out.append({**base, "metric": chk.metric, "verdict": verdict, "delta": num(d.mean, 3),
                        "lo": num(d.lo, 3), "hi": num(d.hi, 3),
                        "unit": "%" if chk.relative else "pts", "threshold": chk.threshold})
    return out
