"""``protonet``: prototypical networks (Snell, Swersky & Zemel, "Prototypical Networks for Few-shot
Learning", NeurIPS 2017).

Each class ``c`` is its prototype, the mean feature of its labelled target examples
``p_c = 1/|S_c| sum_{x in S_c} f(x)``, and an input is classified by its nearest prototype:
``logits_c(x) = -||f(x) - p_c||^2`` (squared Euclidean, the paper's choice) or
``scale * cos(f(x), p_c)`` (cosine). With ``episodic_steps > 0`` the backbone is first trained on
that rule over source N-way k-shot episodes (support -> prototypes, cross-entropy on the query);
with 0 the source model's features are used as they are and nothing trains.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from bench.data.base import batches
from bench.strategies._episodes import EpisodeSampler
from bench.strategies.base import STRATEGIES, Hparams, Strategy


class ProtoNetHparams(Hparams):
    distance: Literal["sqeuclidean", "cosine"] = "sqeuclidean"
    #: episodes of source meta-training before the prototypes are built (0: none)
    episodic_steps: int = Field(0, ge=0)
    n_way: int = Field(10, ge=2)
    k_shot: int = Field(5, ge=1)
    n_query: int = Field(5, ge=1)
    #: cosine similarities lie in [-1, 1]; scaled so the softmax can be confident
    cosine_scale: float = Field(10.0, gt=0)


def proto_logits(feats: torch.Tensor, protos: torch.Tensor, distance: str, scale: float = 10.0) -> torch.Tensor:
    """Nearest-prototype logits: ``-||f - p||^2`` or ``scale * cos(f, p)``; a NaN prototype (a class
    without examples) gets ``-inf``."""
    if distance == "cosine":
        logits = scale * F.normalize(feats, dim=-1) @ F.normalize(protos, dim=-1).T
    else:
        logits = -torch.cdist(feats, protos).pow(2)
    return logits.masked_fill(torch.isnan(protos).any(dim=1)[None, :], float("-inf"))


def prototypes(feats: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Mean feature per class, ``[num_classes, d]``; NaN rows for classes with no example."""
    sums = torch.zeros(num_classes, feats.shape[1], device=feats.device, dtype=feats.dtype)
    sums.index_add_(0, y, feats)
    counts = torch.bincount(y, minlength=num_classes).to(feats.dtype)[:, None]
    return sums / counts  # 0/0 = NaN marks an empty class


@STRATEGIES.register("protonet")
class ProtoNet(Strategy):
    Hparams = ProtoNetHparams
    needs_target_labels = True

    @classmethod
    def total_steps(cls, hp: ProtoNetHparams, default: int) -> int:
        return hp.episodic_steps

    def setup(self) -> None:
        hp = self.hp
        if hp.episodic_steps == 0:  # nothing trains: the source features as they are
            for p in self.model.parameters():
                p.requires_grad_(False)
            return
        self.episodes = EpisodeSampler(self.ctx.source_train, hp.n_way, hp.k_shot, hp.n_query,
                                       self.ctx.seed + 5, self.ctx.device)
        for p in self.model.head.parameters():  # the prototypes replace the head
            p.requires_grad_(False)
        self.opt = self.optimizer(self.model.backbone.parameters())

    def update(self, step: int) -> dict[str, float]:
        self.protos = None  # the backbone moves: prototypes are rebuilt when next needed
        ep = self.episodes.next()
        self.ctx.source.samples += len(ep.indices)  # so throughput counts episode examples
        feats = self.model.features(concat(ep.support_x, ep.query_x))
        fs, fq = feats[: len(ep.support_y)], feats[len(ep.support_y):]
        classes, ys = torch.unique(ep.support_y, return_inverse=True)
        protos = prototypes(fs, ys, len(classes))
        logits = proto_logits(fq, protos, self.hp.distance, self.hp.cosine_scale)
        target = torch.searchsorted(classes, ep.query_y)
        return self.step_loss(self.opt, F.cross_entropy(logits, target))

    protos: torch.Tensor | None = None  # built from the current weights on first use

    @torch.no_grad()
    def finish(self) -> None:
        self.model.eval()
        self.protos = None

    @torch.no_grad()
    def prototypes_now(self) -> torch.Tensor:
        """Prototypes from the labelled target examples within the budget (and nothing else), with
        the model as it is now: after ``finish``, or at a checkpoint during episodic training."""
        if self.protos is None:
            support = self.ctx.target_labeled
            feats = torch.cat([self.model.features(xb) for _, xb in batches(support.x, self.ctx.device)])
            self.protos = prototypes(feats, support.y.to(feats.device), self.ctx.num_classes)
        return self.protos

    @torch.no_grad()
    def predict(self, x) -> torch.Tensor:
        return proto_logits(self.model.features(x), self.prototypes_now(), self.hp.distance,
                            self.hp.cosine_scale)


def concat(a, b):
    """Support and query as one batch, for one forward pass (tensors, dicts of tensors, text lists)."""
    if isinstance(a, dict):
        return {k: concat(a[k], b[k]) for k in a}
    return a + b if isinstance(a, list) else torch.cat([a, b])
