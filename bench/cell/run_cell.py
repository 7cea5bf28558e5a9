"""The protocol of one cell, top to bottom (docs/protocol.md, "The protocol of one cell").

``run_cell(cell, ...)`` never raises for a problem of the cell itself: an exception, a NaN loss or
an out-of-memory becomes a row with status ``failed`` / ``diverged`` / ``oom`` and the error text,
so one bad cell never takes a sweep down.
"""
from __future__ import annotations

import functools
import json
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import torch

from bench.train import measure
from bench.backbones import BACKBONES, count_params
from bench.cell.checkpoints import CheckpointRecorder, checkpoint_steps
from bench.data.base import Domain, load_domain
from bench.data.budget import budget_indices, carve_validation
from bench.results import disk_full, disk_full_error, new_row
from bench.train.footprint import TensorFootprint, optimizers_of
from bench.train.placement import domain_on_device, place_model, placement_facts
from bench.train.precision import Amp, configure_backends
from bench.cell.source_stage import initial_model, source_model
from bench.strategies import AdaptContext, NotApplicable, get_strategy
from bench.cell.selection import Selector
from bench.plan.protocol import starts_from_initial, target_pools
from bench.plan.cells import Cell, identity_row
from bench.train.loop import Diverged, StepLoop, evaluate
from bench.cell.transferability import cell_scores

NAN = float("nan")
ProgressFn = Callable[[str, int, int], None]  # (stage, step, total)


@functools.lru_cache(maxsize=16)
def cached_domain(name: str) -> Domain:
    """Domains are deterministic, so one process builds each once and shares it between cells."""
    return load_domain(name)


def run_cell(cell: Cell, results_dir: str | Path, run_id: str = "", device: str = "cpu",
             progress: ProgressFn | None = None, memo: dict | None = None) -> dict[str, Any]:
    """Run one cell and return its row (not yet written)."""
    row = base_row(cell, run_id, device)
    try:
        _protocol(cell, Path(results_dir), device, row, progress, memo if memo is not None else {})
        row["status"] = "ok"
    except NotApplicable as e:
        row.update(status="skipped", error=str(e))
    except Diverged as e:
        row.update(status="diverged", error=f"diverged: {e}")
    except torch.cuda.OutOfMemoryError as e:
        row.update(status="oom", error=f"out of memory: {e}"[:2000])
    except Exception as e:  # noqa: BLE001 - every failure of a cell becomes a row
        if disk_full(e):  # the machine's fault, not the cell's: stop the run, store nothing
            raise disk_full_error(f"cell {cell.describe()}'s files under {results_dir}", e) from e
        if "out of memory" in str(e).lower():
            row.update(status="oom", error=f"out of memory: {e}"[:2000])
        else:
            tb = traceback.format_exc(limit=-4)
            row.update(status="failed", error=f"{type(e).__name__}: {e}\n{tb}"[:4000])
    row["finished_at"] = datetime.now(timezone.utc)
    return row


