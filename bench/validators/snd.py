"""``snd``: soft neighbourhood density (Saito et al., 2021, "Tune it the right way: unsupervised
validation of domain adaptation via soft neighborhood density"), as in the authors' code:

    f_i = p_i / ||p_i||                      (softmax predictions, L2-normalised)
    M_ij = softmax_j( f_i . f_j / tau ),  j != i,   tau = 0.05
    SND = (1/n) sum_i H(M_i)                 (higher = denser neighbourhoods = better)

A model whose target predictions form tight class clusters gives each point many equally close
neighbours, hence a high neighbourhood entropy: two clusters of n/2 identical one-hot points give
exactly log(n/2 - 1) up to exp(-1/tau) terms; scattered (noisy) predictions give less.
"""
import torch

from bench.validators import VALIDATORS, Probe


def soft_neighbourhood_density(probs: torch.Tensor, tau: float = 0.05) -> float:
    f = torch.nn.functional.normalize(probs, dim=1)
    sim = f @ f.T / tau
    sim.fill_diagonal_(float("-inf"))
    m = torch.softmax(sim, dim=1)
    return -(m * m.clamp_min(1e-30).log()).sum(1).mean().item()


@VALIDATORS.register("snd")
def snd(probe: Probe) -> float:
    """highest soft neighbourhood density on unlabelled target-train (Saito et al. 2021)"""
    return soft_neighbourhood_density(torch.softmax(probe.target_logits.double(), 1))
