"""The protocol of one cell, top to bottom (docs/protocol.md, "The protocol of one cell").

``run_cell(cell, ...)`` never raises for a problem of the cell itself: an exception, a NaN loss or
an out-of-memory becomes a row with status ``failed`` / ``diverged`` / ``oom`` and the error text,
so one bad cell never takes a sweep down. A fault of the input or of the machine (a
:class:`bench.errors.BenchError`: missing or corrupt data, an unusable cache, a full disk) is no
result of the cell: it stops the run with its message and nothing is stored, so the same command
runs the cell once the fault is fixed.

The protocol is a sequence of typed stages (``_protocol``): prepare, source stage, evaluate
before, transferability, adapt, evaluate after. Each returns its part of the row, a
:class:`bench.cell.row_parts.RowPart` whose fields are results columns, and the row takes it as
the stage ends; the row starts as the cell's identity and ``Provenance`` and ends with its ``Outcome``.
"""
from __future__ import annotations

import functools
import json
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import torch

from bench.train import measure
from bench.backbones import BACKBONES, count_params
from bench.cell.checkpoints import CheckpointRecorder, ProbeData, checkpoint_steps, write_selection_table
from bench.cell.row_parts import Adaptation, After, Before, Outcome, Provenance, Transferability
from bench.data.base import Domain, Split, load_domain, take
from bench.data.budget import budget_indices, carve_validation
from bench.errors import BenchError
from bench.results import ResultsDir, disk_full, disk_full_error, new_row
from bench.train.footprint import TensorFootprint, optimizers_of
from bench.train.placement import domain_on_device, place_model, placement_facts
from bench.train.precision import Amp, configure_backends
from bench.cell.source_stage import TrainedSource, initial_model, source_model
from bench.strategies import AdaptContext, NotApplicable, Strategy, get_strategy
from bench.strategies._alignment import model_a_distance
from bench.cell.selection import Selector
from bench.plan.protocol import starts_from_initial, target_pools
from bench.plan.cells import Cell, identity_row
from bench.train.loop import Diverged, StepLoop, evaluate
from bench.cell.transferability import cell_scores

NAN = float("nan")
ProgressFn = Callable[[str, int, int], None]  # (stage, step, total)


@functools.lru_cache(maxsize=16)
def cached_domain(name: str) -> Domain:
    """Domains are deterministic, so one process builds each once and shares it between cells
    (the parts of a multi-source name too: leave-one-domain-out reuses each in several cells)."""
    return load_domain(name, cached_domain)


def run_cell(cell: Cell, results_dir: str | Path, run_id: str = "", device: str = "cpu",
             progress: ProgressFn | None = None, memo: dict | None = None) -> dict[str, Any]:
    """Run one cell and return its row (not yet written)."""
    row = base_row(cell, run_id, device)
    try:
        _protocol(cell, Path(results_dir), device, row, progress, memo if memo is not None else {})
        outcome = Outcome("ok")
    except NotApplicable as e:
        outcome = Outcome("skipped", str(e))
    except Diverged as e:
        outcome = Outcome("diverged", f"diverged: {e}")
    except torch.cuda.OutOfMemoryError as e:
        outcome = Outcome("oom", f"out of memory: {e}"[:2000])
    except BenchError:  # the input's or the machine's fault (data, cache): stop the run, store nothing
        raise
    except Exception as e:  # noqa: BLE001 - every failure of a cell becomes a row
        if disk_full(e):  # the machine's fault, not the cell's: stop the run, store nothing
            raise disk_full_error(f"cell {cell.describe()}'s files under {results_dir}", e) from e
        if "out of memory" in str(e).lower():
            outcome = Outcome("oom", f"out of memory: {e}"[:2000])
        else:
            tb = traceback.format_exc(limit=-4)
            outcome = Outcome("failed", f"{type(e).__name__}: {e}\n{tb}"[:4000])
    row.update(outcome.columns())
    return row


@dataclass
class Setting:
    """What every stage of one cell works on."""

    cell: Cell
    strategy_cls: type[Strategy]
    source: Domain
    target: Domain
    target_x: Any       # the unlabelled target pool (bench/plan/protocol.py)
    target_eval: Split  # the split target accuracy is measured on
    joint: bool         # a domain-adaptation method under the joint protocol: no source stage
    amp: Amp
    device: str
    results_dir: Path
    progress: ProgressFn | None
    memo: dict          # the run's caches shared between cells (features, transferability)

    def on_step(self, stage: str) -> Callable[[int, int], None] | None:
        progress = self.progress
        return (lambda step, total: progress(stage, step, total)) if progress else None


