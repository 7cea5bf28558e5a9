"""What a suite will cost before it runs: device-hours per backbone and strategy.

The estimate is a sum over the suite's cells of step times measured earlier (a results directory,
``--calibrate DIR``) or in a short calibration run of every (backbone, strategy, precision)::

    T = sum over source models m:  S_source * t_source(backbone, precision)
      + sum over cells c:          steps(c) * t_step(backbone, strategy, precision) * B(c) / B_cal
                                   + t_fixed(backbone, strategy, precision)

``t_source`` and ``t_step`` are measured seconds per training step after the warm-up (rows'
``extra.source_step_s`` / ``extra.adapt_step_s``; ``adapt_wall_s / steps`` for older rows),
scaled linearly by the batch size ``B`` against the calibration's ``B_cal`` (a rough rule: a GPU
that is not yet full takes less than twice as long for twice the batch). ``t_fixed`` is the
rest of a cell's wall time (evaluations, setup such as feature caching, warm-up steps). Medians
over matching rows. A combination never measured borrows its backbone's median step time and is
flagged. GPU-hours when the measurements ran on CUDA, CPU-hours otherwise; cells that run side by
side (``--gpus``, ``--cells-per-gpu``) divide the wall time, not the device-hours.
"""
from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import click
import pandas as pd

from bench.plan.cells import Cell, expand
from bench.plan.protocol import starts_from_initial
from bench.plan.sharding import shard_cells, will_skip
from bench.plan.suite import Suite
from bench.results import read_results
from bench.run.runner import run_suite
from bench.strategies import get_strategy

KEY = ["backbone", "strategy", "precision"]


