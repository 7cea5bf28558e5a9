"""``ia3``: (IA)^3 through peft: learned per-channel scalings; base frozen, head trains.

Scales keys, values and the feed-forward input (transformers) or convolution outputs (CNNs)."""
from bench.strategies import _peft as peft_tools
from bench.strategies.base import STRATEGIES, Hparams, Strategy


class IA3Hparams(Hparams):
    #: module names to scale; None: chosen per backbone family (peft_tools.ia3_targets)
    target_modules: list[str] | None = None
    feedforward_modules: list[str] | None = None


@STRATEGIES.register("ia3")
class IA3(peft_tools.PeftStrategyMixin, Strategy):
    requires = ("peft",)  # checked when a suite loads (bench.extras)
    Hparams = IA3Hparams

    def adapt(self) -> None:
        from peft import IA3Config

        targets, feedforward = peft_tools.ia3_targets(self.model.backbone)
        if self.hp.target_modules is not None:
            targets, feedforward = self.hp.target_modules, self.hp.feedforward_modules or []
        config = IA3Config(target_modules=targets, feedforward_modules=feedforward)
        peft_tools.wrap_backbone(self.model, config)
