"""The one Shannon entropy of the harness: training losses and validators use it.

    H(p) = -sum_c p_c log(floor(p_c))

Two floors keep ``log`` finite where a probability underflows to 0, and both are kept exactly as
they were when they lived in three places, so that no stored number moves: the losses (Tent,
CDAN+E's weights, MCC; once also the retired in-run ``target_entropy`` selection) add ``eps = 1e-8`` inside the
log (``floor="add"``: a finite gradient at p = 0); the validators clamp at ``1e-12`` in float64
(``floor="clamp"``: the exact entropy for every p >= 1e-12, and 0 log 0 = 0).
"""
from __future__ import annotations

from typing import Literal

import torch


def entropy(probs: torch.Tensor, eps: float = 1e-8, floor: Literal["add", "clamp"] = "add") -> torch.Tensor:
    """Per-row entropy in nats of probability vectors.

    Args:
        probs: ``[..., C]`` probabilities (rows sum to 1).
        eps: the floor's size.
        floor: ``"add"``: ``log(p + eps)``; ``"clamp"``: ``log(max(p, eps))``.

    Returns:
        ``[...]``; e.g. ``entropy(torch.full((2, 4), 0.25))`` is about ``log 4`` per row.
    """
    log_p = torch.log(probs + eps) if floor == "add" else probs.clamp_min(eps).log()
    return -(probs * log_p).sum(-1)


def mean_entropy(probs: torch.Tensor) -> float:
    """The entropy averaged over rows, as the ``entropy`` and ``im`` validators score it."""
    return entropy(probs, eps=1e-12, floor="clamp").mean().item()
