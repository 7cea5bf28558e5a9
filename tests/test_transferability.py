"""Transferability scores against their hand-computable cases, and in a cell's row."""
import math

import numpy as np
import pytest

from bench.cell.transferability import (COLUMNS, LOGME_TOL, all_scores, hscore, leep, logme,
                                        logme_evidence, logme_fixed_point, nce)

pytestmark = pytest.mark.numeric  # float results: `make test-numeric` reruns these on other kernels


def _direct_log_marginal(f, y, alpha, beta):
    """log N(y; 0, F F'/alpha + I/beta): the evidence straight from its definition."""
    n = len(y)
    cov = f @ f.T / alpha + np.eye(n) / beta
    _, logdet = np.linalg.slogdet(cov)
    return float(-0.5 * (n * math.log(2 * math.pi) + logdet + y @ np.linalg.solve(cov, y)))


def test_logme_evidence_closed_form_equals_the_gaussian_marginal():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(7, 3))
    y = rng.normal(size=7)
    for alpha, beta in [(1.0, 1.0), (0.3, 4.0), (5.0, 0.2)]:
        assert logme_evidence(f, y, alpha, beta) == pytest.approx(_direct_log_marginal(f, y, alpha, beta),
                                                                  rel=1e-10)


@pytest.mark.parametrize("shape", [(12, 3), (5, 8)])  # more samples than features, and fewer
def test_logme_fixed_point_maximises_the_evidence(shape):
    rng = np.random.default_rng(1)
    f = rng.normal(size=shape)
    y = f @ rng.normal(size=shape[1]) + 0.3 * rng.normal(size=shape[0])
    alpha, beta = logme_fixed_point(f, y)
    # the fixed-point equations hold at the returned (alpha, beta)
    a = alpha * np.eye(shape[1]) + beta * f.T @ f
    m = beta * np.linalg.solve(a, f.T @ y)
    s = np.linalg.eigvalsh(f.T @ f).clip(min=0)
    gamma = (beta * s / (alpha + beta * s)).sum()
    assert alpha == pytest.approx(gamma / (m @ m), rel=1e-6)
    assert beta == pytest.approx((len(y) - gamma) / ((f @ m - y) ** 2).sum(), rel=1e-6)
    # and it is a maximum of the directly computed marginal likelihood
    best = _direct_log_marginal(f, y, alpha, beta)
    for da, db in [(1.1, 1), (0.9, 1), (1, 1.1), (1, 0.9)]:
        assert _direct_log_marginal(f, y, alpha * da, beta * db) < best


@pytest.mark.parametrize("dim", [2, 12])  # fewer features than samples, and more
def test_logme_is_mean_over_classes_of_per_sample_evidence(dim):
    rng = np.random.default_rng(2)
    f = rng.normal(size=(9, dim))
    labels = np.array([0, 1, 2] * 3)
    expected = 0.0
    for k in range(3):
        y = (labels == k).astype(float)
        expected += _direct_log_marginal(f, y, *logme_fixed_point(f, y)) / 9 / 3
    # the same fixed point, its evidence computed in the SVD basis vs from the n x n determinant:
    # equal to the fixed point's own convergence tolerance, not to the last bits (the two paths
    # round differently on each BLAS; at dim 12 y lies in F's column space and beta is ~1e15)
    assert logme(f, labels) == pytest.approx(expected, rel=LOGME_TOL)


def test_logme_prefers_features_that_explain_the_labels():
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(4), 20)
    good = np.eye(4)[labels] * 3 + 0.1 * rng.normal(size=(80, 4))
    assert logme(good, labels) > logme(rng.normal(size=(80, 4)), labels)


def test_leep_of_a_perfectly_predictive_head_is_zero_its_maximum():
    labels = np.array([0, 1, 2, 2, 1, 0, 3])
    perm = np.array([2, 0, 3, 1])            # source classes are target classes relabelled
    probs = np.eye(4)[perm[labels]]           # certain and right (up to the label map)
    assert leep(probs, labels) == pytest.approx(0.0, abs=1e-12)
    rng = np.random.default_rng(4)
    soft = rng.dirichlet(np.ones(4), size=len(labels))
    assert leep(soft, labels) < 0