def _protocol(cell: Cell, results_dir: Path, device: str, row: dict, progress: ProgressFn | None,
              memo: dict) -> None:
    """The stages in order; each adds its part to ``row`` as it ends, so a failed cell's row keeps
    what the stages before the failure measured."""
    setting = _prepare(cell, device, results_dir, progress, memo)
    model, trained = _source_stage(setting)
    row.update(trained.facts().columns())
    model.eval()
    before = Before() if setting.joint else _evaluate_before(setting, model)
    row.update(before.columns())
    labeled_idx = budget_indices(setting.target.train.y, cell.label_budget, cell.seed)
    row.update(_transferability(setting, model, trained, labeled_idx).columns())
    strategy, adaptation = _adapt(setting, model, trained, labeled_idx)
    row.update(adaptation.columns())
    row.update(_evaluate_after(setting, strategy, before).columns())


def _prepare(cell: Cell, device: str, results_dir: Path, progress: ProgressFn | None, memo: dict) -> Setting:
    """0. what the cell needs, or why it does not apply (``NotApplicable``: a skipped cell)."""
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
    return Setting(cell, strategy_cls, source, target, target_x, target_eval,
                   joint=starts_from_initial(cell.protocol, strategy_cls), amp=amp, device=device,
                   results_dir=results_dir, progress=progress, memo=memo)


def _source_stage(s: Setting) -> tuple[Any, TrainedSource]:
    """1. the source model: cached and shared by every cell with the same source key; under the
    joint protocol a domain-adaptation method starts from the initial weights, with no source stage."""
    if s.joint:
        return initial_model(s.cell, s.source).to(s.device), TrainedSource.none(s.cell)
    return source_model(s.cell, s.source, s.device, ResultsDir(s.results_dir).source_models,
                        s.on_step("source"))


def _evaluate_before(s: Setting, model: Any) -> Before:
    """2. the source model before adaptation."""
    source_acc, _ = evaluate(model, s.source.test, s.device, amp=s.amp)
    target_acc, _ = evaluate(model, s.target_eval, s.device, amp=s.amp)
    return Before(source_acc, target_acc, _a_distance(model, s.source, s.target, s.device, s.cell.seed))


def _transferability(s: Setting, model: Any, trained: TrainedSource, labeled_idx: Any) -> Transferability:
    """The source model on the labelled target examples, before adapting (every label of the
    budget, before target_val is carved out of it)."""
    key = f"{trained.source_key}:{s.cell.target_domain}:{s.cell.label_budget}:{s.cell.seed}"
    return Transferability(**cell_scores(model, s.target.train, labeled_idx, s.device, s.memo, key))


def _build_strategy(s: Setting, model: Any, trained: TrainedSource, labeled_idx: Any) -> tuple[Strategy, AdaptContext, Any]:
    """The strategy and all it may see: target-train labels only within the budget, less what
    target_val carves out of it for validation (returned: those held-out positions)."""
    cell, target, target_x = s.cell, s.target, s.target_x
    labeled_idx, held_idx = carve_validation(target.train.y, labeled_idx, cell.target_val, cell.seed)
    if not s.strategy_cls.sees_target:  # held out (domain generalization): nothing of the target
        labeled_idx, target_x = labeled_idx[:0], take(target_x, torch.arange(0))
    hp = s.strategy_cls.Hparams(**cell.hparams)
    steps = s.strategy_cls.total_steps(hp, cell.adapt.steps) if s.strategy_cls.trains else 0
    ctx = AdaptContext(
        source_train=s.source.train, source_val=s.source.val, target_labeled=target.train.take(labeled_idx),
        target_labeled_idx=labeled_idx, target_unlabeled_x=target_x,
        num_classes=target.num_classes, config=cell.adapt, steps=steps, seed=cell.seed,
        device=s.device,
        initial_model=lambda: place_model(initial_model(cell, s.source), cell.backbone, s.device, compile=False),
        cache=s.memo, cache_key=trained.source_key, target_domain=cell.target_domain, amp=s.amp)
    torch.manual_seed(cell.seed)
    return s.strategy_cls(model, ctx, hp), ctx, held_idx


