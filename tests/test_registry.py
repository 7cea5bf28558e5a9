"""Every registered strategy, on a tiny cell of each modality: registering a strategy is enough to
have it tested (after timm's tests/test_models.py, which runs every registered model).

Modalities: ``image`` (small_cnn on synth-digits -> digits) and ``vector`` (mlp on the moons toy),
a few steps each. A strategy may decline a cell by raising ``NotApplicable`` (e.g. QLoRA on a model
without linear layers): then the row is ``skipped`` with the reason, never ``failed``.
Text (hf/minilm) is covered by tests/test_text.py and tests/test_peft.py for the strategies that
target it; a 22M-parameter encoder per strategy would cost minutes here.
"""
from __future__ import annotations

import math

import pandas as pd
import pytest

from bench.results import read_results
from bench.run.runner import run_suite
from bench.strategies import STRATEGIES, get_strategy
from bench.plan.suite import Suite

#: the package's own strategies; tests register helpers of their own (tests/failing_strategies.py
#: crashes its worker on purpose), which must never run inline in the test process
PRODUCT = [n for n in STRATEGIES.names() if get_strategy(n).__module__.startswith("bench.strategies.")]

MODALITIES = {
    "image": dict(backbones=["small_cnn"], pairs=["synth-digits -> digits"]),
    "vector": dict(backbones=[{"name": "mlp", "kwargs": {"hidden": 8}}], pairs=["moons -> moons-rot/30"]),
}


@pytest.fixture(scope="module", params=sorted(MODALITIES))
def rows(request, tmp_path_factory) -> pd.DataFrame:
    """One suite per modality over every registered strategy, budgets 0 and 2, one seed."""
    suite = Suite(name=f"registry-{request.param}", strategies=PRODUCT, label_budgets=[0, 2],
                  seeds=[0], source={"steps": 3, "batch_size": 16}, adapt={"steps": 2, "batch_size": 16},
                  threads=1, **MODALITIES[request.param])
    out = tmp_path_factory.mktemp(request.param)
    run_suite(suite, out, device="cpu", show_progress=False, executor="inline")
    return read_results(out)


@pytest.mark.parametrize("name", PRODUCT)
def test_every_registered_strategy_runs_or_declines_with_a_reason(rows, name):
    mine = rows[rows["strategy"] == name]
    assert len(mine) == 2, f"{name}: expected a row per budget"
    for r in mine.itertuples():
        assert r.status in ("ok", "skipped"), f"{name} budget {r.label_budget}: {r.error}"
        if r.status == "skipped":
            assert r.error, f"{name}: skipped without a reason"
            continue
        for col in ("target_acc", "target_acc_before", "source_acc_before", "source_acc_after"):
            value = getattr(r, col)
            assert math.isfinite(value) and 0 <= value <= 100, (name, col, value)
        assert r.forgetting == pytest.approx(r.source_acc_before - r.source_acc_after)
        assert r.target_gain == pytest.approx(r.target_acc - r.target_acc_before)
        assert 0 <= r.trainable_params <= r.total_params and r.protocol_hash
        cls = get_strategy(name)
        # a strategy that never trains takes no step; one that trains may take none at its defaults
        # (protonet without episodic training: the prototypes are computed, not learnt)
        assert cls.trains or r.steps == 0, (name, r.steps)
    if get_strategy(name).needs_target_labels:
        (at_zero,) = mine[mine["label_budget"] == "0"].itertuples()
        assert at_zero.status == "skipped" and "label" in at_zero.error
