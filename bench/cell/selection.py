"""In-run selection: a rule of the validators registry, applied during the run at its own steps.

There is one list of selection rules, the validators registry (``bench/validators/``), and one
meaning of each: a rule scores a model on the validators' data (:class:`ProbeData`, the same
seeded subsets the checkpoint tables are scored on) and picks the highest score, ties to the
earlier step, never a NaN score (``bench.results.pick``: the one pick, which report-time selection
calls too; a rule NaN at every check keeps the final weights). Report-time selection (``bench report --select RULE``) applies it
to the checkpoints a run stored; in-run selection (the suite's ``selection: RULE``) applies it
while the cell runs, to the weights at every ``steps // 10`` steps and the final ones, and the row
then measures the weights it kept (its target and source accuracy, forgetting, A-distance,
inference speed). The row's ``selection_rule`` names the rule, and the rule is part of its
protocol hash. So ``selection: source_val`` with ``checkpoints: 10`` over a step count divisible
by 10 keeps the very checkpoint that ``--select source_val`` picks from the stored table
(tests/test_in_run_selection.py).

GPU suites select in the run to measure the selected weights themselves; the CPU suites store
checkpoints and select at report time. The retired in-run rule ``target_entropy`` was a second
entropy score beside the ``entropy`` validator (another floor and other inputs); rows that
recorded it keep their numbers and their ``selection_rule`` (``--select last`` shows them as
recorded), and a suite naming it is refused with what to use instead (docs/reports.md).
"""
from __future__ import annotations

import copy
from typing import Any

import torch

from bench.cell.checkpoints import ProbeData
from bench.results.pick import best_position
from bench.validators import VALIDATORS

#: which model outputs (``ProbeData`` input, logits 0 / features 1) each Probe field is
_OUTPUT_FIELDS = {"source_val_logits": ("source_val", 0), "source_val_feats": ("source_val", 1),
                  "target_logits": ("target_x", 0), "target_feats": ("target_x", 1),
                  "source_train_feats": ("source_x", 1), "target_val_logits": ("target_val", 0)}


class LazyProbe:
    """A :class:`bench.validators.Probe` whose model outputs are computed when the validator first
    reads them: an in-run rule scores one validator, and ``source_val`` needs only source-val."""

    def __init__(self, data: ProbeData):
        self._data, self._outputs = data, {}
        self.source_val_y, self.target_val_y, self.seed = data.source_val.y, data.target_val.y, data.seed

    def __getattr__(self, name: str) -> torch.Tensor:
        if name not in _OUTPUT_FIELDS:
            raise AttributeError(name)
        part, index = _OUTPUT_FIELDS[name]
        key = (part, index == 1)  # logits alone run the predictions only, as an evaluation does
        if key not in self._outputs:
            split = getattr(self._data, part)
            self._outputs[key] = self._data.outputs(getattr(split, "x", split), features=index == 1)
        return self._outputs[key][index]


class Selector:
    """Keeps the weights that ``rule`` (``last`` or a validator) scores highest during one run."""

    def __init__(self, rule: str, strategy: Any, data: ProbeData | None):
        self.rule, self.strategy, self.data = rule, strategy, data
        self.scores: list[float] = []  # every check's score, in order (the candidates of the pick)
        self.best_state = None
        self.score_of = VALIDATORS.get(rule) if self.active else None

    @property
    def active(self) -> bool:
        return self.rule != "last"

    def every(self, steps: int) -> int:
        """The in-run rule's own steps: every ``steps // 10`` (at least 1), then the final weights."""
        return max(1, steps // 10)

    def check(self, step: int) -> None:
        model = self.strategy.model
        was_training = model.training
        model.eval()
        with torch.random.fork_rng(devices=[]):  # scoring never moves the training's RNG
            score = float(self.score_of(LazyProbe(self.data)))
        model.train(was_training)
        self.scores.append(score)
        if best_position(self.scores) == len(self.scores) - 1:  # this check is the pick so far
            self.best_state = copy.deepcopy(model.state_dict())

    def restore_best(self) -> None:
        if self.active and self.best_state is not None:
            self.check(-1)  # the final weights compete too (last: they win only if strictly better)
            self.strategy.model.load_state_dict(self.best_state)

