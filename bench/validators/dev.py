"""``dev``: deep embedded validation (You et al., 2019, "Towards accurate model selection in deep
unsupervised domain adaptation"): the source-val risk importance-weighted to the target, with a
control variate. Returned negated (higher = better).

1. A domain classifier (logistic regression on standardised features) separates source-train
   features (d = 0) from unlabelled target features (d = 1).
2. Density ratio on source-val: ``w_i = p(d=1|x_i) / p(d=0|x_i) * n_s / n_t``
   (the factor undoes the classifier's class prior), so ``E_s[w l] = E_t[l]``.
3. With per-example cross-entropy ``l_i`` and ``L_i = w_i l_i``:
   ``eta = -Cov(L, w) / Var(w)`` and ``DEV = mean(L) + eta mean(w) - eta``.

``E[w] = 1``, so the control variate keeps the estimate unbiased while removing the variance that
the weights add: for a constant loss ``a``, DEV is exactly ``a`` whatever the weights. On
identical domains the weights are ~1 and DEV is the plain source-val risk.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from bench.validators import VALIDATORS, Probe


def density_ratio(source_feats: np.ndarray, target_feats: np.ndarray, query: np.ndarray,
                  seed: int = 0) -> np.ndarray:
    """``p_t(x) / p_s(x)`` at each query row, from a source-vs-target logistic regression."""
    x = np.concatenate([source_feats, target_feats]).astype(np.float64)
    d = np.r_[np.zeros(len(source_feats)), np.ones(len(target_feats))]
    scaler = StandardScaler().fit(x)
    clf = LogisticRegression(C=1.0, max_iter=1000, random_state=seed).fit(scaler.transform(x), d)
    p_t = clf.predict_proba(scaler.transform(query.astype(np.float64)))[:, 1].clip(1e-6, 1 - 1e-6)
    return p_t / (1 - p_t) * len(source_feats) / len(target_feats)


def dev_risk(losses: np.ndarray, weights: np.ndarray) -> float:
    """DEV's control-variate estimate of the target risk from weighted source-val losses."""
    weighted = weights * losses
    var = np.var(weights)
    eta = 0.0 if var < 1e-12 else -np.cov(weighted, weights, bias=True)[0, 1] / var
    return float(weighted.mean() + eta * weights.mean() - eta)


@VALIDATORS.register("dev")
def dev(probe: Probe) -> float:
    """lowest importance-weighted source-val risk (DEV, You et al. 2019)"""
    if len(probe.source_val_y) == 0 or len(probe.target_feats) == 0:
        return float("nan")
    w = density_ratio(probe.source_train_feats.numpy(), probe.target_feats.numpy(),
                      probe.source_val_feats.numpy(), probe.seed)
    losses = torch.nn.functional.cross_entropy(probe.source_val_logits.double(), probe.source_val_y,
                                               reduction="none").numpy()
    return -dev_risk(losses, w)
