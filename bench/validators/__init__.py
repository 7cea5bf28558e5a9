"""Validators: scores of an adapted model that need no target label the strategy was not given
(plus the labelled ``oracle``, for analysis only). One small module each, registered by name.

Each validator is ``score(probe) -> float`` oriented **higher = better** (a risk or an entropy is
returned negated), or NaN where it does not apply (``target_val`` at label budget 0). A
:class:`Probe` holds what one checkpoint evaluation computed once for all validators.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from bench.registry import Registry

Validator = Callable[["Probe"], float]
VALIDATORS: Registry[Validator] = Registry("validator", "bench.validators", "VALIDATORS")


@dataclass
class Probe:
    """Model outputs at one checkpoint, on the data validators may use (all on the CPU, float).

    ``*_logits`` are the strategy's predictions, ``*_feats`` the backbone's features (the logits
    where a model has no ``features``). Target-test accuracy is not here: the oracle is recorded
    by the harness beside the scores, never given to a validator.
    """

    source_val_logits: torch.Tensor
    source_val_y: torch.Tensor
    source_val_feats: torch.Tensor
    source_train_feats: torch.Tensor    # a seeded subset, for DEV's domain classifier
    target_logits: torch.Tensor         # unlabelled target-train inputs (a seeded subset)
    target_feats: torch.Tensor
    target_val_logits: torch.Tensor     # labelled target examples held out of the budget (may be empty)
    target_val_y: torch.Tensor
    seed: int = 0


def score_all(probe: Probe) -> dict[str, float]:
    """``{rule: score}`` for every registered validator."""
    return {name: float(VALIDATORS.get(name)(probe)) for name in VALIDATORS.names()}
