"""``bnm``: batch nuclear-norm of the target prediction matrix (Cui et al., 2020, "Towards
discriminability and diversity: batch nuclear-norm maximization under label insufficient
situations"), normalised to [1/C, 1]:

    score = ||P||_* / sqrt(n * min(n, C)),   P = softmax predictions, n x C

``||P||_* <= sqrt(min(n, C)) ||P||_F <= sqrt(min(n, C) n)`` (rows sum to 1, so each has norm
<= 1): the maximum 1 is reached by one-hot predictions spread evenly over the classes. Every
row has norm >= 1/sqrt(C), so ``||P||_* >= ||P||_F >= sqrt(n / C)``: uniform predictions give
the minimum 1/C (n >= C).
"""
import math

import torch

from bench.validators import VALIDATORS, Probe


def normalised_nuclear_norm(probs: torch.Tensor) -> float:
    n, c = probs.shape
    return torch.linalg.matrix_norm(probs, ord="nuc").item() / math.sqrt(n * min(n, c))


@VALIDATORS.register("bnm")
def bnm(probe: Probe) -> float:
    """highest batch nuclear-norm of target-train predictions (Cui et al. 2020)"""
    return normalised_nuclear_norm(torch.softmax(probe.target_logits.double(), 1))
