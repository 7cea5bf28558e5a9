"""The ``ray`` executor: each cell is a Ray task asking for the suite's ``resources`` (CPUs, GPUs).

``bench run SUITE --executor ray`` starts a local Ray; ``--address HOST:PORT`` (or ``auto``) joins
a running cluster, whose nodes must have transfer-bench installed and see the results directory on
a shared filesystem. Tasks write their rows with the same atomic writer and claim cells with the
same flock as every other executor; the source-model cache's lock makes one task train a shared
source model while the others wait and load it. A task whose worker dies (segfault, Ray's memory
monitor) becomes a ``failed`` / ``oom`` row written by the driver; tasks are never retried by Ray
(``--retry-failed`` is the way to rerun them). ``pip install .[ray]``.
"""
from __future__ import annotations

import os
from pathlib import Path

from bench.run.executors.base import Events, RunContext, execute_cell, load_plugins, write_crash_row
from bench.errors import BenchError
from bench.results import ResultsError
from bench.plan.cells import Cell

_MEMO: dict = {}  # per Ray worker process, kept between the tasks it runs (features, domains)


def _ray_cell(cell_json: str, rc: RunContext) -> dict | None:
    import torch

    load_plugins(rc.plugins)
    torch.set_num_threads(rc.threads or max(1, int(rc.cpus_per_cell)))
    return execute_cell(Cell.model_validate_json(cell_json), rc, memo=_MEMO)


def _runtime_env() -> dict:
    # Ray workers do not inherit the driver's sys.path: give them this checkout (harmless where it
    # is missing, e.g. on a cluster node with transfer-bench installed) and the offline settings
    root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    env = {"PYTHONPATH": path}
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "BENCH_CACHE", "BENCH_ALLOW_REMOTE_CODE"):
        if var in os.environ:
            env[var] = os.environ[var]
    return {"env_vars": env}


def run_cells(cells: list[Cell], rc: RunContext, events: Events, address: str | None = None,
              num_cpus: int | None = None) -> None:
    try:
        import ray
        from ray import exceptions as rex
    except ImportError:
        raise ResultsError("--executor ray needs Ray: pip install 'transfer-bench[ray]' "
                           "(or pip install 'ray[default]')") from None
    load_plugins(rc.plugins)
    started_here = not ray.is_initialized()
    if started_here:
        # "local": a new Ray of our own; with None, Ray would join whatever `ray start` left behind
        ray.init(address=address or "local", num_cpus=num_cpus if address is None else None,
                 include_dashboard=False, log_to_driver=False, runtime_env=_runtime_env())
    task = ray.remote(_ray_cell).options(num_cpus=rc.cpus_per_cell, num_gpus=rc.gpus_per_cell,
                                         max_retries=0)
    refs = {task.remote(cell.model_dump_json(), rc): cell for cell in cells}
    pending = list(refs)
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                cell = refs[ref]
                events.start(cell)
                try:
                    row = ray.get(ref)
                except rex.RayTaskError as e:  # an exception escaped the cell (e.g. the write)
                    if isinstance(e.cause, BenchError):  # a full disk, bad data: stop, as the
                        raise e.cause from None          # other executors do
                    row = write_crash_row(cell, rc, f"Ray task failed: {e}")
                except rex.OutOfMemoryError as e:  # Ray's memory monitor killed the worker
                    row = write_crash_row(cell, rc, f"out of memory: {e}", status="oom")
                except rex.RayError as e:  # the worker died: segfault, os._exit, SIGKILL
                    row = write_crash_row(cell, rc, f"Ray worker died: {type(e).__name__}: {e}")
                events.done(cell, row)
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started_here:
            ray.shutdown()
