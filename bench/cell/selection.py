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
#: which outputs a Probe has of each input: (logits, features)
_PART_OUTPUTS = {part: (any(f == (part, 0) for f in _OUTPUT_FIELDS.values()),
                        any(f == (part, 1) for f in _OUTPUT_FIELDS.values()))
                 for part, _ in _OUTPUT_FIELDS.values()}


class LazyProbe:
    """A :class:`bench.validators.Probe` whose model outputs are computed when the validator first
    reads them: an in-run rule scores one validator, and ``source_val`` needs only source-val.

    Each input is run once: where one backbone pass gives predictions and features
    (``ProbeData._one_pass``) the first read of an input takes every output the Probe has of it (the
    very operations of a pass for either one alone, so the same bits); otherwise the predictions
    and the features are separate computations anyway, and each runs once, when first read."""

    def __init__(self, data: ProbeData):
        self._data, self._outputs = data, {}
        self._one_pass = data._one_pass()
        self.source_val_y, self.target_val_y, self.seed = data.source_val.y, data.target_val.y, data.seed

    def __getattr__(self, name: str) -> torch.Tensor:
        if name not in _OUTPUT_FIELDS:
            raise AttributeError(name)
        part, index = _OUTPUT_FIELDS[name]
        if (part, index) not in self._outputs:
            logits, features = _PART_OUTPUTS[part] if self._one_pass else (index == 0, index == 1)
            split = getattr(self._data, part)
            out = self._data.outputs(getattr(split, "x", split), features=features, logits=logits)
            self._outputs.update({(part, i): out[i] for i, wanted in enumerate((logits, features)) if wanted})
        return self._outputs[(part, index)]


class Selector:
    """Keeps the weights that ``rule`` (``last`` or a validator) scores highest during one run, and
    what it saw: every check's (step, final, score) and the step of the weights it kept."""

    def __init__(self, rule: str, strategy: Any, data: ProbeData | None):
        self.rule, self.strategy, self.data = rule, strategy, data
        self.checks: list[tuple[int, bool, float]] = []  # the candidates of the pick, in order
        self.best_state, self.kept = None, None  # the kept weights and their index in ``checks``
        self.score_of = VALIDATORS.get(rule) if self.active else None

    @property
    def active(self) -> bool:
        return self.rule != "last"

    def every(self, steps: int) -> int:
        """The in-run rule's own steps: every ``steps // 10`` (at least 1), then the final weights."""
        return max(1, steps // 10)

    def check(self, step: int, score: float | None = None, final: bool = False) -> None:
        """Score the current weights (or take ``score``: the checkpoint recorder's score of this
        rule on the same ProbeData and weights, so they are computed once) and keep them if they
        are the pick so far."""
        model = self.strategy.model
        if score is None:
            was_training = model.training
            model.eval()
            with torch.random.fork_rng(devices=[]):  # scoring never moves the training's RNG
                score = float(self.score_of(LazyProbe(self.data)))
            model.train(was_training)
        self.checks.append((int(step), final, score))
        if best_position([c[2] for c in self.checks]) == len(self.checks) - 1:  # the pick so far
            self.best_state, self.kept = copy.deepcopy(model.state_dict()), len(self.checks) - 1

    def restore_best(self, steps: int, final_score: float | None = None) -> None:
        """The final weights (after ``steps``) compete too, then the kept weights are loaded (a rule
        NaN at every check keeps the final ones: they are what the model holds). A run that never
        checked (no adaptation steps) has nothing to choose among."""
        if self.active and self.checks:
            self.check(steps, final_score, final=True)  # they win only if strictly better
            if self.best_state is not None:
                self.strategy.model.load_state_dict(self.best_state)

    @property
    def kept_step(self) -> int | None:
        """The step of the weights the row measures (None: no selection, or every score NaN)."""
        return self.checks[self.kept][0] if self.kept is not None else None

    def table(self, cell_key: str) -> list[dict[str, Any]]:
        """One row per check: ``cell_key``, ``step``, ``final``, ``score_<rule>``, ``kept``."""
        return [{"cell_key": cell_key, "step": step, "final": final, f"score_{self.rule}": score,
                 "kept": i == self.kept} for i, (step, final, score) in enumerate(self.checks)]
