"""``dann``: domain-adversarial training (Ganin et al., 2016).

A domain discriminator (small MLP) on the backbone features learns source vs target; a gradient
reversal layer between them makes the features *maximise* its loss, weighted by the paper's
schedule lambda_p = 2 / (1 + exp(-10 p)) - 1 over training progress p. ``anneal_lr`` turns on the
paper's learning-rate annealing mu_p = mu_0 / (1 + 10 p)^0.75.
"""
from pydantic import Field

from bench.alignment import DomainDiscriminator, dann_lambda, dann_lr_factor, domain_adversarial_loss, grad_reverse
from bench.strategies._uda import UDAHparams, UDAStrategy
from bench.strategies.base import STRATEGIES


class DANNHparams(UDAHparams):
    disc_hidden: int = Field(256, ge=1)
    anneal_lr: bool = False
    #: gamma of the lambda_p schedule (the paper's 10)
    gamma: float = Field(10.0, gt=0)


@STRATEGIES.register("dann")
class DANN(UDAStrategy):
    Hparams = DANNHparams

    def disc_input_dim(self) -> int:
        """Width of what the discriminator sees: the backbone's features."""
        return self.model.feature_dim

    def extra_modules(self):
        return [self.disc]

    def setup(self) -> None:
        # the discriminator exists before the optimiser that trains it (built here, not on first use)
        self.disc = DomainDiscriminator(self.disc_input_dim(), self.hp.disc_hidden).to(self.ctx.device)
        self.disc.train()
        super().setup()
        for g in self.opt.param_groups:
            g["initial_lr"] = g["lr"]

    def before_step(self) -> None:
        if self.hp.anneal_lr:
            factor = dann_lr_factor(self.ctx.progress)
            for g in self.opt.param_groups:
                g["lr"] = g["initial_lr"] * factor

    @property
    def lam(self) -> float:
        return dann_lambda(self.ctx.progress, self.hp.gamma)

    def transfer_loss(self, fs, ft, ls, lt):
        return domain_adversarial_loss(self.disc, grad_reverse(fs, self.lam), grad_reverse(ft, self.lam))
