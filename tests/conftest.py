import os
import sys
from pathlib import Path

import pytest

# Nothing in the tests may wait on a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def bench_cache(tmp_path_factory):
    """One data cache per test session: generated domains are built once, never in ~/.cache."""
    path = tmp_path_factory.mktemp("bench-cache")
    old = os.environ.get("BENCH_CACHE")
    os.environ["BENCH_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("BENCH_CACHE", None)
    else:
        os.environ["BENCH_CACHE"] = old


def bench_cli(*args: str, cwd: Path = REPO):
    """Run the real ``bench`` command line in a subprocess (as a user would)."""
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
