"""Hand-made results for the report and compare tests: full schema rows written with write_row."""
from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench.results import SCHEMA, write_row
from bench.plan.cells import stable_hash

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)


def row(strategy: str, pair: str, seed: int, target_acc: float, *, backbone: str = "small_cnn",
        budget: str = "10", status: str = "ok", forgetting: float = 1.0, day: int = 0,
        train_sps: float = 1000.0, mem: int = 100 * 2**20, trainable: int = 1000,
        device: str = "cpu: test", protocol: str = "p0") -> dict:
    src, tgt = pair.split("->")
    r = {f.name: None for f in SCHEMA}
    ident = dict(backbone=backbone, strategy=strategy, pair=pair, budget=budget, seed=seed, protocol=protocol)
    ok = status == "ok"
    nan = math.nan
    r.update(run_id=f"run-{day}", suite="t", cell_key=stable_hash(ident), backbone=backbone,
             strategy=strategy, hparams=json.dumps({}), source_domain=src, target_domain=tgt,
             label_budget=budget, seed=seed, selection_rule="last", protocol_hash=protocol,
             target_acc=target_acc if ok else nan, target_acc_before=50.0 if ok else nan,
             source_acc_before=90.0, source_acc_after=90.0 - forgetting if ok else nan,
             forgetting=forgetting if ok else nan, target_gain=target_acc - 50.0 if ok else nan,
             trainable_params=trainable, total_params=5000, train_samples_per_s=train_sps if ok else nan,
             infer_samples_per_s=5000.0 if ok else nan, peak_mem_allocated_bytes=mem,
             peak_mem_reserved_bytes=mem, mem_kind="cpu_rss", mem_baseline_bytes=0, adapt_wall_s=1.0,
             source_wall_s=1.0, steps=10, source_cached=False, batch_size=32, extra="{}",
             status=status, error="" if ok else f"{status}: planted",
             started_at=T0 + timedelta(days=day), finished_at=T0 + timedelta(days=day, minutes=1),
             git_sha="x", package_versions="{}", device_name=device, host="h")
    return r


def write(results_dir: Path, rows: list[dict]) -> Path:
    for r in rows:
        write_row(results_dir, r)
    return results_dir