def _adapt(s: Setting, model: Any, trained: TrainedSource, labeled_idx: Any) -> tuple[Strategy, Adaptation]:
    """3. adaptation, timed and measured; in-run selection and checkpoints run off the clock
    (StepLoop pauses it)."""
    cell = s.cell
    strategy, ctx, held_idx = _build_strategy(s, model, trained, labeled_idx)
    steps = ctx.steps
    # what the validators score, for the checkpoint tables and the in-run rule alike
    data = ProbeData(strategy, s.source, s.target, s.target.train.take(held_idx), s.device, cell.seed) \
        if cell.checkpoints or cell.selection != "last" else None
    selector = Selector(cell.selection, strategy, data)
    recorder = CheckpointRecorder(cell.row_key(), data, s.source.test, s.target.test) \
        if cell.checkpoints else None  # filed under the row's key
    at = checkpoint_steps(steps, cell.checkpoints)
    every = selector.every(steps) if selector.active else 0

    def checkpoint(step: int) -> None:
        # where both run at a step, the recorder's scores serve the in-run rule: computed once
        scores = recorder.record(step) if recorder is not None and step in at else {}
        if every and step % every == 0:
            selector.check(step, scores.get(cell.selection))

    loop = StepLoop(steps, s.device, on_step=s.on_step("adapt"))
    t0 = time.perf_counter()
    footprint = TensorFootprint(model)  # tensor-counted memory: comparable between methods on CPU
    with measure.PeakMemory(s.device) as mem:
        strategy.setup()
        footprint.model = strategy.model
        strategy.model.train()
        loop.run(footprint.wrap(s.amp.wrap(strategy.update)), lambda: ctx.samples_seen,
                 set_step=lambda step: setattr(ctx, "step", step),
                 checkpoint=checkpoint if (every or at) else None, every=every, at=at)
        strategy.finish()
    wall_s = time.perf_counter() - t0
    final_scores = {}
    if recorder is not None:  # the final weights, before any in-run selection swaps them
        final_scores = recorder.record(steps, final=True)
        recorder.write(s.results_dir)  # before the row: a cell with a row always has its checkpoints
    selector.restore_best(steps, final_scores.get(cell.selection))
    if selector.checks:  # what the in-run rule saw, beside the checkpoint tables
        write_selection_table(s.results_dir, cell.row_key(), selector.table(cell.row_key()))
    facts = _adaptation_facts(s, strategy, ctx, model, trained, loop, mem, footprint, wall_s, held_idx)
    facts.selection_step = selector.kept_step
    return strategy, facts


def _adaptation_facts(s: Setting, strategy: Strategy, ctx: AdaptContext, model: Any, trained: TrainedSource,
                      loop: StepLoop, mem: Any, footprint: TensorFootprint, wall_s: float,
                      held_idx: Any) -> Adaptation:
    """What adaptation cost: time, throughput, memory, parameters, and the strategy's own facts
    (parameter-efficient strategies report their saved adapter's size)."""
    trainable, total = _params(strategy)
    extra = {**footprint.summary(optimizers_of(strategy)), **getattr(strategy, "extra", {}),
             **placement_facts(model), "adapt_step_s": loop.step_s,
             "source_step_s": trained.step_s, "source_batch_size": s.cell.source.batch_size}
    if s.cell.target_val:  # the budget the strategy trained on, and what target_val held out
        extra.update(target_val_labels=len(held_idx), target_train_labels=len(ctx.target_labeled_idx))
    return Adaptation(
        steps=loop.steps, adapt_wall_s=wall_s, train_samples_per_s=loop.samples_per_s,
        compile_s=loop.first_step_s if s.cell.backbone.compile else NAN, mem_kind=mem.kind,
        peak_mem_allocated_bytes=mem.allocated, peak_mem_reserved_bytes=mem.reserved,
        mem_baseline_bytes=mem.baseline_bytes, trainable_params=trainable, total_params=total,
        adapter_bytes=getattr(strategy, "adapter_bytes", None), extra=json.dumps(extra, sort_keys=True))


def _evaluate_after(s: Setting, strategy: Strategy, before: Before) -> After:
    """4. the adapted model: target accuracy, what the source domain forgot, what alignment did."""
    strategy.model.eval()
    target_acc, infer_samples_per_s = evaluate(strategy.predict, s.target_eval, s.device, amp=s.amp)
    source_acc, _ = evaluate(strategy.predict, s.source.test, s.device, amp=s.amp)
    return After(target_acc=target_acc, infer_samples_per_s=infer_samples_per_s,
                 source_acc_after=source_acc, forgetting=before.source_acc_before - source_acc,
                 target_gain=target_acc - before.target_acc_before,
                 a_distance_after=_a_distance(strategy.model, s.source, s.target, s.device, s.cell.seed))


def _a_distance(model: Any, source: Domain, target: Domain, device: str, seed: int) -> float:
    """Proxy A-distance of source-val vs target-val *inputs* (no labels) in the model's feature
    space: did adaptation bring the domains together? NaN (never a failed cell) where it cannot
    be measured, e.g. a model without ``features``."""
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
    provenance = Provenance(started_at=datetime.now(timezone.utc), git_sha=measure.git_sha(),
                            package_versions=measure.package_versions(),
                            device_name=measure.device_name(device), host=measure.host())
    return {**new_row(), **identity_row(cell, run_id),
            "mem_kind": "cuda" if str(device).startswith("cuda") else "cpu_rss", **provenance.columns()}
