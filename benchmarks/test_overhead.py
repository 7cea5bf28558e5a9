"""(a) one cell through the harness vs a bare PyTorch loop doing the same work on the same tensors
(both in ``overhead_cells.py``, which says what "the same work" is);
(b) ``linear_probe`` with features cached once vs recomputing the backbone on every batch.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_model

from bench.backbones import create_model
from bench.cell.run_cell import run_cell
from bench.strategies.linear_probe import extract_features
from overhead_cells import BATCH, STEPS, bare_cell, prepare


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return prepare(tmp_path_factory.mktemp("overhead"))


@pytest.mark.benchmark(group="a: one cell, harness vs bare loop")
def test_cell_bare_pytorch_loop(benchmark, setup):
    benchmark.pedantic(bare_cell, args=(setup,), rounds=5, warmup_rounds=1)


@pytest.mark.benchmark(group="a: one cell, harness vs bare loop")
def test_cell_through_the_harness(benchmark, setup):
    row = benchmark.pedantic(run_cell, args=(setup["ft"], setup["root"]), kwargs={"memo": {}}, rounds=5,
                             warmup_rounds=1)
    assert row["status"] == "ok" and row["source_cached"] and row["steps"] == STEPS


def probe(s, cached: bool) -> None:
    """Train a new head on frozen-backbone features for STEPS batches (what linear_probe does)."""
    d = s["domain"]
    model = create_model(s["lp"].backbone, num_classes=d.num_classes, in_chans=d.input_shape[0])
    load_model(model, str(s["weights"]))
    model.eval()
    head = torch.nn.Linear(model.head.in_features, d.num_classes)
    opt = torch.optim.Adam(head.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    feats = extract_features(model, d.train.x, "cpu") if cached else None
    for _ in range(STEPS):
        idx = torch.randint(len(d.train.y), (BATCH,), generator=gen)
        if cached:
            f = feats[idx]
        else:
            with torch.no_grad():
                f = model.features(d.train.x[idx])
        loss = F.cross_entropy(head(f), d.train.y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


@pytest.mark.benchmark(group="b: linear_probe features")
def test_linear_probe_features_cached_once(benchmark, setup):
    benchmark.pedantic(probe, args=(setup, True), rounds=5, warmup_rounds=1)


@pytest.mark.benchmark(group="b: linear_probe features")
def test_linear_probe_backbone_recomputed_every_batch(benchmark, setup):
    benchmark.pedantic(probe, args=(setup, False), rounds=5, warmup_rounds=1)


@pytest.mark.benchmark(group="b: linear_probe features")
def test_linear_probe_strategy_through_the_harness(benchmark, setup):
    """The shipped strategy (features cached in the run memo), as a whole cell, for reference."""
    memo: dict = {}
    row = benchmark.pedantic(run_cell, args=(setup["lp"], setup["root"]), kwargs={"memo": memo}, rounds=5,
                             warmup_rounds=1)
    assert row["status"] == "ok"


@pytest.mark.benchmark(group="a: one cell, harness vs bare loop")
def test_cell_overhead_interleaved(benchmark, setup):
    """Harness and bare loop alternate (ABAB...), so a load change on a shared machine hits both:
    the overhead is the ratio of their medians (in extra_info and printed)."""
    import statistics
    import time

    times: dict[str, list[float]] = {"harness": [], "bare": []}

    def pair() -> None:
        for name, fn in (("harness", lambda: run_cell(setup["ft"], setup["root"], memo={})),
                         ("bare", lambda: bare_cell(setup))):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)

    benchmark.pedantic(pair, rounds=5, warmup_rounds=1)
    h, b = (statistics.median(times[k][1:]) for k in ("harness", "bare"))  # [0]: the warm-up round
    benchmark.extra_info.update(harness_median_s=h, bare_median_s=b, overhead_pct=100 * (h / b - 1))
    from conftest import NOTES

    NOTES.append(f"[a] one cell: harness {h:.3f} s, bare loop {b:.3f} s, overhead {100 * (h / b - 1):+.1f}% "
                 "(medians of 5 interleaved rounds)")


@pytest.mark.benchmark(group="d: precision on CPU")
def test_cell_bf16_autocast_on_cpu(benchmark, setup):
    """The same cell at bf16 (autocast on CPU): it runs, the row records it, and the note gives its
    train throughput beside fp32's (CPUs without bf16 units emulate it: slower is expected)."""
    from conftest import NOTES

    fp32 = run_cell(setup["ft"], setup["root"], memo={})
    bf16 = setup["ft"].model_copy(update={"precision": "bf16"})
    row = benchmark.pedantic(run_cell, args=(bf16, setup["root"]), kwargs={"memo": {}}, rounds=3,
                             warmup_rounds=1)
    assert row["status"] == "ok" and row["precision"] == "bf16" and fp32["precision"] == "fp32"
    ratio = row["train_samples_per_s"] / fp32["train_samples_per_s"]
    benchmark.extra_info.update(bf16_samples_per_s=row["train_samples_per_s"],
                                fp32_samples_per_s=fp32["train_samples_per_s"], bf16_over_fp32=ratio)
    NOTES.append(f"[d] bf16 autocast on CPU: train {row['train_samples_per_s']:.0f} samples/s vs fp32 "
                 f"{fp32['train_samples_per_s']:.0f} ({ratio:.2f}x); target acc {row['target_acc']:.1f} vs "
                 f"{fp32['target_acc']:.1f}")
