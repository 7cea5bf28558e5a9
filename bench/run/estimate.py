"""What a suite will cost before it runs: device-hours per backbone and strategy.

The estimate is a sum over the suite's cells of step times measured earlier (a results directory,
``--calibrate DIR``) or in a short calibration run of every (backbone, strategy, precision)::

    T = sum over source models m:  S_source * t_source(backbone, precision)
      + sum over cells c:          steps(c) * t_step(backbone, strategy, precision) * B(c) / B_cal
                                   + t_fixed(backbone, strategy, precision)

A step of a cell with D source domains draws one mini-batch of ``batch_size`` from each (DomainBed's
balanced batches), so ``B(c)`` is ``batch_size x D`` (and ``B_cal`` the calibration cell's). A
multi-source suite calibrates the first pair of every distinct set of domains (each dataset of a
leave-one-domain-out suite: its image sizes, its evaluation sets), and its cells take the times of
their own set (``domains``) where measured. The calibration keeps the suite's in-run ``selection``
(its checks, about 10 per cell at any step count, count in ``t_fixed``) and runs at least
``checkpoints`` steps, so that every one of a cell's K checkpoint evaluations is counted too.

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
from bench.plan.grids import selected_grids
from bench.plan.protocol import starts_from_initial
from bench.plan.sharding import shard_cells, will_skip
from bench.plan.suite import Suite
from bench.results import read_results
from bench.results.schema import domain_parts
from bench.run.runner import run_suite
from bench.strategies import get_strategy

KEY = ["backbone", "strategy", "precision"]


def domain_set(source_domain: str, target_domain: str) -> str:
    """The domains a multi-source cell uses, sorted and joined (one dataset of a leave-one-domain-out
    suite); "" for a single source: those cells share their times whatever the pair."""
    parts = domain_parts(source_domain)
    return ", ".join(sorted({*parts, target_domain})) if len(parts) > 1 else ""


def source_count(source_domain: str) -> int:
    return len(domain_parts(source_domain))


def measured_step_times(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (backbone, strategy, precision): median seconds per adaptation step and per
    source step, median fixed seconds per cell, and the batch size they were measured at."""
    rows = rows[rows.status == "ok"].copy()
    if rows.empty:
        return pd.DataFrame(columns=KEY + ["domains", "t_step", "t_source", "t_fixed", "batch", "n", "cuda"])
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
    # a step draws batch_size from each source domain: its batch is batch_size x D
    rows["batch"] = rows.batch_size * rows.source_domain.map(source_count)
    rows["domains"] = [domain_set(s, t) for s, t in zip(rows.source_domain, rows.target_domain)]
    return rows.groupby(KEY + ["domains"], as_index=False).agg(
        t_step=("t_step", "median"), t_source=("t_source", "median"), t_fixed=("t_fixed", "median"),
        batch=("batch", "median"), n=("t_step", "size"), cuda=("cuda", "any"))


