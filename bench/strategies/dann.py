"""``dann``: domain-adversarial training (Ganin et al., 2016).

A domain discriminator (small MLP) on the backbone features learns source vs target; a gradient
reversal layer between them makes the features *maximise* its loss, weighted by the paper's
schedule lambda_p = 2 / (1 + exp(-gamma p)) - 1 over training progress p (``schedule: paper``), or
by the Transfer-Learning-Library's warm start lambda_i = 2 / (1 + exp(-alpha i / max_iters)) - 1
over iterations i (``schedule: warm_start``); the search chooses between them. ``anneal_lr`` turns
on the paper's learning-rate annealing mu_p = mu_0 / (1 + 10 p)^0.75.
"""
from typing import Literal

from pydantic import Field

from bench.strategies._alignment import (DomainDiscriminator, dann_lambda, dann_lr_factor, domain_adversarial_loss,
                                         grad_reverse, warm_start_lambda)
from bench.search import choice, int_range, loguniform
from bench.strategies._uda import UDAHparams, UDAStrategy
from bench.strategies.base import STRATEGIES


class DANNHparams(UDAHparams):
    disc_hidden: int = Field(256, ge=1)
    anneal_lr: bool = False
    #: gamma of the lambda_p schedule (the paper's 10)
    gamma: float = Field(10.0, gt=0)
    #: paper: lambda_p over progress p; warm_start: TLL's schedule over iterations (alpha, max_iters)
    schedule: Literal["paper", "warm_start"] = "paper"
    alpha: float = Field(1.0, gt=0)
    max_iters: int = Field(1000, ge=1)
    #: BatchNorm after each hidden layer of the discriminator (TLL's ``DomainDiscriminator``)
    disc_bn: bool = False

    added_later = ("disc_bn",)


@STRATEGIES.register("dann")
class DANN(UDAStrategy):
    Hparams = DANNHparams
    search_space = {"lr": loguniform(3e-4, 3e-3), "trade_off": loguniform(0.1, 3.0),
                    "schedule": choice(["paper", "warm_start"]), "max_iters": int_range(100, 1000)}

    def disc_input_dim(self) -> int:
        """Width of what the discriminator sees: the backbone's features."""
        return self.model.feature_dim

    def extra_modules(self):
        return [self.disc]

    def setup(self) -> None:
        # the discriminator exists before the optimiser that trains it (built here, not on first use)
        self.disc = DomainDiscriminator(self.disc_input_dim(), self.hp.disc_hidden,
                                        self.hp.disc_bn).to(self.ctx.device)
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
        if self.hp.schedule == "warm_start":
            return warm_start_lambda(self.ctx.step, self.hp.alpha, self.hp.max_iters)
        return dann_lambda(self.ctx.progress, self.hp.gamma)

    def transfer_loss(self, fs, ft, ls, lt):
        return domain_adversarial_loss(self.disc, grad_reverse(fs, self.lam), grad_reverse(ft, self.lam))
