"""The source stage runs once per (backbone, source, seed, source config), whatever the strategies.

Trainings are observed through what the product itself records: each row's ``source_cached`` and
the entries of ``<results>/_source_models/``; feature extractions by wrapping the real function in
the test (monkeypatch), not through counters kept in product code.
"""
from bench.run.runner import run_suite
from bench.strategies import linear_probe
from bench.plan.suite import Suite
from bench.plan.cells import expand


def suite(**over):
    spec = {"name": "cache", "backbones": ["small_cnn"], "pairs": ["synth-digits -> digits"],
            "strategies": ["source_only", "full_finetune", "linear_probe", "discriminative_lr"],
            "label_budgets": [0, 3, 5], "seeds": [0], "source": {"steps": 8}, "adapt": {"steps": 3}}
    return Suite.model_validate({**spec, **over})


def test_one_source_training_shared_by_every_strategy(tmp_path, monkeypatch):
    extractions = []
    real = linear_probe.extract_features
    monkeypatch.setattr(linear_probe, "extract_features",
                        lambda *a, **k: extractions.append(1) or real(*a, **k))
    rows = []
    summary = run_suite(suite(), tmp_path, show_progress=False, on_row=rows.append)
    assert summary.statuses["ok"] == 1 * 3 + 3 * 2  # source_only at 3 budgets, 3 others at 2
    # a cell skipped before its source stage (supervised at budget 0) has no source model at all
    trained = lambda: sum(r["status"] == "ok" and not r["source_cached"] for r in rows)  # noqa: E731
    assert trained() == 1 and len(list((tmp_path / "_source_models").iterdir())) == 1
    # linear-probe features: computed once for the (source model, domain), reused across budgets
    assert len(extractions) == 1
    # a later sweep over other strategies reuses the cached source model from disk
    run_suite(suite(strategies=["gradual_unfreeze"]), tmp_path, show_progress=False, on_row=rows.append)
    assert trained() == 1
    # another seed is another source model
    run_suite(suite(seeds=[1]), tmp_path, show_progress=False, on_row=rows.append)
    assert trained() == 2 and len(list((tmp_path / "_source_models").iterdir())) == 2


def test_the_source_key_follows_what_the_source_stage_depends_on():
    (a,), (b,) = expand(suite(strategies=["source_only"], label_budgets=[0])), \
        expand(suite(strategies=["full_finetune"], label_budgets=[3]))
    assert a.source_key() == b.source_key()  # strategy and budget do not matter
    for other in (suite(seeds=[1]), suite(source={"steps": 9}), suite(backbones=["mlp"])):
        assert expand(other)[0].source_key() != a.source_key()


def test_cached_source_model_gives_identical_before_accuracy(tmp_path):
    rows = []
    run_suite(suite(strategies=["source_only"], label_budgets=[0]), tmp_path, show_progress=False,
              on_row=rows.append)
    run_suite(suite(strategies=["full_finetune"], label_budgets=[3]), tmp_path, show_progress=False,
              on_row=rows.append)
    assert rows[0]["source_cached"] is False and rows[1]["source_cached"] is True
    assert rows[0]["source_acc_before"] == rows[1]["source_acc_before"]
    assert rows[0]["target_acc_before"] == rows[1]["target_acc_before"]
