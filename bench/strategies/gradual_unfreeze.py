"""``gradual_unfreeze``: train the head first, then unfreeze layer groups towards the input.

Stage ``i`` of ``S`` trains the top ``ceil((i + 1) * G / S)`` of the model's ``G`` groups (the head
counts as one), so the last stage trains everything. Each stage has its own step budget and
learning rate; by default the suite's steps are split evenly and every stage uses ``lr``.
"""
import math

from pydantic import BaseModel, ConfigDict, Field

from bench.strategies.base import STRATEGIES, Hparams, Strategy


class Stage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    steps: int = Field(ge=1)
    lr: float | None = Field(None, gt=0)


class GradualUnfreezeHparams(Hparams):
    num_stages: int = Field(3, ge=1)
    #: explicit stages (override ``num_stages`` and ``steps``)
    stages: list[Stage] | None = None


@STRATEGIES.register("gradual_unfreeze")
class GradualUnfreeze(Strategy):
    Hparams = GradualUnfreezeHparams
    needs_target_labels = True

    @classmethod
    def total_steps(cls, hp: GradualUnfreezeHparams, default: int) -> int:
        return sum(s.steps for s in hp.stages) if hp.stages else super().total_steps(hp, default)

    def setup(self) -> None:
        stages = self.hp.stages or self._even_stages()
        self.schedule = []  # (first step of the stage, stage index, lr)
        start = 0
        for i, stage in enumerate(stages):
            self.schedule.append((start, i, stage.lr or self.lr))
            start += stage.steps
        self.num_stages, self.stage = len(stages), -1

    def _even_stages(self) -> list[Stage]:
        n = min(self.hp.num_stages, max(1, self.ctx.steps))
        base, extra = divmod(self.ctx.steps, n)
        return [Stage(steps=base + (1 if i < extra else 0)) for i in range(n)]

    def _enter_stage(self, i: int, lr: float) -> None:
        groups = self.model.layer_groups()
        top = math.ceil((i + 1) * len(groups) / self.num_stages)
        for p in self.model.parameters():
            p.requires_grad_(False)
        trainable = [p for g in groups[-top:] for p in g]
        for p in trainable:
            p.requires_grad_(True)
        self.opt = self.optimizer([{"params": trainable, "lr": lr}])
        self.stage = i

    def update(self, step: int) -> dict[str, float]:
        for start, i, lr in self.schedule:
            if step == start and i != self.stage:
                self._enter_stage(i, lr)
        return {**self.supervised_step(self.opt), "stage": float(self.stage)}