def measured_step_times(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (backbone, strategy, precision): median seconds per adaptation step and per
    source step, median fixed seconds per cell, and the batch size they were measured at."""
    rows = rows[rows.status == "ok"].copy()
    if rows.empty:
        return pd.DataFrame(columns=KEY + ["t_step", "t_source", "t_fixed", "batch", "n", "cuda"])
    if "precision" not in rows:
        rows["precision"] = "fp32"
    rows["precision"] = rows["precision"].fillna("fp32")
    extra = rows["extra"].fillna("{}").map(json.loads)
    adapt = extra.map(lambda e: e.get("adapt_step_s"))
    fallback = rows.adapt_wall_s / rows.steps.where(rows.steps > 0)
    rows["t_step"] = pd.to_numeric(adapt, errors="coerce").fillna(fallback).where(rows.steps > 0, 0.0)
    src_batch = pd.to_numeric(extra.map(lambda e: e.get("source_batch_size")), errors="coerce")
    # per source step at the adaptation batch size, so that one batch scale applies to both
    rows["t_source"] = (pd.to_numeric(extra.map(lambda e: e.get("source_step_s")), errors="coerce")
                        * rows.batch_size / src_batch.fillna(rows.batch_size))
    wall = (pd.to_datetime(rows.finished_at) - pd.to_datetime(rows.started_at)).dt.total_seconds()
    source_paid = rows.source_wall_s.where(~rows.source_cached.astype(bool), 0.0).fillna(0.0)
    rows["t_fixed"] = (wall - source_paid - rows.steps * rows.t_step).clip(lower=0)
    rows["cuda"] = rows.mem_kind == "cuda"
    return rows.groupby(KEY, as_index=False).agg(
        t_step=("t_step", "median"), t_source=("t_source", "median"), t_fixed=("t_fixed", "median"),
        batch=("batch_size", "median"), n=("t_step", "size"), cuda=("cuda", "any"))


def estimate(cells: list[Cell], times: pd.DataFrame) -> pd.DataFrame:
    """Seconds per (backbone, strategy, precision) for ``cells``; the source stage appears as
    strategy ``(source stage)``, once per distinct source model, and not at all when no cell has
    one (``protocol: joint`` with domain-adaptation methods only)."""
    out: list[dict[str, Any]] = []
    by_key = {tuple(r[k] for k in KEY): r for r in times.to_dict("records")}
    by_backbone = times.groupby(["backbone", "precision"]).median(numeric_only=True).to_dict("index")
    seen_sources: set[str] = set()
    for c in cells:
        bb = c.backbone.name
        if will_skip(c):  # skipped before any work: no steps, no source stage
            out.append(dict(backbone=bb, strategy=c.strategy, precision=c.precision, cells=1, steps=0,
                            seconds=0.0, flag=""))
            continue
        m, borrowed = by_key.get((bb, c.strategy, c.precision)), False
        if m is None:
            m, borrowed = by_backbone.get((bb, c.precision)), True
        cls = get_strategy(c.strategy)
        steps = cls.total_steps(cls.Hparams(**c.hparams), c.adapt.steps) if cls.trains else 0
        if m is None:
            out.append(dict(backbone=bb, strategy=c.strategy, precision=c.precision, cells=1,
                            steps=steps, seconds=math.nan, flag="not measured"))
            continue
        scale = c.adapt.batch_size / m["batch"] if m["batch"] else 1.0
        out.append(dict(backbone=bb, strategy=c.strategy, precision=c.precision, cells=1, steps=steps,
                        seconds=steps * m["t_step"] * scale + m["t_fixed"],
                        flag="backbone median" if borrowed else ""))
        # a joint-protocol DA cell trains from the initial weights: it has no source stage to cost
        if not starts_from_initial(c.protocol, cls) and c.source_key() not in seen_sources:
            seen_sources.add(c.source_key())
            t_src = m["t_source"]
            if t_src is None or not math.isfinite(t_src):
                t_src = by_backbone.get((bb, c.precision), {}).get("t_source", math.nan)
            out.append(dict(backbone=bb, strategy="(source stage)", precision=c.precision, cells=0,
                            steps=c.source.steps,
                            seconds=c.source.steps * t_src * (c.source.batch_size / m["batch"]),
                            flag=""))
    df = pd.DataFrame(out)
    return df.groupby(KEY, as_index=False, sort=False).agg(
        cells=("cells", "sum"), steps=("steps", "sum"), seconds=("seconds", lambda s: s.sum(min_count=len(s))),
        flag=("flag", lambda f: ", ".join(sorted(set(f) - {""}))))


def calibration_suite(suite: Suite, steps: int = 10) -> Suite:
    """The suite cut to one cell per (backbone, strategy, precision): its first pair, first seed,
    each strategy's first label budget, ``steps`` source and adaptation steps."""
    length = {"steps", "epochs", "iterations_per_epoch"}  # calibrate at few steps
    short = lambda fields: {k: v for k, v in (fields or {}).items() if k not in length} or None  # noqa: E731
    entries = []
    for e in suite.strategies:
        hp = {k: v for k, v in e.hparams.items() if k != "steps"}
        own = {k: v for k, v in (("backbone", e.backbone), ("adapt", short(e.adapt))) if v}
        entries.append({"name": e.name, **hp, **own,
                        "label_budgets": [(e.label_budgets or suite.label_budgets)[-1]]})
    raw = suite.model_dump(mode="json")
    pairs = [{**p, "train": short(p.get("train"))} for p in raw["pairs"][:1]]
    stage = lambda cfg: {**cfg, "steps": steps, "epochs": None, "iterations_per_epoch": None}  # noqa: E731
    raw.update(name=f"{suite.name}-calibration", pairs=pairs, seeds=raw["seeds"][:1],
               strategies=entries, selection="last", source=stage(raw["source"]),
               adapt=stage(raw["adapt"]))
    return Suite.model_validate(raw)


def print_estimate(suite: Suite, calibrate_dir: Path | None, device: str = "auto",
                   shard: str | None = None, cells_at_once: int = 1) -> pd.DataFrame:
    """Print (and return) the estimate; ``cells_at_once`` (``--workers``, GPUs x cells per GPU)
    adds the wall time if the cells divide evenly over that many workers. The calibration runs one
    cell at a time: on a CPU, calibrate at the suite's ``threads`` with the other cores idle."""
    if calibrate_dir is None:
        calibrate_dir = Path(tempfile.mkdtemp(prefix="bench-calibration-"))
        click.echo(f"calibrating: a few steps of every (backbone, strategy, precision) into {calibrate_dir}")
        run_suite(calibration_suite(suite), calibrate_dir, device=device, executor="inline")
    times = measured_step_times(read_results(calibrate_dir))
    table = estimate(shard_cells(expand(suite), shard), times)
    unit = "GPU-hours" if times.cuda.any() else "CPU-hours"
    table["hours"] = table.seconds / 3600
    click.echo(f"\nestimate ({unit}, from step times in {calibrate_dir}):")
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        click.echo(table.drop(columns="seconds").to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    per_backbone = table.groupby("backbone").hours.sum()
    for bb, h in per_backbone.items():
        click.echo(f"  {bb}: {h:.2f} {unit}")
    click.echo(f"total: {table.hours.sum():.2f} {unit} for {int(table.cells.sum())} cells "
               f"(wall time: divide by the cells that run at once, e.g. --gpus N)")
    if cells_at_once > 1:
        minutes = table.seconds.sum() / 60 / cells_at_once
        click.echo(f"wall time with {cells_at_once} cells at once: about {minutes:.1f} min (the total "
                   f"divided evenly; more where one source model holds the others up)")
    return table
