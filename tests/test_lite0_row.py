"""The default suite's pretrained-vs-scratch row (its ``also`` grid: EfficientNet-Lite0 with ImageNet
weights and from scratch, on real VLCS photos SUN -> Caltech) run end to end through the real
runner, shortened to seconds: the grid's own cells at seed 0, with 3 source steps instead of 20.

What it asserts holds on any CPU:
- the rows are the suite's: its name, its protocol hash, the grid's backbones x strategies x pair x
  budgets, all ``ok``;
- the pretrained source model started from ImageNet's weights: Adam moves a weight by at most
  ``lr (1 - beta1) / sqrt(1 - beta2)`` per step (Kingma & Ba 2015, section 2.1), so after ``n``
  steps every backbone parameter of the stored source model lies within ``n`` times that of the
  fetched file's tensor; the from-scratch one does not (random init is far from trained weights);
- a linear probe on ImageNet features beats the majority class of the target test split and the
  same probe on random features. Margins measured here over seeds 0-9 (18 Caltech test photos, one
  photo = 5.6 points): pretrained 72.2-94.4, scratch 38.9-50.0, majority class 44.4; the test asks
  for 10 points (2 photos) less than the narrowest of those gaps.

Skipped, with the fetch command, where vlcs-mini or efficientnet-lite0 has not been fetched
(`.ci/run` fetches both with `make data` before `make test`). About 8 s on one core.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch

from bench.sources import SOURCES, data_root
from tests.conftest import REPO

REAL_ROOT = data_root()  # before any test points $BENCH_DATA elsewhere
SOURCE_STEPS = 3
ADAM_BETAS = (0.9, 0.999)  # torch.optim.Adam's defaults, which make_optimizer keeps
THREADS = int(os.environ.get("BENCH_TEST_THREADS", "1"))  # tests/README.md: the suite's 1 by default
MARGIN = 10.0  # points; measured gaps are 22.2 (pretrained over scratch) and 27.8 (over majority)


def fetched(name: str) -> bool:
    return all((REAL_ROOT / name / f.local).exists() for f in SOURCES[name].files)


pytestmark = [
    pytest.mark.slow,
    pytest.mark.numeric,
    pytest.mark.skipif(not (fetched("vlcs-mini") and fetched("efficientnet-lite0")),
                       reason=f"vlcs-mini and efficientnet-lite0 not in {REAL_ROOT} (`bench data fetch "
                              "vlcs-mini efficientnet-lite0` puts them there; $BENCH_DATA moves them)"),
]


def shortened_row():
    """The default suite's Lite0 grid as a suite of its own, at seed 0 and SOURCE_STEPS source steps."""
    from bench.plan.grids import grid_suite
    from bench.plan.suite import load_suite

    suite = load_suite(REPO / "suites" / "default.yaml")
    (index,) = [i for i, g in enumerate(suite.also)
                if any(b.get("name") == "efficientnet_lite0" for b in g.get("backbones", []))]
    grid = grid_suite(suite, index)
    raw = grid.model_dump(mode="json")
    raw["backbones"] = [{**b, "source_steps": SOURCE_STEPS} for b in raw["backbones"]]
    raw["seeds"] = [0]
    raw["threads"] = THREADS
    return suite, grid, type(grid).model_validate(raw)


def adam_reach(lr: float, steps: int) -> float:
    beta1, beta2 = ADAM_BETAS
    return steps * lr * (1 - beta1) / math.sqrt(1 - beta2)


def drift_from_imagenet(results: Path) -> dict[str, float]:
    """Backbone label -> the largest |stored - ImageNet| over the backbone's parameters (BatchNorm
    running statistics are buffers, not parameters: training moves them freely)."""
    from safetensors.torch import load_file

    from bench.backbones.efficientnet_lite import imagenet_model

    imagenet = imagenet_model()
    names = [n for n, _ in imagenet.named_parameters() if not n.startswith("classifier.")]
    reference = imagenet.state_dict()
    out = {}
    for entry in sorted((results / "_source_models").iterdir()):
        meta = json.loads((entry / "meta.json").read_text())
        stored = load_file(entry / "model.safetensors")
        out[meta["backbone"]["label"]] = max((stored[f"backbone.{n}"] - reference[n]).abs().max().item()
                                             for n in names)
    return out


def test_the_default_suites_lite0_row_runs_end_to_end(tmp_path, monkeypatch):
    from bench.data import load_domain
    from bench.plan.cells import expand
    from bench.results import read_results
    from bench.run.runner import run_suite

    monkeypatch.setenv("BENCH_DATA", str(REAL_ROOT))
    suite, grid, short = shortened_row()
    run_suite(short, tmp_path / "r", device="cpu", show_progress=False, executor="inline")
    rows = read_results(tmp_path / "r")
    assert set(rows.status) == {"ok"}, rows.error.tolist()

    # identity: the suite's grid, cell for cell (seed 0), under the suite's name and protocol
    def ident(backbone, strategy, source, target, budget):
        return backbone, strategy, source, target, str(budget)

    wanted = {ident(c.backbone.display_name, c.strategy, c.source_domain, c.target_domain, c.label_budget)
              for c in expand(grid) if c.seed == 0}
    got = {ident(*r) for r in rows[["backbone", "strategy", "source_domain", "target_domain",
                                    "label_budget"]].itertuples(index=False)}
    assert got == wanted and len(rows) == len(wanted) == 4
    assert set(rows.suite) == {suite.name} and set(rows.protocol_hash) == {c.protocol_hash() for c in expand(suite)}

    # the weights: ImageNet's (moved by 3 Adam steps at most) for one backbone only
    reach = adam_reach(short.source.lr, SOURCE_STEPS)
    drift = drift_from_imagenet(tmp_path / "r")
    assert drift["lite0-imagenet"] <= reach < drift["lite0-scratch"], (drift, reach)

    # what the weights are for: the probe on ImageNet features, against the majority class and scratch
    probe = rows[rows.strategy == "linear_probe"].set_index("backbone").target_acc
    test_y = load_domain(f"{short.pairs[0].target}@{short.backbones[0].input_size}").test.y
    majority = 100.0 * torch.bincount(test_y).max().item() / len(test_y)
    assert probe["lite0-imagenet"] >= majority + MARGIN, (probe.to_dict(), majority)
    assert probe["lite0-imagenet"] >= probe["lite0-scratch"] + MARGIN, probe.to_dict()
