"""``lora``: low-rank updates W + (alpha / r) B A through peft; base frozen, head trains.

On the backbone's attention projections (transformers) or convolutions (CNNs).

A rank-``r`` LoRA on a ``d x k`` linear layer adds ``r (d + k)`` trainable parameters.
"""
from pydantic import Field

from bench.strategies import _peft as peft_tools
from bench.strategies.base import STRATEGIES, Hparams, Strategy


class LoraHparams(Hparams):
    rank: int = Field(8, ge=1)
    alpha: float = Field(16.0, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    #: module names (suffixes) to adapt; None: chosen per backbone family (peft_tools.lora_targets)
    target_modules: list[str] | None = None


def lora_config(backbone, hp: LoraHparams):
    from peft import LoraConfig

    return LoraConfig(r=hp.rank, lora_alpha=hp.alpha, lora_dropout=hp.dropout,
                      target_modules=hp.target_modules or peft_tools.lora_targets(backbone))


@STRATEGIES.register("lora")
class Lora(peft_tools.PeftStrategyMixin, Strategy):
    requires = ("peft",)  # checked when a suite loads (bench.extras)
    Hparams = LoraHparams

    def adapt(self) -> None:
        peft_tools.wrap_backbone(self.model, lora_config(self.model.backbone, self.hp))
