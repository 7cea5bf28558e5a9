"""``qlora``: LoRA on a frozen base whose linear layers are 4-bit NF4 (bitsandbytes).

bitsandbytes has no 4-bit convolution, so QLoRA needs a backbone with linear layers
(transformers, ViTs); on a pure CNN the cell is ``skipped`` with a message saying so. The LoRA targets are
the same as ``lora``'s; the head stays in full precision and trains.
"""
from pydantic import Field
from torch import nn

from bench.strategies import _peft as peft_tools
from bench.strategies.base import STRATEGIES, NotApplicable, Strategy
from bench.strategies.lora import LoraHparams, lora_config


#: output rows per block in bitsandbytes' CPU packing of 4-bit weights (functional.py, block_n)
CPU_BLOCK_N = 32


class QLoraHparams(LoraHparams):
    quant_type: str = Field("nf4", pattern="^(nf4|fp4)$")


@STRATEGIES.register("qlora")
class QLora(peft_tools.PeftStrategyMixin, Strategy):
    requires = ("peft", "bitsandbytes")  # checked when a suite loads (bench.extras)
    Hparams = QLoraHparams

    def adapt(self) -> None:
        from peft import prepare_model_for_kbit_training

        backbone = self.model.backbone
        if not str(self.ctx.device).startswith("cuda"):
            # bitsandbytes' CPU 4-bit kernel packs weights in blocks of 32 output rows and byte pairs
            odd = [f"{m.out_features}x{m.in_features}" for m in backbone.modules() if isinstance(m, nn.Linear)
                   and (m.out_features % CPU_BLOCK_N or m.in_features % 2)]
            if odd:
                raise NotApplicable(f"qlora on CPU: bitsandbytes' 4-bit kernel needs linear layers with "
                                    f"out_features divisible by {CPU_BLOCK_N} and even in_features; this "
                                    f"backbone has {', '.join(odd)}")
        # 4-bit weights de-quantise to the cell's compute dtype (bf16 / fp16 under mixed precision)
        n = peft_tools.quantize_linears_4bit(backbone, self.hp.quant_type, self.ctx.amp.compute_dtype)
        if n == 0:
            raise NotApplicable(f"qlora: {type(backbone).__name__} has no nn.Linear layer to quantise "
                             "(bitsandbytes has no 4-bit convolution); use lora for CNN backbones")
        # keeps LayerNorms in fp32 and makes the frozen base feed gradients to the adapters
        prepare_model_for_kbit_training(backbone, use_gradient_checkpointing=False)
        self.model._groups = []  # drop references to the full-precision weights so they are freed
        peft_tools.wrap_backbone(self.model, lora_config(backbone, self.hp))
