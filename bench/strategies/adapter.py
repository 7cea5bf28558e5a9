"""``adapter``: bottleneck adapters y = x + f(x W_down) W_up after each block; base frozen.

Houlsby et al.: after every transformer layer, or after every residual stage / conv block of a
CNN (as 1x1 convolutions).

peft has no bottleneck adapter (its "adaption prompt" is LLaMA-only), so this is the one method
written here. ``W_up`` starts at zero: before training the adapted model equals the source model.
The base is frozen; adapters and head train.
"""
from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from bench.strategies import _peft as peft_tools
from bench.strategies.base import STRATEGIES, Hparams, Strategy


class Bottleneck(nn.Module):
    """Residual bottleneck on the channel / hidden dimension of ``[B, C, H, W]`` or ``[B, N, D]``."""

    def __init__(self, width: int, bottleneck: int, conv: bool):
        super().__init__()
        layer = (lambda i, o: nn.Conv2d(i, o, 1)) if conv else nn.Linear
        self.down, self.up, self.act = layer(width, bottleneck), layer(bottleneck, width), nn.GELU()
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(self.act(self.down(x)))


def _adapt_output(adapter: Bottleneck):
    def hook(module, inputs, output):
        if isinstance(output, tuple):  # transformers layers return (hidden_states, ...)
            return (adapter(output[0]), *output[1:])
        return adapter(output)
    return hook


class AdapterHparams(Hparams):
    bottleneck: int = Field(16, ge=1)


@STRATEGIES.register("adapter")
class Adapter(peft_tools.PeftStrategyMixin, Strategy):
    Hparams = AdapterHparams

    def adapt(self) -> None:
        for p in self.model.parameters():
            p.requires_grad_(False)
        conv = peft_tools.family(self.model.backbone) == "cnn"
        sites = peft_tools.blocks(self.model.backbone)
        # a ModuleList on the model: saved, copied and moved with it like any other weights
        self.model.adapters = nn.ModuleList(
            Bottleneck(peft_tools.output_width(b), self.hp.bottleneck, conv) for b in sites)
        for block, adapter in zip(sites, self.model.adapters):
            block.register_forward_hook(_adapt_output(adapter))
        for p in self.model.head.parameters():
            p.requires_grad_(True)