def _protocol(cell: Cell, results_dir: Path, device: str, row: dict, progress: ProgressFn | None,
              memo: dict) -> None:
    strategy_cls = get_strategy(cell.strategy)
    if strategy_cls.needs_target_labels and cell.label_budget == 0:
        raise NotApplicable(f"{cell.strategy} needs target labels and the label budget is 0")

    source, target = cached_domain(cell.source_domain), cached_domain(cell.target_domain)
    if cell.data_on_device:  # the whole input cache on the GPU: batches are gathered there
        source, target = domain_on_device(source, device), domain_on_device(target, device)
    amp = Amp(cell.precision, device)
    configure_backends(cell.precision, device)
    if source.classes != target.classes:
        raise ValueError(f"{cell.source_domain} and {cell.target_domain} have different label sets")
    modality = getattr(BACKBONES.get(cell.backbone.name), "modality", "image")
    if modality != source.modality:  # e.g. a text backbone in a suite that also has an image pair
        raise NotApplicable(f"{cell.backbone.name} takes {modality} inputs; {cell.source_domain} is {source.modality}")

    # the unlabelled target pool and the split target accuracy is measured on (bench/plan/protocol.py)
    target_x, target_eval = target_pools(cell.target_split, target)

    # 1. source stage (cached and shared by every cell with the same source key); under the joint
    # protocol a domain-adaptation method starts from the initial weights instead, with no source stage
    joint = starts_from_initial(cell.protocol, strategy_cls)
    if joint:
        model = initial_model(cell, source).to(device)
        meta = {"wall_s": 0.0, "cached": False, "source_key": f"initial-{cell.source_key()}"}
    else:
        on_source = (lambda s, t: progress("source", s, t)) if progress else None
        model, meta = source_model(cell, source, device, results_dir / "_source_models", on_source)
    row["source_wall_s"], row["source_cached"] = meta["wall_s"], meta["cached"]

    # 2. before adaptation (no source model under joint: these stay NaN)
    model.eval()
    if not joint:
        row["source_acc_before"], _ = evaluate(model, source.test, device, amp=amp)
        row["target_acc_before"], _ = evaluate(model, target_eval, device, amp=amp)
        row["a_distance_before"] = _a_distance(model, source, target, device, cell.seed)

    # 3. adaptation: the strategy sees target-train labels only within the budget
    labeled_idx = budget_indices(target.train.y, cell.label_budget, cell.seed)
    # transferability scores: the source model on the labelled target examples, before adapting
    # (every label of the budget, before target_val is carved out of it)
    row.update(cell_scores(model, target.train, labeled_idx, device, memo,
                           f"{meta.get('source_key', '')}:{cell.target_domain}:{cell.label_budget}:{cell.seed}"))
    # target_val: labels carved out of the budget for validation; the strategy trains on the rest
    labeled_idx, held_idx = carve_validation(target.train.y, labeled_idx, cell.target_val, cell.seed)
    hp = strategy_cls.Hparams(**cell.hparams)
    steps = strategy_cls.total_steps(hp, cell.adapt.steps) if strategy_cls.trains else 0
    ctx = AdaptContext(
        source_train=source.train, source_val=source.val, target_labeled=target.train.take(labeled_idx),
        target_labeled_idx=labeled_idx, target_unlabeled_x=target_x,
        num_classes=target.num_classes, config=cell.adapt, steps=steps, seed=cell.seed,
        device=device,
        initial_model=lambda: place_model(initial_model(cell, source), cell.backbone, device, compile=False),
        cache=memo, cache_key=meta.get("source_key", ""), target_domain=cell.target_domain, amp=amp)
    torch.manual_seed(cell.seed)
    strategy = strategy_cls(model, ctx, hp)
    selector = Selector(cell.selection, strategy, source.val, device, target_x=target_x)
    recorder = CheckpointRecorder(row["cell_key"], strategy, source, target, target.train.take(held_idx),
                                  device, cell.seed) if cell.checkpoints else None
    at = checkpoint_steps(steps, cell.checkpoints)
    every = selector.every(steps) if selector.active else 0

    def checkpoint(step: int) -> None:  # off the clock (StepLoop pauses it)
        if every and step % every == 0:
            selector.check(step)
        if recorder is not None and step in at:
            recorder.record(step)

    loop = StepLoop(steps, device, on_step=(lambda s, t: progress("adapt", s, t)) if progress else None)
    t0 = time.perf_counter()
    footprint = TensorFootprint(model)  # tensor-counted memory: comparable between methods on CPU
    with measure.PeakMemory(device) as mem:
        strategy.setup()
        footprint.model = strategy.model
        strategy.model.train()
        loop.run(footprint.wrap(amp.wrap(strategy.update)), lambda: ctx.samples_seen,
                 set_step=lambda s: setattr(ctx, "step", s),
                 checkpoint=checkpoint if (every or at) else None, every=every, at=at)
        strategy.finish()
    row["adapt_wall_s"] = time.perf_counter() - t0
    if recorder is not None:  # the final weights, before any in-run selection swaps them
        recorder.record(steps, final=True)
        recorder.write(results_dir)  # before the row: a cell with a row always has its checkpoints
    selector.restore_best()
    row.update(steps=steps, train_samples_per_s=loop.samples_per_s, mem_kind=mem.kind,
               peak_mem_allocated_bytes=mem.allocated, peak_mem_reserved_bytes=mem.reserved,
               mem_baseline_bytes=mem.baseline_bytes,
               compile_s=loop.first_step_s if cell.backbone.compile else NAN)
    row["trainable_params"], row["total_params"] = _params(strategy)
    # parameter-efficient strategies report their saved adapter's size and extra costs
    row["adapter_bytes"] = getattr(strategy, "adapter_bytes", None)
    extra = {**footprint.summary(optimizers_of(strategy)), **getattr(strategy, "extra", {}),
             **placement_facts(model), "adapt_step_s": loop.step_s,
             "source_step_s": meta.get("step_s"), "source_batch_size": cell.source.batch_size}
    if cell.target_val:  # the budget the strategy trained on, and what target_val held out
        extra.update(target_val_labels=len(held_idx), target_train_labels=len(labeled_idx))
    row["extra"] = json.dumps(extra, sort_keys=True)

    # 4. after adaptation
    strategy.model.eval()
    row["target_acc"], row["infer_samples_per_s"] = evaluate(strategy.predict, target_eval, device, amp=amp)
    row["source_acc_after"], _ = evaluate(strategy.predict, source.test, device, amp=amp)
    row["forgetting"] = row["source_acc_before"] - row["source_acc_after"]
    row["target_gain"] = row["target_acc"] - row["target_acc_before"]
    row["a_distance_after"] = _a_distance(strategy.model, source, target, device, cell.seed)


def _a_distance(model: Any, source: Domain, target: Domain, device: str, seed: int) -> float:
    """Proxy A-distance of source-val vs target-val *inputs* (no labels) in the model's feature
    space: did adaptation bring the domains together? NaN (never a failed cell) where it cannot
    be measured, e.g. a model without ``features``."""
    from bench.strategies._alignment import model_a_distance

    try:
        return model_a_distance(model, source.val.x, target.val.x, device, seed)
    except Exception:  # noqa: BLE001 - a measurement, not part of the protocol's outcome
        return NAN


def _params(strategy: Any) -> tuple[int, int]:
    trainable, total = count_params(strategy.model)
    if not strategy.trains:
        trainable = 0
    return trainable, total


def base_row(cell: Cell, run_id: str, device: str) -> dict[str, Any]:
    """The cell's row before it runs: every column at its schema default, identity and provenance set."""
    return {**new_row(), **identity_row(cell, run_id),
            "mem_kind": "cuda" if str(device).startswith("cuda") else "cpu_rss",
            "started_at": datetime.now(timezone.utc), "git_sha": measure.git_sha(),
            "package_versions": measure.package_versions(), "device_name": measure.device_name(device),
            "host": measure.host()}
