"""Wall time of the light commands: median of N fresh processes each (python's clock, no hyperfine).

    .venv/bin/python scripts/time_cli.py [N]     # alone on the machine: the numbers are wall times

Runs ``python -m bench`` with ``--help``, ``list`` and ``run suites/default.yaml --dry-run`` from the
repository root (the working tree's bench/, via PYTHONPATH) and prints each median and the runs.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMMANDS = {"bench --help": ["--help"], "bench list": ["list"],
            "bench run suites/default.yaml --dry-run": ["run", "suites/default.yaml", "--dry-run"]}


def main(n: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for label, args in COMMANDS.items():
        runs = []
        for _ in range(n):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "bench", *args], cwd=REPO, env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            runs.append(time.perf_counter() - start)
        print(f"{label}: median {statistics.median(runs):.2f} s of {n} ({', '.join(f'{r:.2f}' for r in runs)})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
