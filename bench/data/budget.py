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


def carve_validation(y: torch.Tensor, idx: torch.Tensor, per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split budget indices ``idx`` into (kept for training, ``per_class`` held out per class).

    The held-out examples are labelled target data the strategy never trains on: the
    ``target_val`` validator scores on them. Every class must keep at least one training label.
    """
    if per_class == 0 or len(idx) == 0:
        return idx, torch.empty(0, dtype=torch.long)
    gen = torch.Generator().manual_seed(10_007 * seed + 29)
    perm = idx[torch.randperm(len(idx), generator=gen)]
    held = []
    for c in torch.unique(y[idx]).tolist():
        of_class = perm[y[perm] == c]
        if len(of_class) <= per_class:
            raise ValueError(f"target_val: {per_class} holds out {per_class} labels per class, but class {c} "
                             f"has only {len(of_class)} in the budget; use a label budget above "
                             f"{per_class} (or a smaller target_val)")
        held.append(of_class[:per_class])
    held_idx = torch.sort(torch.cat(held)).values
    keep = idx[~torch.isin(idx, held_idx)]
    return keep, held_idx
