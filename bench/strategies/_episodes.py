"""N-way k-shot episodes for the few-shot strategies (``protonet``, ``maml``).

An episode picks ``n_way`` classes and, from each, ``k_shot`` support and ``n_query`` query
examples, without replacement within the episode. Meta-training draws episodes from the labelled
*source*-train split only; adaptation uses the cell's labelled target examples
(``ctx.target_labeled``) as the one support set. :class:`EpisodeSampler` keeps which split it draws
from and every index it handed out, so a test can prove no other target label was ever touched.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from bench.data.base import Split, take, to_device


@dataclass
class Episode:
    support_x: Any
    support_y: torch.Tensor
    query_x: Any
    query_y: torch.Tensor
    indices: torch.Tensor  # positions in the sampler's split (support then query)


class EpisodeSampler:
    """Seeded episodes from one labelled split; classes with fewer than ``k_shot + n_query``
    examples are never chosen (an error says so when too few classes are left)."""

    def __init__(self, split: Split, n_way: int, k_shot: int, n_query: int, seed: int, device: str):
        self.split, self.k_shot, self.n_query, self.device = split, k_shot, n_query, device
        self.gen = torch.Generator().manual_seed(seed)
        per_class = {c: torch.nonzero(split.y == c).flatten() for c in torch.unique(split.y).tolist()}
        self.by_class = {c: idx for c, idx in per_class.items() if len(idx) >= k_shot + n_query}
        if len(self.by_class) < min(n_way, len(per_class)) or not self.by_class:
            raise ValueError(f"episodes need {k_shot} support + {n_query} query examples in each of "
                             f"{n_way} classes; only {len(self.by_class)} classes have that many: "
                             "lower k_shot / n_query / n_way")
        self.n_way = min(n_way, len(self.by_class))
        self.drawn: list[torch.Tensor] = []   # every episode's indices, for the budget test
        self.samples = 0

    def next(self) -> Episode:
        classes = list(self.by_class)
        chosen = [classes[i] for i in torch.randperm(len(classes), generator=self.gen)[: self.n_way]]
        support, query = [], []
        for c in chosen:
            idx = self.by_class[c]
            pick = idx[torch.randperm(len(idx), generator=self.gen)[: self.k_shot + self.n_query]]
            support.append(pick[: self.k_shot])
            query.append(pick[self.k_shot:])
        s, q = torch.cat(support), torch.cat(query)
        both = torch.cat([s, q])
        self.drawn.append(both)
        self.samples += len(both)
        x, y = self.split.x, self.split.y
        return Episode(to_device(take(x, s), self.device), y[s].to(self.device),
                       to_device(take(x, q), self.device), y[q].to(self.device), both)
