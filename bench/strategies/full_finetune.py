"""``full_finetune``: every parameter of the source model trains on the budget's target labels."""
from bench.strategies.base import STRATEGIES, Strategy


@STRATEGIES.register("full_finetune")
class FullFinetune(Strategy):
    needs_target_labels = True

    def setup(self) -> None:
        self.opt = self.optimizer(self.model.parameters())

    def update(self, step: int) -> dict[str, float]:
        return self.supervised_step(self.opt)
