"""The two sides of the harness-overhead benchmarks: one cell through the harness, and a bare
PyTorch loop doing the same work on the same tensors (``test_overhead.py`` times them,
``overhead_instructions.py`` counts their instructions under callgrind).

Same work: load the cached source model, evaluate source-test and target-test, ``steps`` Adam
steps of batch 64 on target-train (small_cnn on digits, full fine-tuning), evaluate both again.
The harness adds the suite/cell machinery, the strategy and sampler objects, divergence checks,
throughput and peak-memory measurement and the row.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's bench and tests

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors.torch import load_model  # noqa: E402

from bench.backbones import create_model  # noqa: E402
from bench.cell.run_cell import cached_domain, run_cell  # noqa: E402
from bench.cell.source_stage import source_model  # noqa: E402
from bench.plan.cells import expand  # noqa: E402
from tests.sweep_helpers import make_suite  # noqa: E402

STEPS, BATCH, SOURCE_STEPS = 300, 64, 100


def prepare(root: Path, steps: int = STEPS) -> dict:
    """The full_finetune and linear_probe cells at ``steps`` adaptation steps, their domain, and the
    source model trained into ``root`` (once: its key does not depend on ``steps``)."""
    suite = make_suite(strategies=["full_finetune", "linear_probe"], source_steps=SOURCE_STEPS,
                       adapt_steps=steps, batch_size=BATCH)
    ft, lp = expand(suite)
    domain = cached_domain("digits")
    source_model(ft, domain, "cpu", root / "_source_models")  # cached before any timing
    return {"root": root, "ft": ft, "lp": lp, "domain": domain, "steps": steps,
            "weights": root / "_source_models" / ft.source_key() / "model.safetensors"}


def harness_cell(s: dict) -> dict:
    return run_cell(s["ft"], s["root"], memo={})


def bare_cell(s: dict) -> float:
    d = s["domain"]
    model = create_model(s["ft"].backbone, num_classes=d.num_classes, in_chans=d.input_shape[0])
    load_model(model, str(s["weights"]))

    @torch.no_grad()
    def acc(split):
        model.eval()
        right = sum((model(split.x[i:i + 256]).argmax(-1) == split.y[i:i + 256]).sum().item()
                    for i in range(0, len(split.y), 256))
        return right / len(split.y)

    acc(d.test), acc(d.test)  # source-test and target-test before (same domain here)
    opt = torch.optim.Adam(model.parameters(), lr=s["ft"].adapt.lr)
    gen = torch.Generator().manual_seed(0)
    model.train()
    x, y = d.train.x, d.train.y
    for _ in range(s["steps"]):
        idx = torch.randint(len(y), (BATCH,), generator=gen)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return acc(d.test) + acc(d.test)
