"""Label budgets: a strategy sees exactly k target labels per class, and never target-test."""
import pytest
import torch

from bench.cell.run_cell import run_cell
from bench.data.budget import budget_indices
from bench.strategies import STRATEGIES, Strategy
from bench.plan.suite import Suite
from bench.plan.cells import expand


def test_budget_indices_k_per_class_deterministic():
    y = torch.arange(100) % 7
    idx = budget_indices(y, 3, seed=0)
    assert torch.bincount(y[idx]).tolist() == [3] * 7
    assert torch.equal(idx, budget_indices(y, 3, seed=0))
    assert not torch.equal(idx, budget_indices(y, 3, seed=1))
    assert len(budget_indices(y, "all", 0)) == 100
    assert len(budget_indices(y, 0, 0)) == 0
    with pytest.raises(ValueError, match="budget 50"):  # never silently fewer than the row says
        budget_indices(y, 50, 0)


SEEN = {}


@STRATEGIES.register("_record_budget")
class RecordBudget(Strategy):
    """Test-only: records what the context hands a strategy."""

    needs_target_labels = True

    def setup(self):
        SEEN["labels"] = self.ctx.target_labeled.y.clone()
        SEEN["unlabeled"] = len(self.ctx.target_unlabeled_x)
        SEEN["fields"] = set(vars(self.ctx))
        self.opt = self.optimizer(self.model.head.parameters())

    def update(self, step):
        return self.supervised_step(self.opt)


def test_strategy_gets_exactly_k_labels_per_class(tmp_path):
    suite = Suite.model_validate({
        "name": "b", "backbones": ["small_cnn"], "strategies": ["_record_budget"],
        "pairs": ["synth-digits -> digits"], "label_budgets": [4], "seeds": [0],
        "source": {"steps": 5}, "adapt": {"steps": 3, "batch_size": 16}})
    (cell,) = expand(suite)
    row = run_cell(cell, tmp_path)
    assert row["status"] == "ok", row["error"]
    assert torch.bincount(SEEN["labels"], minlength=10).tolist() == [4] * 10
    from bench.data import load_domain

    target = load_domain("digits")
    assert SEEN["unlabeled"] == len(target.train)  # unlabelled inputs: all of target-train
    assert not any("test" in f for f in SEEN["fields"])  # nothing of target-test reaches it
