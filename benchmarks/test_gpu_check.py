"""``scripts/gpu-check --tiny --device cpu``: the device check's every step, with tiny models and
images, on the CPU (minutes, so a benchmark rather than a test). Its ratios mean nothing for a GPU;
what it shows is that the script runs end to end and writes rows, report and summary."""
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
    assert summary["tiny"] and summary["cells"].get("ok", 0) >= 20
    assert set(summary["harness_over_bare"]) == {"fp32", "bf16"}
    assert (out / "report" / "index.html").exists() and (out / "summary.md").exists()