def estimate(cells: list[Cell], times: pd.DataFrame) -> pd.DataFrame:
    """Seconds per (backbone, strategy, precision) for ``cells``; the source stage appears as
    strategy ``(source stage)``, once per distinct source model, and not at all when no cell has
    one (``protocol: joint`` with domain-adaptation methods only)."""
    out: list[dict[str, Any]] = []
    if "domains" not in times:  # times measured without the column: one set for all
        times = times.assign(domains="")
    by_set = {tuple(r[k] for k in KEY + ["domains"]): r for r in times.to_dict("records")}
    by_key = times.groupby(KEY).median(numeric_only=True).to_dict("index")
    by_backbone = times.groupby(["backbone", "precision"]).median(numeric_only=True).to_dict("index")
    seen_sources: set[str] = set()
    for c in cells:
        bb = c.backbone.name
        if will_skip(c):  # skipped before any work: no steps, no source stage
            out.append(dict(backbone=bb, strategy=c.strategy, precision=c.precision, cells=1, steps=0,
                            seconds=0.0, flag=""))
            continue
        m = by_set.get((bb, c.strategy, c.precision, domain_set(c.source_domain, c.target_domain)))
        m, borrowed = m or by_key.get((bb, c.strategy, c.precision)), False
        if m is None:
            m, borrowed = by_backbone.get((bb, c.precision)), True
        cls = get_strategy(c.strategy)
        steps = cls.total_steps(cls.Hparams(**c.hparams), c.adapt.steps) if cls.trains else 0
        if m is None:
            out.append(dict(backbone=bb, strategy=c.strategy, precision=c.precision, cells=1,
                            steps=steps, seconds=math.nan, flag="not measured"))
            continue
        batch = c.adapt.batch_size * source_count(c.source_domain)  # one mini-batch per source domain
        scale = batch / m["batch"] if m["batch"] else 1.0
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
                            seconds=c.source.steps * t_src * (c.source.batch_size * source_count(c.source_domain)
                                                              / m["batch"]),
                            flag=""))
    df = pd.DataFrame(out)
    return df.groupby(KEY, as_index=False, sort=False).agg(
        cells=("cells", "sum"), steps=("steps", "sum"), seconds=("seconds", lambda s: s.sum(min_count=len(s))),
        flag=("flag", lambda f: ", ".join(sorted(set(f) - {""}))))


def calibration_pairs(pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first pair, and the first of every other set of domains that several sources use."""
    chosen, seen = pairs[:1], {domain_set(pairs[0]["source"], pairs[0]["target"])} if pairs else set()
    for p in pairs[1:]:
        key = domain_set(p["source"], p["target"])
        if key and key not in seen:
            seen.add(key)
            chosen.append(p)
    return chosen


def calibration_suite(suite: Suite, steps: int = 10) -> Suite:
    """The suite cut to one cell per (backbone, strategy, precision[, set of source domains]): the
    pairs of ``calibration_pairs``, first seed, each strategy's last label budget, ``steps`` source
    and adaptation steps (at least ``checkpoints``), the suite's in-run selection."""
    steps = max(steps, suite.checkpoints)
    length = {"steps", "epochs", "iterations_per_epoch"}  # calibrate at few steps
    short = lambda fields: {k: v for k, v in (fields or {}).items() if k not in length} or None  # noqa: E731
    entries = []
    for e in suite.strategies:
        hp = {k: v for k, v in e.hparams.items() if k != "steps"}
        own = {k: v for k, v in (("backbone", e.backbone), ("adapt", short(e.adapt))) if v}
        entries.append({"name": e.name, **hp, **own,
                        "label_budgets": [(e.label_budgets or suite.label_budgets)[-1]]})
    raw = suite.model_dump(mode="json")
    pairs = [{**p, "train": short(p.get("train"))} for p in calibration_pairs(raw["pairs"])]
    stage = lambda cfg: {**cfg, "steps": steps, "epochs": None, "iterations_per_epoch": None}  # noqa: E731
    raw.update(name=f"{suite.name}-calibration", pairs=pairs, seeds=raw["seeds"][:1],
               strategies=entries, source=stage(raw["source"]),
               adapt=stage(raw["adapt"]), also=[])  # each grid is calibrated as a suite of its own
    return Suite.model_validate(raw)


def print_estimate(suite: Suite, calibrate_dir: Path | None, device: str = "auto",
                   shard: str | None = None, cells_at_once: int = 1) -> pd.DataFrame:
    """Print (and return) the estimate; ``cells_at_once`` (``--workers``, GPUs x cells per GPU)
    adds the wall time if the cells divide evenly over that many workers. The calibration runs one
    cell at a time: on a CPU, calibrate at the suite's ``threads`` with the other cores idle."""
    if calibrate_dir is None:
        calibrate_dir = Path(tempfile.mkdtemp(prefix="bench-calibration-"))
        click.echo(f"calibrating: a few steps of every (backbone, strategy, precision) into {calibrate_dir}")
        for grid in selected_grids(suite):  # the suite's own grid, then its `also` grids (those -o grids= names)
            run_suite(calibration_suite(grid), calibrate_dir, device=device, executor="inline")
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
