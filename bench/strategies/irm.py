"""``irm``: Invariant Risk Minimization (Arjovsky et al., 2019), IRMv1 as DomainBed computes it.

Per domain e: risk R_e = CE(logits, y) and penalty P_e = g1 * g2, where g1, g2 are the gradients
with respect to a scalar w (at w = 1) of CE(w * logits, y) on the even and on the odd examples of
the mini-batch (an unbiased estimate of ||dR_e/dw||^2). Loss = mean_e R_e + lambda * mean_e P_e,
with lambda = 1 for the first ``anneal_steps`` steps and ``irm_lambda`` after; the optimiser is
rebuilt at the switch (Adam's moments do not suit the jump in gradient scale)."""
import torch
import torch.nn.functional as F
from pydantic import Field

from bench.search import loguniform
from bench.strategies._dg import DGStrategy, domain_risks
from bench.strategies.base import STRATEGIES, Hparams


def irm_penalty(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """g1 * g2: the product of d CE(w * logits, y) / dw at w = 1 over the even and odd rows."""
    scale = torch.ones((), device=logits.device, requires_grad=True)
    g1 = torch.autograd.grad(F.cross_entropy(logits[::2] * scale, y[::2]), [scale], create_graph=True)[0]
    g2 = torch.autograd.grad(F.cross_entropy(logits[1::2] * scale, y[1::2]), [scale], create_graph=True)[0]
    return g1 * g2


class IRMHparams(Hparams):
    irm_lambda: float = Field(1e2, ge=0)
    #: steps at penalty weight 1 before ``irm_lambda`` takes over (DomainBed's anneal iters)
    anneal_steps: int = Field(500, ge=0)


@STRATEGIES.register("irm")
class IRM(DGStrategy):
    Hparams = IRMHparams
    search_space = {**DGStrategy.search_space, "irm_lambda": loguniform(1e-1, 1e5)}

    def dg_loss(self, batches, step):
        if step == self.hp.anneal_steps and step > 0:  # fresh optimiser state at the switch
            self.opt = self.optimizer(self.model.parameters())
        weight = self.hp.irm_lambda if step >= self.hp.anneal_steps else 1.0
        logits = self.logits_per_domain(batches)
        nll = domain_risks(logits, batches).mean()
        penalty = torch.stack([irm_penalty(lg, y) for lg, (_, y) in zip(logits, batches)]).mean()
        return nll + weight * penalty, {"nll": nll, "penalty": penalty}
