"""DomainBed's MLDG, CDANN, DANN (``dg_dann``), Fish and its multi-domain CORAL and MMD (``dg_coral``, ``dg_mmd``):
each penalty or update against a hand computation (numpy or a closed form) on planted tensors, and
each algorithm through the harness on a leave-one-domain-out moons cell."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from bench.cell.run_cell import run_cell
from bench.plan.cells import expand
from bench.plan.suite import Suite
from bench.strategies._dg import pairwise_mean
from bench.strategies.cdann import CDANN, balanced_domain_loss, domain_loss, input_gradient_penalty, is_discriminator_step
from bench.strategies.dg_dann import DGDANN
from bench.strategies.dg_coral import mean_cov_distance
from bench.strategies.dg_mmd import GAMMAS, gaussian_mmd
from bench.strategies.fish import fish_update, inner_steps
from bench.strategies.mldg import meta_pairs, mldg_gradients

NEW = ["mldg", "cdann", "dg_dann", "fish", "dg_coral", "dg_mmd"]
RNG = np.random.default_rng(0)  # planted inputs; every expectation is computed from them
X = RNG.normal(size=(5, 3))
Y = RNG.normal(size=(4, 3)) + 1.0


def t(a):
    return torch.tensor(a, dtype=torch.float64)


def test_dg_coral_is_the_mean_squared_gap_of_means_and_covariances():
    want = ((X.mean(0) - Y.mean(0)) ** 2).mean() + ((np.cov(X.T) - np.cov(Y.T)) ** 2).mean()
    assert float(mean_cov_distance(t(X), t(Y))) == pytest.approx(want, rel=1e-12)
    assert float(mean_cov_distance(t(X), t(X))) == 0.0


def test_dg_mmd_is_the_biased_gaussian_mmd_over_seven_bandwidths():
    def k(a, b):
        return sum(math.exp(-g * float(((a - b) ** 2).sum())) for g in GAMMAS)

    def mean_k(a, b):
        return np.mean([[k(u, v) for v in b] for u in a])

    want = mean_k(X, X) + mean_k(Y, Y) - 2 * mean_k(X, Y)
    assert float(gaussian_mmd(t(X), t(Y))) == pytest.approx(want, rel=1e-9)
    assert float(gaussian_mmd(t(X), t(X))) == pytest.approx(0.0, abs=1e-9)


def test_the_penalty_is_averaged_over_the_pairs_of_source_domains():
    feats = [t(X), t(Y), t(X[:4] * 2)]
    d = mean_cov_distance
    want = (d(feats[0], feats[1]) + d(feats[0], feats[2]) + d(feats[1], feats[2])) / 3
    assert float(pairwise_mean(feats, d)) == pytest.approx(float(want))
    assert float(pairwise_mean(feats[:1], d)) == 0.0  # one source domain: nothing to align


def test_mldg_pairs_meta_train_with_meta_test_domains():
    gen = torch.Generator().manual_seed(0)
    for n, k in ((5, 2), (3, 2), (2, 2), (4, 1)):
        pairs = meta_pairs(n, k, gen)
        k = min(k, n - 1)  # capped: at least one meta-train domain
        trains, tests = [i for i, _ in pairs], {j for _, j in pairs}
        # every meta-train domain once, each with a meta-test domain (cycling over the k of them)
        assert len(pairs) == len(set(trains)) == n - k and not set(trains) & tests
        assert len(tests) == min(k, n - k) and tests <= set(range(n))
    assert meta_pairs(1, 2, gen) == [(0, 0)]
    succ = meta_pairs(4, 2, gen, "successor")  # the published commit's pairing: a cycle
    assert sorted(i for i, _ in succ) == sorted(j for _, j in succ) == [0, 1, 2, 3]


def ce_grad(w: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray):
    """Gradient of the mean cross-entropy of the linear model x w^T + b, by hand."""
    z = x @ w.T + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    return p.T @ x / len(y), p.mean(0)


def linear(w, b):
    m = nn.Linear(w.shape[1], w.shape[0]).double()
    with torch.no_grad():
        m.weight.copy_(t(w))
        m.bias.copy_(t(b))
    return m


def test_mldg_gradient_is_grad_li_plus_beta_grad_lj_after_the_inner_step():
    w, b = RNG.normal(size=(3, 2)), RNG.normal(size=3)
    batches = [(t(RNG.normal(size=(6, 2))), torch.tensor(RNG.integers(0, 3, 6))) for _ in range(3)]
    model, lr, beta = linear(w, b), 0.3, 0.7
    pairs = [(0, 2), (1, 2)]
    grads, _ = mldg_gradients(model, batches, pairs, beta, lambda m: torch.optim.SGD(m.parameters(), lr=lr))
    want_w, want_b = np.zeros_like(w), np.zeros_like(b)
    for i, j in pairs:
        gw, gb = ce_grad(w, b, batches[i][0].numpy(), batches[i][1].numpy())
        hw, hb = ce_grad(w - lr * gw, b - lr * gb, batches[j][0].numpy(), batches[j][1].numpy())
        want_w += (gw + beta * hw) / 3
        want_b += (gb + beta * hb) / 3
    np.testing.assert_allclose(grads[0].numpy(), want_w, rtol=1e-10)
    np.testing.assert_allclose(grads[1].numpy(), want_b, rtol=1e-10)
    np.testing.assert_array_equal(model.weight.detach().numpy(), w)  # the model itself is untouched


def test_fish_steps_through_the_domains_then_moves_towards_the_copy():
    w, b = RNG.normal(size=(3, 2)), RNG.normal(size=3)
    batches = [(t(RNG.normal(size=(5, 2))), torch.tensor(RNG.integers(0, 3, 5))) for _ in range(2)]
    model, inner, lr, meta = linear(w, b), linear(w, b), 0.2, 0.5
    inner_steps(inner, torch.optim.SGD(inner.parameters(), lr=lr), batches)
    cw, cb = w.copy(), b.copy()
    for x, y in batches:  # sequential SGD steps, one per domain
        gw, gb = ce_grad(cw, cb, x.numpy(), y.numpy())
        cw, cb = cw - lr * gw, cb - lr * gb
    np.testing.assert_allclose(inner.weight.detach().numpy(), cw, rtol=1e-10)
    fish_update(model, inner, meta)
    np.testing.assert_allclose(model.weight.detach().numpy(), w + meta * (cw - w), rtol=1e-10)
    np.testing.assert_allclose(model.bias.detach().numpy(), b + meta * (cb - b), rtol=1e-10)


def test_cdann_discriminator_loss_weighs_every_class_equally():
    logits = t(RNG.normal(size=(6, 3)))
    domains, y = torch.tensor([0, 0, 1, 1, 2, 2]), torch.tensor([0, 1, 1, 1, 0, 1])
    lg = logits.numpy()
    ce = np.log(np.exp(lg).sum(1)) - lg[np.arange(6), domains.numpy()]
    n_y = np.array([2, 4])[y.numpy()]  # two of class 0, four of class 1
    assert float(balanced_domain_loss(logits, domains, y)) == pytest.approx((ce / (n_y * 2)).sum(), rel=1e-12)


def test_dg_dann_is_cdann_unconditioned_with_the_plain_mean_domain_loss():
    # DomainBed's AbstractDANN flags: DANN(conditional=False, class_balance=False), CDANN(True, True)
    assert (DGDANN.conditional, DGDANN.class_balance) == (False, False)
    assert (CDANN.conditional, CDANN.class_balance) == (True, True)
    logits = t(RNG.normal(size=(6, 3)))
    domains, y = torch.tensor([0, 0, 1, 1, 2, 2]), torch.tensor([0, 1, 1, 1, 0, 1])
    lg = logits.numpy()
    ce = np.log(np.exp(lg).sum(1)) - lg[np.arange(6), domains.numpy()]
    assert float(domain_loss(logits, domains, y, class_balance=False)) == pytest.approx(ce.mean(), rel=1e-12)
    # the plain loss ignores the class labels; the balanced one weighs by them
    assert float(domain_loss(logits, domains, 1 - y, False)) == float(domain_loss(logits, domains, y, False))
    assert float(domain_loss(logits, domains, y, True)) == float(balanced_domain_loss(logits, domains, y))


def test_cdann_gradient_penalty_of_a_linear_discriminator():
    w, b = RNG.normal(size=(3, 4)), RNG.normal(size=3)
    h = t(RNG.normal(size=(5, 4))).requires_grad_()
    domains = torch.tensor([0, 1, 2, 0, 1])
    pen = input_gradient_penalty(linear(w, b)(h), domains, h)
    z = h.detach().numpy() @ w.T + b
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    p[np.arange(5), domains.numpy()] -= 1
    want = ((p @ w) ** 2).sum(1).mean()  # d CE_i / d h_i = (p_i - onehot_i) w
    assert float(pen.detach()) == pytest.approx(want, rel=1e-10)


def test_cdann_alternates_discriminator_and_generator_steps():
    assert [is_discriminator_step(c, 1) for c in range(1, 7)] == [False, True] * 3
    # 3 discriminator steps per generator step: the generator's at count % 4 == 3
    assert [is_discriminator_step(c, 3) for c in range(1, 9)] == [True, True, False, True, True, True, False, True]


def test_every_new_algorithm_runs_on_a_held_out_domain(tmp_path):
    suite = Suite(name="dg-new", backbones=[{"name": "mlp", "kwargs": {"hidden": 16}}], strategies=NEW,
                  pairs=[{"leave_one_out": ["moons", "moons-rot/30", "moons-rot/60"]}], label_budgets=[0],
                  protocol="joint", adapt={"steps": 6, "batch_size": 16, "lr": 0.01})
    for cell in [c for c in expand(suite) if c.target_domain == "moons"]:
        row = run_cell(cell, tmp_path)
        assert row["status"] == "ok", (row["strategy"], row["error"])
        assert row["steps"] == 6 and 0 <= row["target_acc"] <= 100
