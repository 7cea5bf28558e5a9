"""Harness overhead in instructions executed, a figure that a loaded machine cannot blur.

The harness cell and the bare loop of ``overhead_cells.py`` (small_cnn on digits, full fine-tuning,
batch 64, one thread) each run in a fresh interpreter under ``valgrind --tool=callgrind``, at N and
at 2N adaptation steps. Everything but the steps (imports, data, model load, the four evaluations,
writing the row) is the same at N and 2N, so ``(I(2N) - I(N)) / N`` is the instructions of one
training step, startup cancelled; the startup (``I(N)`` minus N steps) is printed beside it. The
figure is bare / harness instructions per step: 1.0 is a harness that costs nothing per step.

Instruction counts are not time (a cache miss costs more than an add), but the two sides run the
same kernels on the same tensors, so what differs is the harness's own Python per step, where
instructions and time go together. Counts repeat to a few parts in 10^4 on a loaded machine.

    python benchmarks/overhead_instructions.py [--steps 20] [--out results/overhead-instructions.json]

Under callgrind a step runs ~50x slower: N=20 takes about 4 runs x a few minutes. Both sides run
with oneDNN off (ATen's own convolution), see ``child``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIDES = ("bare", "harness")


def callgrind_total(out_file: Path) -> int:
    """The total instructions (``Ir``) of a callgrind output file."""
    text = out_file.read_text(errors="replace")
    m = re.search(r"^(?:totals|summary):\s+(\d+)", text, re.M)
    if m is None:
        raise RuntimeError(f"no totals line in {out_file}")
    return int(m.group(1))


def child_env() -> dict:
    # one thread (no OpenMP pool spinning), fixed hashing (dict and set orders, so the same
    # Python runs), the same instruction set on every run of the kernels
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "PYTHONHASHSEED": "0", "PYTHONPATH": str(HERE.parent)}
    env.setdefault("ATEN_CPU_CAPABILITY", "avx2")
    return env


def count(side: str, steps: int, root: Path, valgrind: str) -> int:
    out = root / f"callgrind.{side}.{steps}.out"
    cmd = [valgrind, "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-line=no",
           sys.executable, str(Path(__file__).resolve()), "--child", side, "--steps", str(steps),
           "--root", str(root)]
    done = subprocess.run(cmd, env=child_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{side} at {steps} steps failed under callgrind:\n{done.stderr[-3000:]}")
    return callgrind_total(out)


def measure(steps: int, valgrind: str) -> dict:
    root = Path(tempfile.mkdtemp(prefix="bench-overhead-instr-"))
    try:
        # the source model, trained once outside callgrind (the cells load it from the cache)
        subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", "prepare",
                        "--steps", str(steps), "--root", str(root)], env=child_env(), check=True)
        totals = {(side, n): count(side, n, root, valgrind) for n in (steps, 2 * steps) for side in SIDES}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result: dict = {"steps": [steps, 2 * steps], "totals": {f"{s}@{n}": v for (s, n), v in totals.items()}}
    for side in SIDES:
        per_step = (totals[(side, 2 * steps)] - totals[(side, steps)]) / steps
        result[f"{side}_per_step"] = per_step
        result[f"{side}_startup"] = totals[(side, steps)] - steps * per_step
    result["bare_over_harness"] = result["bare_per_step"] / result["harness_per_step"]
    return result


def report(r: dict) -> str:
    n, n2 = r["steps"]
    return (f"[a'] instructions per training step ({n2}-{n} steps under callgrind, startup cancelled): "
            f"bare loop {r['bare_per_step'] / 1e6:.2f} M, harness {r['harness_per_step'] / 1e6:.2f} M; "
            f"bare/harness = {r['bare_over_harness']:.4f} (startup: bare {r['bare_startup'] / 1e9:.2f} G, "
            f"harness {r['harness_startup'] / 1e9:.2f} G)")


def child(side: str, steps: int, root: Path) -> None:
    import torch

    torch.set_num_threads(1)
    # oneDNN writes its convolution kernels at run time (JIT): valgrind re-checks such code on every
    # execution, which made one 20-step cell take over 15 minutes. ATen's own convolution (im2col
    # and BLAS, compiled code) runs the same on both sides and keeps a measurement to minutes.
    torch.backends.mkldnn.enabled = False
    from overhead_cells import bare_cell, harness_cell, prepare

    s = prepare(root, steps)
    if side == "harness":
        row = harness_cell(s)
        assert row["status"] == "ok" and row["source_cached"] and row["steps"] == steps, row.get("error")
    elif side == "bare":
        bare_cell(s)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=20, help="N: runs at N and 2N adaptation steps")
    ap.add_argument("--out", type=Path, help="also write the counts and ratio as JSON here")
    ap.add_argument("--child", choices=("prepare", *SIDES), help=argparse.SUPPRESS)
    ap.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child, a.steps, a.root)
        return
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        sys.exit("overhead_instructions: valgrind is not installed (apt-get install valgrind)")
    r = measure(a.steps, valgrind)
    print(report(r))
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(r, indent=1))


if __name__ == "__main__":
    main()
