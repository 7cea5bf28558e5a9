"""Transferability scores: how well will the source model transfer, judged *before* adapting it.

Each score looks at the source model on the labelled target-train examples within the cell's label
budget (never more, never target-test): its features ``F`` (``n x d``, the backbone's output) and,
for LEEP and NCE, its source head's predictions. Higher is better for all four. At label budget 0
there is no label to score with, and every score is NaN.

===========  ==========================================================================================
``logme``    You et al., "LogME: Practical Assessment of Pre-trained Models for Transfer Learning",
             ICML 2021. Mean over classes of the per-sample log evidence of a Bayesian linear model.
``leep``     Nguyen et al., "LEEP: A New Measure to Evaluate Transferability of Learned
             Representations", ICML 2020. Log-likelihood of the "expected empirical predictor".
``nce``      Tran et al., "Transferability and Hardness of Supervised Classification Tasks",
             ICCV 2019. Negative conditional entropy ``-H(Y | Z)`` of target labels given the
             source head's hard labels.
``hscore``   Bao et al., "An Information-Theoretic Approach to Transferability in Task Transfer
             Learning", ICIP 2019. ``tr(cov(f)^-1 cov(E[f | y]))``.
===========  ==========================================================================================

The score functions take numpy arrays and are independent of torch; :func:`cell_scores` is the
harness's glue (extract, score, cache once per source model x target x budget x seed).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from bench.data.base import batches

COLUMNS = ("logme", "leep", "nce", "hscore")
NAN = float("nan")
LOGME_TOL = 1e-8  # the fixed point stops when alpha / beta moves by less than this, relative


# --- LogME ---------------------------------------------------------------------------------------
def logme_evidence(f: np.ndarray, y: np.ndarray, alpha: float, beta: float) -> float:
    """Log marginal likelihood (evidence) of ``y`` under ``y = F w + eps``, ``w ~ N(0, I/alpha)``,
    ``eps ~ N(0, I/beta)``, in LogME's closed form (You et al., 2021, eq. 2)::

        L = n/2 log beta + d/2 log alpha - n/2 log 2pi - beta/2 ||F m - y||^2 - alpha/2 m'm
            - 1/2 log|A|,   A = alpha I + beta F'F,   m = beta A^-1 F' y.

    Not divided by ``n`` (that is :func:`logme`'s normalisation).
    """
    f = np.asarray(f, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, d = f.shape
    a = alpha * np.eye(d) + beta * f.T @ f
    m = beta * np.linalg.solve(a, f.T @ y)
    _, logdet = np.linalg.slogdet(a)
    res = float(((f @ m - y) ** 2).sum())
    return float(n / 2 * math.log(beta) + d / 2 * math.log(alpha) - n / 2 * math.log(2 * math.pi)
                 - beta / 2 * res - alpha / 2 * float(m @ m) - logdet / 2)


def _svd(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``U`` and the singular values of ``F``: one decomposition serves every class."""
    u, sv, _ = np.linalg.svd(np.asarray(f, dtype=np.float64), full_matrices=False)
    return u, sv


def logme_fixed_point(f: np.ndarray, y: np.ndarray, max_iter: int = 100, tol: float = LOGME_TOL,
                      svd: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[float, float]:
    """``(alpha, beta)`` maximising the evidence, by LogME's fixed-point iteration (Algorithm 1)::

        gamma = sum_i beta s_i / (alpha + beta s_i)        (s_i: eigenvalues of F'F)
        alpha <- gamma / m'm,   beta <- (n - gamma) / ||F m - y||^2

    computed in the SVD basis of ``F``. The reference code stops after 11 iterations or at a 1%
    change of ``alpha / beta``; iterating to ``tol`` instead makes the score a property of the
    data alone (it moves in the third decimal at most).
    """
    return _fixed_point(np.asarray(y, dtype=np.float64), *(svd or _svd(f)), max_iter, tol)[:2]


def _fixed_point(y: np.ndarray, u: np.ndarray, sv: np.ndarray, max_iter: int = 100,
                 tol: float = LOGME_TOL) -> tuple[float, float, float, float, np.ndarray]:
    """``(alpha, beta, m'm, ||F m - y||^2, s)`` at the fixed point, all in the SVD basis.

    Every residual is a sum of non-negative terms, never a difference of near-equal ones: when
    ``y`` is (nearly) in the column space of ``F`` (``d >= n``) ``beta`` grows to ~1e15, and
    ``y'y - z'z``, ``1 - shrink`` or ``n - gamma`` would be rounding noise multiplied by it (a
    different BLAS then gave a different fixed point)."""
    n, s = len(y), sv**2
    z = u.T @ y                        # y in the column space of F
    outside = float(((y - u @ z) ** 2).sum())  # the part of y no m can fit: always residual
    alpha, beta = 1.0, 1.0
    for _ in range(max_iter):
        new_alpha, new_beta = _update(n, s, sv, z, outside, alpha, beta)
        done = abs(new_alpha / new_beta - alpha / beta) <= tol * alpha / beta
        alpha, beta = new_alpha, new_beta
        if done:
            break
    mm, res, _ = _moments(n, s, sv, z, outside, alpha, beta)
    return alpha, beta, mm, res, s


def _moments(n: int, s: np.ndarray, sv: np.ndarray, z: np.ndarray, outside: float, alpha: float,
             beta: float) -> tuple[float, float, float]:
    """``(m'm, ||F m - y||^2, n - gamma)``, each a sum of non-negative terms."""
    keep = alpha / (alpha + beta * s)                    # 1 - shrink, without the subtraction
    mm = float(((beta * sv * z / (alpha + beta * s)) ** 2).sum())
    res = float(((z * keep) ** 2).sum()) + outside
    return mm, res, float(n - len(s) + keep.sum())    # n - gamma, gamma = sum(1 - keep)


def _update(n: int, s: np.ndarray, sv: np.ndarray, z: np.ndarray, outside: float, alpha: float,
            beta: float) -> tuple[float, float]:
    """One step of LogME's fixed-point iteration: ``(gamma / m'm, (n - gamma) / ||F m - y||^2)``."""
    mm, res, n_minus_gamma = _moments(n, s, sv, z, outside, alpha, beta)
    return (n - n_minus_gamma) / max(mm, 1e-30), n_minus_gamma / max(res, 1e-30)


def logme(features: np.ndarray, labels: np.ndarray) -> float:
    """LogME (You et al., 2021): for each class ``k`` the one-vs-rest target ``y_k = [labels == k]``
    is fitted by Bayesian linear regression on the features; the score is the mean over classes of
    the maximised log evidence divided by ``n``. Higher: the features explain the labels linearly
    with less model complexity. The evidence is :func:`logme_evidence`'s closed form written in
    the SVD basis (``log|A| = sum_i log(alpha + beta s_i) + (d - r) log alpha``), so one SVD
    serves every class and no ``d x d`` system is solved."""
    f = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    n, d = f.shape
    u, sv = _svd(f)
    total, classes = 0.0, np.unique(labels)
    for k in classes:
        alpha, beta, mm, res, s = _fixed_point((labels == k).astype(np.float64), u, sv)
        logdet = float(np.log(alpha + beta * s).sum()) + (d - len(s)) * math.log(alpha)
        evidence = (n / 2 * math.log(beta) + d / 2 * math.log(alpha) - n / 2 * math.log(2 * math.pi)
                    - beta / 2 * res - alpha / 2 * mm - logdet / 2)
        total += evidence / n
    return total / len(classes)


# --- LEEP and NCE --------------------------------------------------------------------------------
def _joint(source: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Empirical joint ``P(y, z)``: ``source`` is ``n x Z`` (soft, rows sum to 1) or ``n`` hard labels."""
    labels = np.asarray(labels)
    source = np.asarray(source)
    if source.ndim == 1:
        source = np.eye(int(source.max()) + 1)[source]
    ys = np.unique(labels)
    onehot = (labels[:, None] == ys[None, :]).astype(np.float64)
    return onehot.T @ source.astype(np.float64) / len(labels)   # [target class, source class]


def leep(source_probs: np.ndarray, labels: np.ndarray) -> float:
    """LEEP (Nguyen et al., 2020). With ``theta(x)`` the source head's softmax::

        P(y, z) = 1/n sum_i theta(x_i)_z [y_i = y],   P(y | z) = P(y, z) / P(z)
        LEEP    = 1/n sum_i log sum_z P(y_i | z) theta(x_i)_z

    the average log-likelihood of the target labels under the source head composed with the
    empirical label map. At most 0, reached when that predictor is certain and right."""
    probs = np.asarray(source_probs, dtype=np.float64)
    labels = np.asarray(labels)
    joint = _joint(probs, labels)
    p_z = joint.sum(axis=0, keepdims=True)
    cond = np.divide(joint, p_z, out=np.zeros_like(joint), where=p_z > 0)  # P(y | z)
    ys = np.unique(labels)
    row = np.searchsorted(ys, labels)
    eep = (probs * cond[row]).sum(axis=1)    # sum_z P(y_i | z) theta(x_i)_z
    return float(np.log(np.maximum(eep, 1e-300)).mean())


def nce(source_labels: np.ndarray, labels: np.ndarray) -> float:
    """NCE (Tran et al., 2019): ``-H(Y | Z) = sum_{y,z} P(y, z) log P(y | z)`` with ``Z`` the source
    head's hard (argmax) labels on the target examples. At most 0, reached when ``Z`` determines
    ``Y`` (e.g. identical label sets)."""
    joint = _joint(np.asarray(source_labels, dtype=np.int64), labels)
    p_z = joint.sum(axis=0, keepdims=True)
    mask = joint > 0
    return float((joint[mask] * np.log(joint[mask] / np.broadcast_to(p_z, joint.shape)[mask])).sum())


# --- H-score -------------------------------------------------------------------------------------
def hscore(features: np.ndarray, labels: np.ndarray) -> float:
    """H-score (Bao et al., 2019): ``tr(cov(f)^+ cov(E[f | y]))``, the between-class spread of the
    features measured in the metric of their total covariance (pseudo-inverse, as the
    Transfer-Learning-Library does, because with few labels ``cov(f)`` is singular). Higher: the
    class means are far apart relative to the features' spread."""
    f = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    f = f - f.mean(axis=0, keepdims=True)
    cov_f = f.T @ f / len(f)
    g = np.zeros_like(f)
    for k in np.unique(labels):
        g[labels == k] = f[labels == k].mean(axis=0)
    cov_g = g.T @ g / len(g)
    return float(np.trace(np.linalg.pinv(cov_f, rcond=1e-15, hermitian=True) @ cov_g))


def all_scores(features: np.ndarray, source_logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The four columns for one labelled set (NaN for a score that cannot be computed)."""
    logits = np.asarray(source_logits, dtype=np.float64)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    fns = {"logme": lambda: logme(features, labels), "leep": lambda: leep(probs, labels),
           "nce": lambda: nce(probs.argmax(axis=1), labels), "hscore": lambda: hscore(features, labels)}
    out = {}
    for name, fn in fns.items():
        try:
            out[name] = fn()
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):  # e.g. an SVD that fails
            out[name] = NAN
    return out


# --- the harness's glue --------------------------------------------------------------------------
def cell_scores(model: Any, target_train: Any, labeled_idx: Any, device: str, memo: dict,
                key: str) -> dict[str, float]:
    """The four scores of the source ``model`` on target-train's labelled examples ``labeled_idx``
    (the cell's budget), computed once per ``key`` (source model x target x budget x seed) and kept
    in the run's ``memo`` like linear-probe features. NaN when there is no label (budget 0)."""
    if len(labeled_idx) == 0:
        return dict.fromkeys(COLUMNS, NAN)
    memo_key = f"transferability:{key}"
    if memo_key not in memo:
        labeled = target_train.take(labeled_idx)
        was_training = model.training
        model.eval()
        with torch.no_grad():  # only the budget's labelled examples: not linear_probe's feature cache
            feats = torch.cat([model.features(x) for _, x in batches(labeled.x, device)])
            logits = model.head(feats)
        model.train(was_training)
        # numpy's BLAS would otherwise start a thread per core beside torch's (the suite's
        # `threads`): on a shared machine that made LogME 50x slower
        with threadpool_limits(limits=torch.get_num_threads()):
            memo[memo_key] = all_scores(feats.cpu().double().numpy(), logits.cpu().double().numpy(),
                                        labeled.y.numpy())
    return dict(memo[memo_key])
