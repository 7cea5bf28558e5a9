"""The source stage runs once per (backbone, source, seed, source config), whatever the strategies."""
from bench import source_stage
from bench.runner import run_suite
from bench.strategies.linear_probe import LinearProbe
from bench.suite import Suite


def suite(**over):
    spec = {"name": "cache", "backbones": ["small_cnn"], "pairs": ["synth-digits -> digits"],
            "strategies": ["source_only", "full_finetune", "linear_probe", "discriminative_lr"],
            "label_budgets": [0, 3, 5], "seeds": [0], "source": {"steps": 8}, "adapt": {"steps": 3}}
    return Suite.model_validate({**spec, **over})


def test_one_source_training_shared_by_every_strategy(tmp_path):
    source_stage.TRAINED.clear()
    LinearProbe.extractions.clear()
    summary = run_suite(suite(), tmp_path, show_progress=False)
    assert summary.statuses["ok"] == 1 * 3 + 3 * 2  # source_only at 3 budgets, 3 others at 2
    assert len(source_stage.TRAINED) == 1
    # linear-probe features: computed once for the (source model, domain), reused across budgets
    assert len(LinearProbe.extractions) == 1
    # a later sweep over other strategies reuses the cached source model from disk
    run_suite(suite(strategies=["gradual_unfreeze"]), tmp_path, show_progress=False)
    assert len(source_stage.TRAINED) == 1
    # what the source stage depends on changes the cache entry
    run_suite(suite(seeds=[1]), tmp_path, show_progress=False)
    run_suite(suite(source={"steps": 9}), tmp_path, show_progress=False)
    assert len(source_stage.TRAINED) == 3
    assert len(list((tmp_path / "_source_models").iterdir())) == 3


def test_cached_source_model_gives_identical_before_accuracy(tmp_path):
    rows = []
    run_suite(suite(strategies=["source_only"], label_budgets=[0]), tmp_path, show_progress=False,
              on_row=rows.append)
    run_suite(suite(strategies=["full_finetune"], label_budgets=[3]), tmp_path, show_progress=False,
              on_row=rows.append)
    assert rows[0]["source_cached"] is False and rows[1]["source_cached"] is True
    assert rows[0]["source_acc_before"] == rows[1]["source_acc_before"]
    assert rows[0]["target_acc_before"] == rows[1]["target_acc_before"]
