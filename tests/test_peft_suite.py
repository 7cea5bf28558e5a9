"""Every PEFT / forgetting-aware strategy runs end to end (suites/peft-smoke.yaml) on an image
backbone (timm ViT) and the pretrained MiniLM text backbone; text cells skip the image pair."""
from __future__ import annotations

import json
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.results import read_results  # noqa: E402
from bench.run.runner import run_suite  # noqa: E402
from bench.plan.suite import load_suite  # noqa: E402

PEFT = {"lora", "qlora", "ia3", "bitfit", "adapter"}


@pytest.mark.slow
def test_peft_smoke_suite_runs_every_strategy_on_image_and_text(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    suite = load_suite("suites/peft-smoke.yaml")
    summary = run_suite(suite, tmp_path / "results", device="cpu", show_progress=False)
    df = read_results(tmp_path / "results")
    ok = df[df.status == "ok"]
    errors = df[~df.status.isin(["ok", "skipped"])][["backbone", "strategy", "error"]]
    assert summary.not_ok == 0, errors.to_string()
    strategies = {s.name for s in suite.strategies}
    for backbone in ("timm/test_vit", "hf/minilm"):
        assert set(ok[ok.backbone == backbone].strategy) == strategies
    skipped = df[df.status == "skipped"]
    assert len(skipped) == len(ok) and skipped.error.str.contains("inputs").all()
    for _, row in ok.iterrows():
        extra = json.loads(row.extra)
        assert extra["footprint_bytes"] > 0 and row.trainable_params > 0
        if row.strategy in PEFT:
            assert row.adapter_bytes > 0 and row.trainable_params < row.total_params
        else:
            assert row.trainable_params == row.total_params
