"""``--executor ray`` against a real local Ray cluster, inside a network namespace with only loopback.

Ray binds to the machine's external address even when told 127.0.0.1 (FACTS.md), and tests may
only send traffic to loopback. So the outer test re-runs this file inside a fresh namespace
(``ip netns``, needs root), where Ray can only use 127.0.0.1; the inner tests skip anywhere else.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
INSIDE = os.environ.get("BENCH_RAY_NETNS") == "1"
inside_only = pytest.mark.skipif(not INSIDE, reason="runs only inside the loopback-only namespace "
                                 "(started by test_ray_tests_pass_inside_a_loopback_only_namespace)")


def _why_no_netns() -> str | None:
    try:
        import ray  # noqa: F401
    except ImportError:
        return "Ray is not installed (pip install '.[ray]')"
    if os.geteuid() != 0:
        return "ip netns needs root"
    if not shutil.which("ip"):
        return "the `ip` command (iproute2) is missing"
    return None


@pytest.mark.slow
@pytest.mark.skipif(INSIDE, reason="this is the outer launcher")
def test_ray_tests_pass_inside_a_loopback_only_namespace(tmp_path):
    why = _why_no_netns()
    if why:
        pytest.skip(f"cannot test Ray safely here: {why}")
    ns = f"bench-ray-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        env = {**os.environ, "BENCH_RAY_NETNS": "1", "RAY_AUTH_MODE": "disabled", "HF_HUB_OFFLINE": "1",
               "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(REPO)}
        out = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "pytest", "-q", "-x",
                              "-p", "no:cacheprovider", str(Path(__file__)), "-k", "not loopback_only"],
                             env=env, cwd=REPO, capture_output=True, text=True, timeout=540)
        print(out.stdout[-4000:], out.stderr[-2000:])
        assert out.returncode == 0, out.stdout[-4000:]
        assert " passed" in out.stdout and " skipped" not in out.stdout
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


@pytest.fixture
def ray_env(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    yield


@inside_only
def test_a_sweep_on_local_ray_workers_isolates_failures_and_shares_source_models(tmp_path, ray_env):
    import tests.failing_strategies  # noqa: F401
    from bench.results import read_results
    from bench.run.runner import run_suite
    from bench.plan.cells import expand
    from tests.sweep_helpers import make_suite

    suite = make_suite(strategies=["source_only", "full_finetune", "debug_raise", "debug_nan",
                                   {"name": "debug_crash", "how": "exit"}], seeds=[0, 1])
    summary = run_suite(suite, tmp_path / "res", executor="ray", show_progress=False,
                        plugins=("tests.failing_strategies",), executor_options={"num_cpus": 2})
    df = read_results(tmp_path / "res")
    assert sorted(df.cell_key) == sorted(c.key() for c in expand(suite))
    status = {(r.strategy, r.seed): r.status for r in df.itertuples()}
    for seed in (0, 1):
        assert status[("source_only", seed)] == status[("full_finetune", seed)] == "ok"
        assert status[("debug_raise", seed)] == "failed" and status[("debug_nan", seed)] == "diverged"
        assert status[("debug_crash", seed)] == "failed"
    crashed = df[df.strategy == "debug_crash"]
    assert crashed.error.str.contains("Ray worker died").all()
    assert summary.not_ok == 6
    # the source model of each seed was trained by exactly one task; the others loaded it
    ran = df[df.status != "failed"].copy()
    ran = ran[ran.strategy != "debug_crash"]
    trained = ran[~ran.source_cached.astype(bool)].groupby("seed").size()
    assert trained.to_dict() == {0: 1, 1: 1}


@inside_only
def test_cli_joins_a_started_ray_head_by_address(tmp_path, ray_env):
    from bench.results import read_results
    from tests.sweep_helpers import write_suite

    suite_file = write_suite(tmp_path / "s.yaml", strategies=["source_only", "full_finetune"])
    port = "6391"
    ray_cli = str(Path(sys.executable).parent / "ray")
    # --block keeps the head's processes children of this one process group, which the test ends
    # itself (never `ray stop`: it would end every Ray process on the machine, not only ours)
    head = subprocess.Popen([ray_cli, "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
                             "--include-dashboard=false", "--disable-usage-stats"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO,
                            start_new_session=True)
    try:
        out = subprocess.run([sys.executable, "-m", "bench", "run", str(suite_file), "--results",
                              str(tmp_path / "res"), "--executor", "ray", "--address", f"127.0.0.1:{port}",
                              "--no-progress"], capture_output=True, text=True, cwd=REPO, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        df = read_results(tmp_path / "res")
        assert len(df) == 2 and set(df.status) == {"ok"}
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(head.pid, sig)
                head.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        # `ray start` records its address for later ray.init() calls on this machine: ours is gone
        marker = Path("/tmp/ray/ray_current_cluster")
        if marker.exists() and marker.read_text().strip() == f"127.0.0.1:{port}":
            marker.unlink()
