"""``im``: information maximisation on unlabelled target inputs (Gomes, Krause & Perona, 2010;
the SHOT objective, Liang et al., 2020): prediction diversity minus mean prediction entropy,

    IM = H(mean_i p_i) - (1/n) sum_i H(p_i)

the mutual information between input and predicted class. Confident *and* balanced predictions
score highest: ``log C`` for one-hot predictions spread evenly over the C classes; uniform
predictions (and one class everywhere) score 0.
"""
import torch

from bench.validators import VALIDATORS, Probe
from bench.train.entropy import mean_entropy


def information_maximisation(probs: torch.Tensor) -> float:
    marginal = probs.mean(0, keepdim=True)
    return mean_entropy(marginal) - mean_entropy(probs)


@VALIDATORS.register("im")
def im(probe: Probe) -> float:
    """highest information maximisation on unlabelled target-train (diversity - entropy)"""
    return information_maximisation(torch.softmax(probe.target_logits.double(), 1))
