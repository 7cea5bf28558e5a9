"""``qlora``: LoRA on a frozen base whose linear layers are 4-bit NF4 (bitsandbytes).

bitsandbytes has no 4-bit convolution, so QLoRA needs a backbone with linear layers
(transformers, ViTs); on a pure CNN the cell is ``skipped`` with a message saying so. The LoRA targets are
the same as ``lora``'s; the head stays in full precision and trains.
"""
from pydantic import Field

from bench import peft_tools
from bench.strategies.base import STRATEGIES, NotApplicable, Strategy
from bench.strategies.lora import LoraHparams, lora_config


class QLoraHparams(LoraHparams):
    quant_type: str = Field("nf4", pattern="^(nf4|fp4)$")


@STRATEGIES.register("qlora")
class QLora(peft_tools.PeftStrategyMixin, Strategy):
    requires = ("peft", "bitsandbytes")  # checked when a suite loads (bench.extras)
    Hparams = QLoraHparams

    def adapt(self) -> None:
        from peft import prepare_model_for_kbit_training

        backbone = self.model.backbone
        n = peft_tools.quantize_linears_4bit(backbone, self.hp.quant_type)
        if n == 0:
            raise NotApplicable(f"qlora: {type(backbone).__name__} has no nn.Linear layer to quantise "
                             "(bitsandbytes has no 4-bit convolution); use lora for CNN backbones")
        # keeps LayerNorms in fp32 and makes the frozen base feed gradients to the adapters
        prepare_model_for_kbit_training(backbone, use_gradient_checkpointing=False)
        self.model._groups = []  # drop references to the full-precision weights so they are freed
        peft_tools.wrap_backbone(self.model, lora_config(backbone, self.hp))
