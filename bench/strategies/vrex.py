"""``vrex``: Risk Extrapolation, V-REx (Krueger et al., 2021), as DomainBed computes it.

Loss = mean_e R_e + lambda * Var_e(R_e), the variance of the per-domain risks taken with 1/D (the
population variance); lambda = 1 for the first ``anneal_steps`` steps and ``vrex_lambda`` after, the
optimiser rebuilt at the switch."""
from pydantic import Field

from bench.search import loguniform
from bench.strategies._dg import DGStrategy, domain_risks
from bench.strategies.base import STRATEGIES, Hparams


def risk_variance(risks):
    """Var_e(R_e) = mean_e (R_e - mean R)^2 over the ``[D]`` per-domain risks."""
    return ((risks - risks.mean()) ** 2).mean()


class VRExHparams(Hparams):
    vrex_lambda: float = Field(1e1, ge=0)
    anneal_steps: int = Field(500, ge=0)


@STRATEGIES.register("vrex")
class VREx(DGStrategy):
    Hparams = VRExHparams
    search_space = {**DGStrategy.search_space, "vrex_lambda": loguniform(1e-1, 1e5)}

    def dg_loss(self, batches, step):
        if step == self.hp.anneal_steps and step > 0:
            self.opt = self.optimizer(self.model.parameters())
        weight = self.hp.vrex_lambda if step >= self.hp.anneal_steps else 1.0
        risks = domain_risks(self.logits_per_domain(batches), batches)
        penalty = risk_variance(risks)
        return risks.mean() + weight * penalty, {"penalty": penalty}
