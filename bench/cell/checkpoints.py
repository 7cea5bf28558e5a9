"""Checkpoints: K evaluations of every validator (and, for analysis only, of target-test accuracy)
during a cell's adaptation, written to ``<results>/_checkpoints/<cell_key>.parquet``.

One row per checkpoint: ``cell_key``, ``step``, ``final`` (the weights the cell's row reports,
after the strategy's ``finish``), ``target_acc`` (ORACLE: target-test accuracy, analysis only),
``source_acc`` (source-test) and ``score_<rule>`` for every validator, higher = better (see
``bench.analysis.report.rules``). The K evaluations are evenly spaced: steps ``round(i * steps / K)`` for
``i = 1 .. K-1``, then the final weights. They run off the clock and on a forked RNG, so turning
checkpoints on changes neither the trained weights nor the row's throughput.

``pd.read_parquet("<results>/_checkpoints")`` reads every cell's checkpoints as one table (and the
results directory itself still reads only rows: pyarrow skips ``_``-prefixed folders).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import torch

from bench.backbones.base import TransferModel
from bench.data.base import Split, batches, take
from bench.results import ResultsDir, write_table_atomically
from bench.strategies.base import Strategy
from bench.train.loop import evaluate
from bench.validators import Probe, score_all

#: at most this many (seeded) examples of target-train and source-train feed the validators
PROBE_SIZE = 1000


def checkpoint_steps(steps: int, k: int) -> list[int]:
    """The steps after which the K - 1 intermediate checkpoints run (the K-th is the final one)."""
    return sorted({round(i * steps / k) for i in range(1, k)} - {0, steps}) if k > 1 and steps > 0 else []


def checkpoint_path(results_dir: str | Path, cell_key: str) -> Path:
    return ResultsDir(results_dir).checkpoint(cell_key)


class ProbeData:
    """What the validators may see of one cell, chosen once (seeded subsets): source-val, up to
    ``PROBE_SIZE`` unlabelled target-train and source-train inputs, the labelled target examples
    held out of the budget. The checkpoint recorder and in-run selection score the same data."""

    def __init__(self, strategy: Any, source: Any, target: Any, target_val: Split, device: str, seed: int):
        self.strategy, self.device, self.seed = strategy, device, seed
        self.source_val = source.val
        gen = torch.Generator().manual_seed(seed + 31)
        pick = lambda n: torch.randperm(n, generator=gen)[: min(PROBE_SIZE, n)]  # noqa: E731
        self.target_x = take(target.train.x, pick(len(target.train.x)))
        self.source_x = take(source.train.x, pick(len(source.train.x)))
        self.target_val = target_val

    def _one_pass(self) -> bool:
        """Whether the predictions are the head of the features (every strategy that keeps the
        default ``predict`` on a :class:`TransferModel`): then one backbone pass gives both, with
        the very operations of ``model(x)``, so the same bits at half the cost."""
        return (type(self.strategy).predict is Strategy.predict
                and isinstance(self.strategy.model, TransferModel)
                and type(self.strategy.model).forward is TransferModel.forward)

    @torch.no_grad()
    def outputs(self, x: Any, features: bool = True, logits: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, features) of the strategy's current model on ``x``, on the CPU; without
        ``features`` only the predictions run (and the features are the logits); without
        ``logits`` only the features (and the logits are empty)."""
        model, outs, feats = self.strategy.model, [], []
        has_features = hasattr(model, "features")
        one_pass, logits = self._one_pass(), logits or not has_features
        for _, xb in batches(x, self.device, 256):
            f = model.features(xb) if has_features and (one_pass or features or not logits) else None
            if logits:
                outs.append((model.head(f) if one_pass else self.strategy.predict(xb)).float().cpu())
            feats.append((f if f is not None and features else outs[-1]).float().flatten(1).cpu())
        if not feats:
            return torch.empty(0, 0), torch.empty(0, 0)
        return (torch.cat(outs) if outs else torch.empty(0, 0)), torch.cat(feats)

    def probe(self) -> Probe:
        """Every validator's input, computed now."""
        sv_logits, sv_feats = self.outputs(self.source_val.x)
        t_logits, t_feats = self.outputs(self.target_x)
        _, s_feats = self.outputs(self.source_x, logits=False)
        tv_logits, _ = self.outputs(self.target_val.x, features=False)
        return Probe(source_val_logits=sv_logits, source_val_y=self.source_val.y, source_val_feats=sv_feats,
                     source_train_feats=s_feats, target_logits=t_logits, target_feats=t_feats,
                     target_val_logits=tv_logits, target_val_y=self.target_val.y, seed=self.seed)


class CheckpointRecorder:
    """Evaluates a strategy's current model on the validators' data and keeps one row per call."""

    def __init__(self, cell_key: str, data: ProbeData, source_test: Split, target_test: Split):
        self.cell_key, self.data, self.strategy, self.device = cell_key, data, data.strategy, data.device
        self.source_test, self.target_test = source_test, target_test
        self.rows: list[dict[str, Any]] = []

    def record(self, step: int, final: bool = False) -> dict[str, float]:
        """One row: every validator's score and the accuracies, now; returns the scores (in-run
        selection takes its rule's from here where both run at a step)."""
        model = self.strategy.model
        was_training = model.training
        model.eval()
        with torch.random.fork_rng(devices=[]):  # the validators never move the training's RNG
            scores = score_all(self.data.probe())
            target_acc, _ = evaluate(self.strategy.predict, self.target_test, self.device)
            source_acc, _ = evaluate(self.strategy.predict, self.source_test, self.device)
        model.train(was_training)
        self.rows.append({"cell_key": self.cell_key, "step": int(step), "final": final,
                          "target_acc": target_acc, "source_acc": source_acc,
                          **{f"score_{name}": value for name, value in scores.items()}})
        return scores

    def write(self, results_dir: str | Path) -> Path:
        """Atomically (temporary dot-name, fsync, rename): a rerun of the cell overwrites it."""
        return write_checkpoints(results_dir, self.cell_key, self.rows)


def write_checkpoints(results_dir: str | Path, cell_key: str, rows: list[dict[str, Any]]) -> Path:
    final = checkpoint_path(results_dir, cell_key)
    final.parent.mkdir(parents=True, exist_ok=True)
    return write_table_atomically(pa.Table.from_pylist(rows), final)


def write_selection_table(results_dir: str | Path, cell_key: str, rows: list[dict[str, Any]]) -> Path:
    """What in-run selection saw (``bench.cell.selection.Selector.table``), atomically, at
    ``ResultsDir.selection_table``: beside the checkpoint tables, never among them."""
    final = ResultsDir(results_dir).selection_table(cell_key)
    final.parent.mkdir(parents=True, exist_ok=True)
    return write_table_atomically(pa.Table.from_pylist(rows), final)
