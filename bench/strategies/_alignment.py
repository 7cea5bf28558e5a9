"""Shared math of unsupervised domain adaptation, each piece checked against a closed form in tests.

Gradient reversal and its schedule (DANN, Ganin et al. 2016), linear-kernel moment matching
(mean + covariance), multi-kernel Gaussian MMD (DAN, Long et al. 2015), Deep CORAL (Sun & Saenko
2016), the CDAN multilinear map and its entropy weights (Long et al. 2018),
minimum class confusion (MCC, Jin et al. 2020), a domain discriminator, and the proxy A-distance
(Ben-David et al. 2007) used to record how far apart two domains are in feature space.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.data.base import batches
from bench.train.entropy import entropy


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, lam: float) -> torch.Tensor:
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.lam * grad, None


def grad_reverse(x: torch.Tensor, lam: float = 1.0) -> torch.Tensor:
    """Identity forward; backward multiplies the incoming gradient by ``-lam``."""
    return _GradReverse.apply(x, float(lam))


def dann_lambda(progress: float, gamma: float = 10.0) -> float:
    """The DANN schedule lambda_p = 2 / (1 + exp(-gamma p)) - 1: 0 at the start, -> 1 at the end."""
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0


def warm_start_lambda(step: int, alpha: float = 1.0, max_iters: int = 1000, lo: float = 0.0,
                      hi: float = 1.0) -> float:
    """The Transfer-Learning-Library's ``WarmStartGradientReverseLayer`` coefficient after
    ``step`` iterations: 2 (hi - lo) / (1 + exp(-alpha step / max_iters)) - (hi - lo) + lo.
    It counts iterations, not progress: with the defaults it reaches only 0.245 at step 500."""
    return 2.0 * (hi - lo) / (1.0 + math.exp(-alpha * step / max_iters)) - (hi - lo) + lo


def dann_lr_factor(progress: float, alpha: float = 10.0, beta: float = 0.75) -> float:
    """The DANN paper's learning-rate annealing mu_p = mu_0 / (1 + alpha p)^beta, as a factor."""
    return (1.0 + alpha * progress) ** (-beta)


def covariance(x: torch.Tensor) -> torch.Tensor:
    """Unbiased sample covariance of the rows of ``x`` ([n, d] -> [d, d])."""
    xc = x - x.mean(0, keepdim=True)
    return xc.T @ xc / max(1, x.shape[0] - 1)


def mmd_linear(fs: torch.Tensor, ft: torch.Tensor) -> torch.Tensor:
    """First and second moment matching: ||mu_S - mu_T||^2 + ||Sigma_S - Sigma_T||_F^2.

    The first term is the linear-kernel MMD^2; the second is unnormalised (4 d^2 times CORAL's
    loss), so its scale grows with the feature width. The ``moments`` strategy; not the
    Gaussian-kernel MMD of the literature (that is ``mmd``)."""
    mean_gap = (fs.mean(0) - ft.mean(0)).pow(2).sum()
    return mean_gap + (covariance(fs) - covariance(ft)).pow(2).sum()


def coral(fs: torch.Tensor, ft: torch.Tensor) -> torch.Tensor:
    """Deep CORAL: ||C_S - C_T||_F^2 / (4 d^2)."""
    d = fs.shape[1]
    return (covariance(fs) - covariance(ft)).pow(2).sum() / (4.0 * d * d)


