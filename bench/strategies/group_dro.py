"""``group_dro``: Group DRO (Sagawa et al., 2020, Algorithm 1) with the source domains as groups,
as DomainBed runs it.

Weights q (uniform at the start, one per domain) are updated each step before the model's step:
q_e <- q_e * exp(eta * R_e), then q <- q / sum(q); the loss is sum_e q_e R_e (q held constant)."""
import torch
from pydantic import Field

from bench.search import loguniform
from bench.strategies._dg import DGStrategy
from bench.strategies.base import STRATEGIES, Hparams


def dro_weights(q: torch.Tensor, risks: torch.Tensor, eta: float) -> torch.Tensor:
    """One exponentiated-gradient step on the simplex: q * exp(eta * risks), renormalised."""
    q = q * torch.exp(eta * risks.detach())
    return q / q.sum()


class GroupDROHparams(Hparams):
    eta: float = Field(1e-2, gt=0)


@STRATEGIES.register("group_dro")
class GroupDRO(DGStrategy):
    Hparams = GroupDROHparams
    search_space = {**DGStrategy.search_space, "eta": loguniform(1e-3, 1e-1)}

    def setup(self) -> None:
        super().setup()
        self.q = None

    def dg_loss(self, batches, step):
        # DomainBed runs each domain's mini-batch through the network on its own
        risks = torch.stack([torch.nn.functional.cross_entropy(self.model(x), y) for x, y in batches])
        if self.q is None:
            self.q = torch.ones(len(batches), device=risks.device)
        self.q = dro_weights(self.q, risks, self.hp.eta)
        return torch.dot(risks, self.q), {"max_q": self.q.max()}