def test_leep_matches_its_definition_on_a_small_case():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    labels = np.array([0, 1, 1])
    joint = np.array([[0.9, 0.1], [0.8, 1.2]]) / 3            # P(y, z)
    cond = joint / joint.sum(axis=0)                            # P(y | z)
    expected = np.mean([np.log(probs[i] @ cond[labels[i]]) for i in range(3)])
    assert leep(probs, labels) == pytest.approx(expected, rel=1e-12)


def test_nce_of_identical_label_sets_is_zero():
    labels = np.array([0, 1, 2, 1, 0, 2, 2])
    assert nce(labels, labels) == pytest.approx(0.0, abs=1e-12)
    # independent labels: -H(Y|Z) = -H(Y)
    z = np.array([0, 1] * 4)
    y = np.array([0, 0, 1, 1] * 2)
    assert nce(z, y) == pytest.approx(-math.log(2), rel=1e-12)


def test_hscore_of_separable_features_beats_random_ones():
    rng = np.random.default_rng(5)
    labels = np.repeat(np.arange(5), 10)
    separable = 4 * np.eye(5)[labels] + 0.2 * rng.normal(size=(50, 5))
    random = rng.normal(size=(50, 5))
    assert hscore(separable, labels) > hscore(random, labels)
    # tr(cov^-1 cov_between) is at most the number of classes - 1 for full-rank features
    assert hscore(separable, labels) <= 4 + 1e-9


def test_all_scores_returns_the_four_columns():
    rng = np.random.default_rng(6)
    labels = np.repeat(np.arange(3), 4)
    out = all_scores(rng.normal(size=(12, 5)), rng.normal(size=(12, 3)), labels)
    assert set(out) == set(COLUMNS) and all(math.isfinite(v) for v in out.values())


def test_every_row_has_the_scores_nan_at_budget_0_and_cached_per_budget(tmp_path):
    import torch

    from bench.cell.run_cell import run_cell
    from bench.results import SCHEMA
    from bench.plan.suite import Suite
    from bench.plan.cells import expand

    torch.set_num_threads(1)
    suite = Suite(name="transfer-test", backbones=[{"name": "mlp", "kwargs": {"hidden": 16}}],
                  strategies=["source_only", "linear_probe"], pairs=["moons -> moons-rot/30"],
                  label_budgets=[0, 5, "all"], seeds=[0], source={"steps": 30, "batch_size": 32},
                  adapt={"steps": 5, "batch_size": 32})
    memo: dict = {}
    rows = [run_cell(c, tmp_path, memo=memo) for c in expand(suite)]
    assert set(COLUMNS) <= set(SCHEMA.names)
    by = {(r["strategy"], r["label_budget"]): r for r in rows}
    for col in COLUMNS:
        assert math.isnan(by["source_only", "0"][col])          # no label: no score
        for budget in ("5", "all"):
            assert math.isfinite(by["source_only", budget][col]), (col, budget)
            # one computation per (source model, target, budget, seed), shared by the strategies
            assert by["source_only", budget][col] == by["linear_probe", budget][col]
    assert sum(k.startswith("transferability:") for k in memo) == 2
    assert by["source_only", "5"]["leep"] <= 0 and by["source_only", "5"]["nce"] <= 0


def test_source_steps_make_distinct_source_models_with_their_own_label():
    from bench.backbones import BackboneSpec
    from bench.plan.suite import Suite
    from bench.plan.cells import expand

    plain = BackboneSpec(name="small_cnn")
    assert "source_steps" not in plain.model_dump(mode="json")  # old cell keys stay valid
    suite = Suite(name="t", backbones=[{"name": "small_cnn", "source_steps": 5},
                                       {"name": "small_cnn", "source_steps": 50},
                                       {"name": "small_cnn", "kwargs": {"width": 8}, "label": "cnn-w8"}],
                  strategies=["source_only"], pairs=["digits -> digits"])
    cells = expand(suite)
    assert [c.backbone.display_name for c in cells] == ["small_cnn@5", "small_cnn@50", "cnn-w8"]
    assert len({c.source_key() for c in cells}) == 3