def gaussian_bandwidths(dist2: torch.Tensor, num: int = 5, mul: float = 2.0,
                        centre: str = "median") -> list[float]:
    """``num`` bandwidths (squared) in a geometric ladder of ratio ``mul`` around a centre.

    ``centre="median"``: the median pairwise squared distance (the median heuristic, Gretton et
    al. 2012). ``"mean"``: the mean pairwise squared distance over the batch, as
    Transfer-Learning-Library's ``GaussianKernel`` sets sigma^2 (the mean is pulled up by outliers,
    so it gives wider kernels on heavy-tailed features). DAN uses a family around the centre so that
    no single bandwidth decides the result. Detached: bandwidths are not trained.
    """
    off_diag = dist2[~torch.eye(dist2.shape[0], dtype=torch.bool, device=dist2.device)].detach()
    if centre not in ("median", "mean"):
        raise ValueError(f"bandwidth centre {centre!r}: expected 'median' or 'mean'")
    mid = (off_diag.median() if centre == "median" else off_diag.mean()).clamp_min(1e-8).item()
    return [mid * mul ** (k - num // 2) for k in range(num)]


def mk_mmd(fs: torch.Tensor, ft: torch.Tensor, num_kernels: int = 5, kernel_mul: float = 2.0,
           bandwidths: list[float] | None = None, centre: str = "median",
           estimate: str = "unbiased") -> torch.Tensor:
    """Multi-kernel MMD^2 with the sum of Gaussian kernels k = sum_s exp(-d^2 / s).

    ``estimate="unbiased"``: the U-statistic over all pairs; its expectation is exactly 0 when both
    samples come from one distribution. ``"linear"``: the linear-time estimate of Gretton et al.
    (2012) as the Transfer-Learning-Library computes it (its DAN default), over the n pairs
    (i, j = i + 1 mod n) of two equal-sized batches::

        (1/n) sum_i k(s_i, s_j) + k(t_i, t_j) - k(s_i, t_j) - k(s_j, t_i)

    (TLL adds the constant 2 / (n - 1), which changes no gradient; left out here).
    """
    z = torch.cat([fs, ft])
    dist2 = torch.cdist(z, z).pow(2)
    bw = bandwidths or gaussian_bandwidths(dist2, num_kernels, kernel_mul, centre)
    k = sum(torch.exp(-dist2 / s) for s in bw)
    n, m = fs.shape[0], ft.shape[0]
    if estimate == "linear":
        if n != m:
            raise ValueError(f"the linear-time MMD estimate pairs equal batches; got {n} source, {m} target")
        i = torch.arange(n, device=k.device)
        j = (i + 1) % n
        return (k[i, j] + k[n + i, n + j] - k[i, n + j] - k[j, n + i]).mean()
    if estimate != "unbiased":
        raise ValueError(f"MMD estimate {estimate!r}: expected 'unbiased' or 'linear'")
    kss, ktt, kst = k[:n, :n], k[n:, n:], k[:n, n:]
    return ((kss.sum() - kss.diagonal().sum()) / (n * (n - 1))
            + (ktt.sum() - ktt.diagonal().sum()) / (m * (m - 1)) - 2.0 * kst.mean())


def cdan_map(f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """The CDAN multilinear map: the flattened outer product f (x) g, [n, d] x [n, c] -> [n, d c]."""
    return torch.bmm(g.unsqueeze(2), f.unsqueeze(1)).flatten(1)


class RandomizedMultilinear(nn.Module):
    """CDAN's randomized map (R_f f) * (R_g g) / sqrt(out) for when d * c is too large."""

    def __init__(self, feature_dim: int, num_classes: int, out_dim: int = 1024):
        super().__init__()
        self.register_buffer("rf", torch.randn(feature_dim, out_dim))
        self.register_buffer("rg", torch.randn(num_classes, out_dim))
        self.out_dim = out_dim

    def forward(self, f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return (f @ self.rf) * (g @ self.rg) / math.sqrt(self.out_dim)


def entropy_weights(probs: torch.Tensor) -> torch.Tensor:
    """CDAN+E: w = 1 + exp(-H(g)), normalised to mean 1 within the batch (detached)."""
    w = 1.0 + torch.exp(-entropy(probs.detach()))
    return w * len(w) / w.sum()


def mcc(logits: torch.Tensor, temperature: float = 2.5) -> torch.Tensor:
    """Minimum class confusion: off-diagonal mass of the entropy-weighted, row-normalised
    class-correlation matrix of target predictions, divided by the number of classes."""
    n, c = logits.shape
    p = F.softmax(logits / temperature, dim=1)
    w = entropy_weights(p).unsqueeze(1)
    confusion = (p * w).T @ p
    confusion = confusion / confusion.sum(dim=1, keepdim=True)
    return (confusion.sum() - confusion.trace()) / c


class DomainDiscriminator(nn.Module):
    """A small MLP on features -> one logit (source = 1, target = 0), as in DANN / CDAN:
    Linear-ReLU-Linear-ReLU-Linear, or with ``batch_norm`` a BatchNorm1d after each hidden Linear
    (the Transfer-Learning-Library's ``DomainDiscriminator``, whose batch holds both domains)."""

    def __init__(self, in_dim: int, hidden: int = 256, batch_norm: bool = False):
        super().__init__()
        norm = (lambda: nn.BatchNorm1d(hidden)) if batch_norm else nn.Identity
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), norm(), nn.ReLU(), nn.Linear(hidden, hidden),
                                 norm(), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def domain_adversarial_loss(disc: nn.Module, h_s: torch.Tensor, h_t: torch.Tensor,
                            w_s: torch.Tensor | None = None, w_t: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy of the discriminator on (reversed) source and target inputs, averaged
    per domain so unequal batch sizes weigh the two domains equally. A batch-normed discriminator
    (TLL's) sees both domains as one batch, so it normalises them together; any other sees each
    domain apart, as before batch norm existed here: one joined matmul rounds differently, and
    that moved every stored DANN / CDAN number without changing the method."""
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in disc.modules()):
        d = disc(torch.cat([h_s, h_t]))
        d_s, d_t = d[: len(h_s)], d[len(h_s):]
    else:
        d_s, d_t = disc(h_s), disc(h_t)
    ls = F.binary_cross_entropy_with_logits(d_s, torch.ones(len(h_s), device=h_s.device), weight=w_s)
    lt = F.binary_cross_entropy_with_logits(d_t, torch.zeros(len(h_t), device=h_t.device), weight=w_t)
    return 0.5 * (ls + lt)


def proxy_a_distance(feat_s: np.ndarray, feat_t: np.ndarray, seed: int = 0, max_per_domain: int = 1000) -> float:
    """PAD = 2 (1 - 2 err) of a linear domain classifier trained on half the features, tested on the
    other half. Both domains are subsampled to the same size so that chance error is 0.5 (PAD 0);
    perfectly separable domains give 2.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    n = min(len(feat_s), len(feat_t), max_per_domain)
    if n < 4:
        raise ValueError(f"proxy A-distance needs at least 4 held-out inputs per domain, got {n}")
    xs = feat_s[rng.choice(len(feat_s), n, replace=False)]
    xt = feat_t[rng.choice(len(feat_t), n, replace=False)]
    x = np.concatenate([xs, xt]).astype(np.float64)
    y = np.r_[np.ones(n), np.zeros(n)]
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.5, stratify=y, random_state=seed)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    err = 1.0 - clf.fit(x_tr, y_tr).score(x_te, y_te)
    return 2.0 * (1.0 - 2.0 * err)


@torch.no_grad()
def features_of(model: nn.Module, x, device: str, batch_size: int = 256) -> np.ndarray:
    """``model.features`` of inputs ``x`` in batches (the model's train/eval mode is left as set)."""
    chunks = [model.features(xb) for _, xb in batches(x, device, batch_size)]
    return torch.cat(chunks).float().cpu().numpy()


def model_a_distance(model: nn.Module, source_x, target_x, device: str, seed: int = 0) -> float:
    """Proxy A-distance between two sets of held-out inputs in ``model``'s feature space."""
    return proxy_a_distance(features_of(model, source_x, device), features_of(model, target_x, device), seed)
