"""``entropy``: mean prediction entropy on unlabelled target inputs, negated (higher = better).

    score = -(1/n) sum_i H(p_i),   H(p) = -sum_c p_c log p_c

Low entropy means confident target predictions (Grandvalet & Bengio, 2005; used for selection
by Morerio et al., 2018, "Minimal-entropy correlation alignment"). Trivially maximised by a
model that predicts one class everywhere, which is why IM adds a diversity term.
"""
import torch

from bench.train.entropy import mean_entropy
from bench.validators import VALIDATORS, Probe


@VALIDATORS.register("entropy")
def entropy(probe: Probe) -> float:
    """lowest mean prediction entropy on unlabelled target-train"""
    return -mean_entropy(torch.softmax(probe.target_logits.double(), 1))
