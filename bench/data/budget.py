"""Label budgets: which target-train labels a strategy may see."""
from __future__ import annotations

import torch


def budget_indices(y: torch.Tensor, budget: int | str, seed: int) -> torch.Tensor:
    """Indices of the labelled examples allowed under ``budget``.

    ``"all"``: every index; ``k``: exactly ``k`` per class (an error if a class has fewer), drawn
    with a seeded permutation so each seed sees its own, reproducible labelled subset.
    """
    if budget == "all":
        return torch.arange(len(y))
    k = int(budget)
    gen = torch.Generator().manual_seed(10_007 * seed + 17)
    perm = torch.randperm(len(y), generator=gen)
    chosen = [perm[y[perm] == c][:k] for c in torch.unique(y).tolist()]
    if any(len(c) < k for c in chosen):  # the runner refuses such a suite before any cell runs
        raise ValueError(f"label budget {k} per class: some class has only {min(map(len, chosen))} examples")
    return torch.sort(torch.cat(chosen)).values if chosen else torch.empty(0, dtype=torch.long)
