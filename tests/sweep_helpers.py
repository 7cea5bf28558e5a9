"""Tiny suites for the runner tests: small_cnn on digits (sklearn, no rendering), a few steps."""
from __future__ import annotations

from pathlib import Path

import yaml

from bench.plan.suite import Suite


def tiny_suite(strategies: list, name: str = "tiny", budgets: list | None = None, seeds: list | None = None,
               source_steps: int = 10, adapt_steps: int = 4, batch_size: int = 16) -> dict:
    return {"name": name, "backbones": ["small_cnn"], "strategies": strategies,
            "pairs": ["digits -> digits"], "label_budgets": budgets or ["all"], "seeds": seeds or [0],
            "source": {"steps": source_steps, "batch_size": 32},
            "adapt": {"steps": adapt_steps, "batch_size": batch_size}, "threads": 1, "device": "cpu"}


def make_suite(**kw) -> Suite:
    return Suite.model_validate(tiny_suite(**kw))


def write_suite(path: Path, **kw) -> Path:
    path.write_text(yaml.safe_dump(tiny_suite(**kw)))
    return path


def source_model_in_process(cell_json: str, cache_root: str) -> bool:
    """Run the source stage for a cell in this (worker) process; True if it loaded from the cache."""
    import torch

    from bench.data.base import load_domain
    from bench.cell.source_stage import source_model
    from bench.plan.cells import Cell

    torch.set_num_threads(1)
    cell = Cell.model_validate_json(cell_json)
    _, trained = source_model(cell, load_domain(cell.source_domain), "cpu", Path(cache_root))
    return trained.cached
