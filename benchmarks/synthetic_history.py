"""A synthetic nightly history for the leaderboard's test and benchmark: N snapshots of a
~1,400-cell suite (3 backbones x 13 strategies x 6 Office-31 pairs x 2 label budgets x 3 seeds).

Each snapshot is one results directory holding one Parquet file with all its rows (any Parquet
reader, and ``bench.results.read_results``, reads a directory of multi-row files the same as one
file per cell; one file keeps generating 40,000 rows to seconds). Newer snapshots carry the
``precision``, ``protocol`` and ``trial`` columns that older results lack, as a real history would.
Planted: a regression (-8 points, every seed) of ``dann`` on one pair in one snapshot, and learning
curves (``_checkpoints``) in the newest snapshot.

    python benchmarks/synthetic_history.py OUT_DIR [--snapshots 30]
"""
from __future__ import annotations

import argparse
import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench.results import SCHEMA
from bench.plan.cells import stable_hash

BACKBONES = {"timm/resnet50": 0.0, "timm/vit_base_patch16_224": 3.0, "small_cnn": -15.0}
STRATEGIES = {"source_only": 0, "dann": 6, "dan": 4, "cdan": 7, "mcc": 9, "coral": 3, "adabn": 2,
              "full_finetune": 10, "linear_probe": 5, "lora": 8, "bitfit": 6, "l2sp": 9, "lwf": 7}
NEEDS_LABELS = {"full_finetune", "linear_probe", "lora", "bitfit", "l2sp", "lwf"}
PARAMS = {"full_finetune": 23_500_000, "l2sp": 23_500_000, "lwf": 23_500_000, "lora": 150_000,
          "bitfit": 60_000, "linear_probe": 20_000}
DOMAINS = ["amazon", "dslr", "webcam"]
PAIRS = [(f"office31/{s}", f"office31/{t}") for s in DOMAINS for t in DOMAINS if s != t]
BUDGETS = ["0", "10"]
SEEDS = [0, 1, 2]
T0 = datetime(2026, 10, 1, tzinfo=timezone.utc)
REGRESSION = {"strategy": "dann", "pair": PAIRS[0], "snapshot_from_end": 5, "drop": 8.0}
EXTRA = [("precision", pa.string()), ("protocol", pa.string()), ("trial", pa.int64())]


def _row(rng, night: int, backbone: str, strategy: str, pair, budget: str, seed: int,
         regressed: bool) -> dict:
    src, tgt = pair
    ident = dict(backbone=backbone, strategy=strategy, pair=f"{src}->{tgt}", budget=budget, seed=seed)
    r = {f.name: None for f in SCHEMA}
    skipped = budget == "0" and strategy in NEEDS_LABELS
    base = 62 + BACKBONES[backbone] + STRATEGIES[strategy] + (12 if budget == "10" else 0)
    acc = min(99.0, base + 3 * math.sin(PAIRS.index(pair)) + rng.normal(0, 0.8) - (REGRESSION["drop"]
                                                                                if regressed else 0))
    before = 62 + BACKBONES[backbone]
    forgetting = max(0.0, rng.normal(4 if strategy in ("full_finetune", "dann") else 1, 1))
    params = PARAMS.get(strategy, 0 if strategy in ("source_only", "adabn") else 23_500_000)
    r.update(run_id=f"night-{night:02d}", suite="nightly-synthetic", cell_key=stable_hash(ident),
             backbone=backbone, strategy=strategy, hparams=json.dumps({}), source_domain=src,
             target_domain=tgt, label_budget=budget, seed=seed, selection_rule="last",
             status="skipped" if skipped else "ok", error="needs target labels" if skipped else "",
             started_at=T0 + timedelta(days=night, minutes=seed), git_sha=f"{night:07x}",
             finished_at=T0 + timedelta(days=night, minutes=seed + 30), host="gpu-node-1",
             package_versions=json.dumps({"torch": "2.9.0", "timm": "1.0.31"}),
             device_name="cuda: NVIDIA H100 80GB HBM3", mem_kind="cuda", extra="{}")
    if not skipped:
        r.update(target_acc=acc, target_acc_before=before, source_acc_before=95.0,
                 source_acc_after=95.0 - forgetting, forgetting=forgetting, target_gain=acc - before,
                 trainable_params=params, total_params=25_000_000,
                 train_samples_per_s=float(rng.normal(800, 20) * (2 if params < 1e6 else 1)),
                 infer_samples_per_s=float(rng.normal(3000, 50)),
                 peak_mem_allocated_bytes=int((2 + params / 4e6) * 2**30),
                 peak_mem_reserved_bytes=int((2.5 + params / 4e6) * 2**30), steps=1000,
                 adapt_wall_s=120.0, source_wall_s=300.0)
    return r


def _checkpoints(out: Path, row: dict, rng) -> None:
    steps = np.arange(100, 1001, 100)
    final = row["target_acc"]
    acc = final - 15 * np.exp(-steps / 250) + rng.normal(0, 0.5, len(steps))
    table = pa.table({"cell_key": [row["cell_key"]] * len(steps), "step": steps,
                      "final": steps == steps[-1], "target_acc": acc,
                      "source_acc": row["source_acc_after"] + rng.normal(0, 0.3, len(steps)),
                      "score_source_val": acc / 100 + rng.normal(0, 0.01, len(steps))})
    pq.write_table(table, out / f"{row['cell_key']}.parquet")


def _schema(modern: bool) -> pa.Schema:
    """The results schema with the newer identity columns (modern) or without them (old results)."""
    names = {n for n, _ in EXTRA}
    if not modern:
        return pa.schema([f for f in SCHEMA if f.name not in names], metadata=SCHEMA.metadata)
    schema = SCHEMA
    for name, typ in EXTRA:
        if name not in schema.names:
            schema = schema.append(pa.field(name, typ))
    return schema


def write_history(root: Path, snapshots: int = 30, seed: int = 0) -> list[Path]:
    """Write ``snapshots`` results directories under ``root``; returns them, oldest first."""
    rng = np.random.default_rng(seed)
    dirs = []
    for night in range(snapshots):
        rows = []
        for backbone in BACKBONES:
            for strategy in STRATEGIES:
                for pair in PAIRS:
                    regressed = (strategy == REGRESSION["strategy"] and pair == REGRESSION["pair"]
                                 and night == snapshots - REGRESSION["snapshot_from_end"])
                    rows += [_row(rng, night, backbone, strategy, pair, b, s, regressed)
                             for b in BUDGETS for s in SEEDS]
        modern = night >= snapshots // 2  # the newer half records precision, protocol and trial
        schema = _schema(modern)
        if modern:
            for r in rows:
                r.update(precision="bf16" if r["backbone"].startswith("timm/vit") else "fp32",
                         protocol="two_stage", trial=0)
        d = root / f"night-{night:02d}"
        d.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), d / "rows.parquet")
        if night == snapshots - 1:
            (d / "_checkpoints").mkdir(exist_ok=True)
            for r in rows:
                if r["status"] == "ok":
                    _checkpoints(d / "_checkpoints", r, rng)
        dirs.append(d)
    return dirs


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--snapshots", type=int, default=30)
    args = ap.parse_args()
    made = write_history(args.out, args.snapshots)
    print(f"{len(made)} snapshots under {args.out}")
