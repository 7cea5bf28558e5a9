"""``target_only``: supervised training on the budget's target labels from the initial weights.

It never sees the source model: at budget ``all`` it is the target-supervised ceiling.
"""
from bench.strategies.base import STRATEGIES, Strategy


@STRATEGIES.register("target_only")
class TargetOnly(Strategy):
    needs_target_labels = True

    def setup(self) -> None:
        self.model = self.ctx.initial_model()
        self.opt = self.optimizer(self.model.parameters())

    def update(self, step: int) -> dict[str, float]:
        return self.supervised_step(self.opt)
