"""``erm``: empirical risk minimisation over the source domains (DomainBed's ERM): cross-entropy on
the concatenation of one mini-batch per source domain, the target held out.

It differs from ``source_only`` under ``protocol: joint`` only in which recipe trains it: ``erm``
trains in the adaptation stage with the suite's ``adapt`` recipe, like every other
domain-generalization strategy, so its row is comparable with theirs step for step."""
import torch
import torch.nn.functional as F

from bench.strategies._dg import DGStrategy
from bench.strategies.base import STRATEGIES


@STRATEGIES.register("erm")
class ERM(DGStrategy):
    def dg_loss(self, batches, step):
        logits = torch.cat(self.logits_per_domain(batches))
        return F.cross_entropy(logits, torch.cat([y for _, y in batches])), {}
