"""``bitfit``: only the bias terms of the backbone (and the whole head) train (Ben Zaken et al.).

peft has no BitFit, and none is needed: it is a choice of which existing tensors have
``requires_grad``. Normalisation layers' biases count as biases, as in the paper.
"""
from bench.strategies import _peft as peft_tools
from bench.strategies.base import STRATEGIES, NotApplicable, Strategy


@STRATEGIES.register("bitfit")
class BitFit(peft_tools.PeftStrategyMixin, Strategy):
    def adapt(self) -> None:
        for name, p in self.model.backbone.named_parameters():
            p.requires_grad_(name.endswith("bias"))
        for p in self.model.head.parameters():
            p.requires_grad_(True)
        if not any(p.requires_grad for p in self.model.backbone.parameters()):
            raise NotApplicable("bitfit: this backbone has no bias terms to train")
