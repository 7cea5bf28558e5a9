"""``discriminative_lr``: layer-wise learning-rate decay (ULMFiT / BEiT style).

The head trains at ``lr``; each layer group below it at ``decay`` times the group above, so the
stem, which holds the most general features, moves least.
"""
from pydantic import Field

from bench.strategies.base import STRATEGIES, Hparams, Strategy


class DiscriminativeLRHparams(Hparams):
    decay: float = Field(0.5, gt=0, le=1)


@STRATEGIES.register("discriminative_lr")
class DiscriminativeLR(Strategy):
    Hparams = DiscriminativeLRHparams
    needs_target_labels = True

    def setup(self) -> None:
        groups = self.model.layer_groups()  # input -> head
        depth = len(groups) - 1
        self.group_lrs = [self.lr * self.hp.decay ** (depth - i) for i in range(len(groups))]
        self.opt = self.optimizer([{"params": g, "lr": lr} for g, lr in zip(groups, self.group_lrs)])

    def update(self, step: int) -> dict[str, float]:
        return self.supervised_step(self.opt)
