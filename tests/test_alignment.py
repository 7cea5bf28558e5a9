"""bench.strategies._alignment against closed forms and direct numpy computations."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bench.strategies import _alignment as A

pytestmark = pytest.mark.numeric  # float results: `make test-numeric` reruns these on other kernels


def gauss(n, d, seed, mean=0.0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) * scale + mean


@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0, 2.5])
def test_gradient_reversal_is_minus_lambda_times_incoming(lam):
    x = torch.randn(5, 3, requires_grad=True)
    y = A.grad_reverse(x, lam)
    assert torch.equal(y, x)  # identity forward
    incoming = torch.randn(5, 3)
    y.backward(incoming)
    assert torch.equal(x.grad, -lam * incoming)


def test_dann_schedule_matches_the_formula():
    for p in np.linspace(0, 1, 11):
        assert A.dann_lambda(p) == pytest.approx(2 / (1 + math.exp(-10 * p)) - 1)
    assert A.dann_lambda(0.0) == 0.0 and A.dann_lambda(1.0) > 0.999
    assert A.dann_lr_factor(0.0) == 1.0 and A.dann_lr_factor(1.0) == pytest.approx(11 ** -0.75)


def np_cov(x):
    return np.cov(x, rowvar=False)  # unbiased, like bench.strategies._alignment.covariance


def test_mmd_linear_matches_numpy_and_a_mean_shift_exactly():
    xs, xt = gauss(300, 4, 0), gauss(200, 4, 1, scale=1.5) + 0.2
    want = np.sum((xs.numpy().mean(0) - xt.numpy().mean(0)) ** 2) + np.sum((np_cov(xs.numpy()) - np_cov(xt.numpy())) ** 2)
    assert A.mmd_linear(xs, xt).item() == pytest.approx(want, rel=1e-10)
    # a pure mean shift delta leaves the covariance unchanged: the loss is exactly ||delta||^2
    delta = torch.tensor([0.5, -1.0, 0.0, 2.0], dtype=torch.float64)
    assert A.mmd_linear(xs, xs + delta).item() == pytest.approx(delta.pow(2).sum().item(), rel=1e-10)


def test_mmd_and_coral_near_zero_for_one_distribution_and_grow_with_shift():
    a, b = gauss(4000, 3, 0), gauss(4000, 3, 1)
    # sampling noise only: E||mean gap||^2 = 2 d / n = 0.0015, the covariance gap is of the same order
    assert A.mmd_linear(a, b).item() < 0.03 and A.coral(a, b).item() < 1e-3
    mmd_gaps = [A.mmd_linear(a, b + s).item() for s in (0.5, 1.0, 2.0)]
    coral_gaps = [A.coral(a, b * s).item() for s in (1.5, 2.0, 3.0)]
    assert mmd_gaps == sorted(mmd_gaps) and mmd_gaps[0] > 0.5
    assert coral_gaps == sorted(coral_gaps) and coral_gaps[0] > 10 * A.coral(a, b).item()


def test_coral_matches_numpy_and_the_scaling_closed_form():
    xs = gauss(500, 6, 2)
    xt = gauss(400, 6, 3) @ torch.linspace(0.5, 2, 36, dtype=torch.float64).reshape(6, 6)
    d = 6
    want = np.sum((np_cov(xs.numpy()) - np_cov(xt.numpy())) ** 2) / (4 * d * d)
    assert A.coral(xs, xt).item() == pytest.approx(want, rel=1e-10)
    # scaling by s multiplies the covariance by s^2: CORAL = (1 - s^2)^2 ||C||^2 / (4 d^2)
    s, c = 3.0, np_cov(xs.numpy())
    assert A.coral(xs, s * xs).item() == pytest.approx((1 - s**2) ** 2 * np.sum(c**2) / (4 * d * d), rel=1e-10)


def np_mk_mmd(xs, xt, bandwidths):
    z = np.concatenate([xs, xt])
    d2 = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    k = sum(np.exp(-d2 / s) for s in bandwidths)
    n, m = len(xs), len(xt)
    kss, ktt, kst = k[:n, :n], k[n:, n:], k[:n, n:]
    return ((kss.sum() - np.trace(kss)) / (n * (n - 1)) + (ktt.sum() - np.trace(ktt)) / (m * (m - 1))
            - 2 * kst.mean())


def test_mk_mmd_matches_numpy_and_the_median_bandwidths():
    xs, xt = gauss(60, 5, 4), gauss(50, 5, 5, mean=0.7)
    z = np.concatenate([xs.numpy(), xt.numpy()])
    d2 = ((z[:, None] - z[None]) ** 2).sum(-1)
    median = np.median(d2[~np.eye(len(z), dtype=bool)])
    bw = A.gaussian_bandwidths(torch.cdist(torch.from_numpy(z), torch.from_numpy(z)).pow(2))
    assert bw == pytest.approx([median * 2.0**k for k in (-2, -1, 0, 1, 2)], rel=1e-6)
    assert A.mk_mmd(xs, xt).item() == pytest.approx(np_mk_mmd(xs.numpy(), xt.numpy(), bw), rel=1e-6)


def test_mean_bandwidth_centre_and_the_single_kernel_mmd_match_numpy():
    """``bandwidth: mean`` is Transfer-Learning-Library's sigma^2 (mean pairwise squared distance);
    the ``mmd`` strategy is the one-kernel Gaussian MMD^2 at the median (or mean) bandwidth."""
    from bench.strategies.mmd import MMD

    xs, xt = gauss(60, 5, 4), gauss(50, 5, 5, mean=0.7)
    z = np.concatenate([xs.numpy(), xt.numpy()])
    d2 = ((z[:, None] - z[None]) ** 2).sum(-1)
    off = d2[~np.eye(len(z), dtype=bool)]
    d2t = torch.cdist(torch.from_numpy(z), torch.from_numpy(z)).pow(2)
    assert A.gaussian_bandwidths(d2t, 3, 2.0, "mean") == pytest.approx([off.mean() * f for f in (0.5, 1, 2)], rel=1e-6)
    for centre, mid in (("median", np.median(off)), ("mean", off.mean())):
        strategy = MMD.__new__(MMD)
        strategy.hp = MMD.Hparams(bandwidth=centre)
        got = strategy.transfer_loss(xs, xt, None, None).item()
        assert got == pytest.approx(np_mk_mmd(xs.numpy(), xt.numpy(), [mid]), rel=1e-6)


def test_mk_mmd_near_zero_for_one_distribution_and_grows_with_shift():
    a, b = gauss(400, 3, 6), gauss(400, 3, 7)
    same = A.mk_mmd(a, b).item()
    gaps = [A.mk_mmd(a, b + s).item() for s in (0.5, 1.0, 2.0)]
    assert abs(same) < 0.05  # the kernel sum is up to 5, its U-statistic noise O(5 / n)
    assert gaps == sorted(gaps) and gaps[0] > 5 * abs(same)


def test_cdan_multilinear_map_is_the_flattened_outer_product():
    f, g = torch.randn(4, 3), torch.softmax(torch.randn(4, 5), 1)
    h = A.cdan_map(f, g)
    assert h.shape == (4, 15)
    for i in range(4):
        assert torch.allclose(h[i], torch.outer(g[i], f[i]).flatten())
    assert torch.allclose(h.reshape(4, 5, 3)[:, 2, :], g[:, 2:3] * f)  # block c is g_c * f
    r = A.RandomizedMultilinear(3, 5, out_dim=64)
    assert r(f, g).shape == (4, 64)


def test_entropy_and_entropy_weights():
    p = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    assert A.entropy(p).tolist() == pytest.approx([0.0, math.log(2)], abs=1e-6)
    w = A.entropy_weights(p)
    raw = np.array([2.0, 1 + 0.5])  # 1 + exp(-H): confident examples weigh more
    assert w.tolist() == pytest.approx((raw * 2 / raw.sum()).tolist(), rel=1e-5)


def test_mcc_zero_for_one_hot_confident_predictions_and_positive_when_confused():
    confident = torch.eye(4).repeat(3, 1) * 100.0  # every prediction certain, each class used
    assert A.mcc(confident).item() == pytest.approx(0.0, abs=1e-6)
    uniform = torch.zeros(12, 4)
    assert A.mcc(uniform).item() == pytest.approx(3 / 4, rel=1e-5)  # each row spreads 3/4 off-diagonal


def test_proxy_a_distance_near_zero_for_one_distribution_and_two_when_separable():
    rng = np.random.default_rng(0)
    same = A.proxy_a_distance(rng.normal(size=(400, 4)), rng.normal(size=(400, 4)))
    apart = A.proxy_a_distance(rng.normal(size=(400, 4)), rng.normal(size=(400, 4)) + 10)
    assert abs(same) < 0.4
    assert apart == pytest.approx(2.0)
