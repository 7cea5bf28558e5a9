"""``scripts/gpu-check --tiny --device cpu``: the device check's every step, with tiny models and
images, on the CPU (minutes, so a benchmark rather than a test). Its ratios mean nothing for a GPU;
what it shows is that the script runs end to end and writes its rows and summary (timm's
benchmark.py is not in the timm wheel, so its column is absent here unless --timm-benchmark is given)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.benchmark(group="e: gpu-check script, tiny, CPU")
def test_gpu_check_tiny_on_cpu(benchmark, tmp_path):
    out = tmp_path / "gpu-check"

    def run():
        done = subprocess.run([sys.executable, str(REPO / "scripts" / "gpu_check.py"), str(out), "--tiny",
                               "--device", "cpu"], capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    benchmark.pedantic(run, rounds=1, iterations=1)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tiny"]
    # every step ran: the anchor (timm's script is absent here: its column says so), memory, 1/2/4 per GPU
    assert {r["batch"] for r in summary["anchor"]} == {8, 16}
    assert all("samples_per_s" in r["bare"] and "samples_per_s" in r["harness"] for r in summary["anchor"])
    assert set(summary["vit_bf16_peak_mem_allocated_bytes"]) == {"full_finetune", "lora", "qlora"}
    assert set(summary["multi_span_s"]) == {"k1", "k2", "k4"}
    assert (out / "summary.md").exists()
