"""The ``process`` executor (default): cells run in a long-lived worker process.

The worker is started once (``spawn``: a clean interpreter, no forked torch threads) and keeps its
per-process caches (domains, linear-probe features) from cell to cell. If it dies without answering
(segfault, ``os._exit``, a SIGKILL such as the kernel's OOM killer), the runner writes the cell's
row itself (status ``failed``, how the worker died) and starts a fresh worker for the next cell.

The worker asks the kernel to kill it when the runner dies (``PR_SET_PDEATHSIG``), so a kill -9 of
the runner leaves no orphan still training and racing the next run.

``--gpus 0,1,2,3 --cells-per-gpu K`` runs one such worker per (GPU, slot), each started with
``CUDA_VISIBLE_DEVICES`` set to its GPU, so small models fill a large GPU and a node's GPUs all
work without Ray (Ray's fractional ``gpus:`` per cell stays the multi-node path). ``--workers N``
runs N unpinned workers: the cores of a CPU machine (with ``threads: 1`` in the suite).
"""
from __future__ import annotations

import ctypes
import dataclasses
import multiprocessing as mp
import os
import signal
import threading
import time
from typing import Any, Callable, Iterator

from bench.run.executors.base import Events, RunContext, execute_cell, load_plugins, write_crash_row
from bench import errors
from bench.errors import BenchError
from bench.plan.cells import Cell
from bench.plan.sharding import runs_source_stage

PROGRESS_EVERY_S = 0.1  # progress messages are thinned: a fast CPU step costs less than a send


class WorkerDied(RuntimeError):
    pass


def describe_exit(code: int | None) -> str:
    if code is None:
        return "worker process vanished"
    if code < 0:
        name = signal.Signals(-code).name
        hint = " (possibly the kernel's out-of-memory killer)" if -code == signal.SIGKILL else ""
        return f"worker process was killed by {name}{hint}"
    return f"worker process exited with code {code} without writing a result"


def _die_with_parent(parent_pid: int) -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: the getppid check below still catches a parent that died before us
    if os.getppid() != parent_pid:
        os._exit(1)


def _worker_main(conn: Any, rc: RunContext, parent_pid: int) -> None:
    _die_with_parent(parent_pid)
    # Ctrl-C reaches the whole process group: the runner handles it (one line, exit 130) and stops
    # this worker; the worker itself must not die with a traceback of its own
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    if rc.threads:
        torch.set_num_threads(rc.threads)
    load_plugins(rc.plugins)
    memo: dict = {}
    last = [0.0]

    def progress(stage: str, step: int, total: int) -> None:
        now = time.monotonic()
        if step == total or now - last[0] >= PROGRESS_EVERY_S:
            last[0] = now
            conn.send(("progress", stage, step, total))

    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        try:
            row = execute_cell(Cell.model_validate_json(msg), rc, progress=progress, memo=memo)
        except BenchError as e:  # a full disk, an unusable cache, bad data: the run stops, no retry
            conn.send(("fatal", type(e).__name__, str(e)))
            return
        conn.send(("done", row))


class Worker:
    def __init__(self, rc: RunContext, gpu: str | None = None):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, rc, os.getpid()), daemon=True,
                                name="bench-worker" + (f"-gpu{gpu}" if gpu is not None else ""))
        with _ENV_LOCK:  # a spawned child copies os.environ as it starts: pin it to its GPU
            old = os.environ.get("CUDA_VISIBLE_DEVICES")
            if gpu is not None:
                os.environ["CUDA_VISIBLE_DEVICES"] = gpu
            try:
                self.proc.start()
            finally:
                if gpu is not None:
                    _restore_env("CUDA_VISIBLE_DEVICES", old)
        child.close()

    def run(self, cell: Cell, events: Events) -> dict | None:
        self.conn.send(cell.model_dump_json())
        while True:
            if self.conn.poll(0.2):
                try:
                    kind, *payload = self.conn.recv()
                except (EOFError, ConnectionError):
                    self.proc.join(5)
                    raise WorkerDied(describe_exit(self.proc.exitcode)) from None
                if kind == "progress":
                    events.step(*payload)
                elif kind == "fatal":  # the same error, raised here (its class by name)
                    cls = getattr(errors, payload[0], BenchError)
                    raise (cls if isinstance(cls, type) and issubclass(cls, BenchError) else BenchError)(payload[1])
                else:
                    return payload[0]
            elif not self.proc.is_alive() and not self.conn.poll(0):
                raise WorkerDied(describe_exit(self.proc.exitcode))

    def close(self) -> None:
        if self.proc.is_alive():
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


_ENV_LOCK = threading.Lock()


def gpu_slots(gpus: list[str], cells_per_gpu: int = 1) -> list[str]:
    """The GPU each worker is pinned to: ``cells_per_gpu`` workers per GPU, listed round-robin
    (``0,1,0,1``) so that a run with fewer cells than workers still spreads over the GPUs."""
    if cells_per_gpu < 1:
        raise ValueError(f"--cells-per-gpu must be at least 1, got {cells_per_gpu}")
    if not gpus or any(not g.strip() for g in gpus):
        raise ValueError(f"--gpus takes device ids separated by commas (e.g. 0,1,2,3), got {gpus!r}")
    return [g.strip() for _ in range(cells_per_gpu) for g in gpus]


def run_cells(cells: list[Cell], rc: RunContext, events: Events, gpus: list[str] | None = None,
              cells_per_gpu: int = 1, workers: int = 1) -> None:
    """One worker (cells one after another); with ``gpus``, one worker per (GPU, slot), each
    pinned to its GPU with ``CUDA_VISIBLE_DEVICES`` and taking the next pending cell when free;
    with ``workers`` > 1 and no ``gpus``, that many unpinned workers (a CPU machine's cores).
    Claims, source-model locks and crash rows work per cell as with one worker. Several workers
    call ``events.start``, ``events.step`` and ``events.done`` with ``worker=i`` (their own
    progress bar)."""
    load_plugins(rc.plugins)
    if not gpus and workers <= 1:
        _serve(iter(cells), rc, events, None)
        return
    slots: list[str | None] = list(gpu_slots(gpus, cells_per_gpu)) if gpus else [None] * workers
    if gpus and rc.device.startswith("cuda"):  # inside a pinned worker its GPU is the only one
        rc = dataclasses.replace(rc, device="cuda")
    todo, lock, errors = CellQueue(cells), threading.Lock(), []

    def serve(i: int, gpu: str | None) -> None:
        def done(cell: Cell, row: dict | None) -> None:
            todo.finished(cell, i)
            events.done(cell, row, worker=i)

        mine = Events(start=_locked(lock, lambda cell: events.start(cell, worker=i)),
                      step=_locked(lock, lambda *a: events.step(*a, worker=i)),
                      done=_locked(lock, done), extra=events.extra)
        try:
            _serve(todo.drain(i, errors), rc, mine, gpu)
        except BaseException as e:  # noqa: BLE001 - e.g. a full disk: stop every worker, re-raise
            errors.append(e)

    threads = [threading.Thread(target=serve, args=(i, g), name=f"bench-worker{i}-gpu{g}", daemon=True)
               for i, g in enumerate(slots[: max(1, len(cells))])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


class CellQueue:
    """The pending cells of a run with several workers, in order, except that a worker does not
    take a cell whose source model another worker is training right now (it took that model's
    first cell and has not finished it) while some other cell can go: the cells of one source
    model come in a row, and two workers taking them in turn would leave one waiting on the
    source model's lock for the whole source stage. Which worker runs a cell changes nothing in
    its row (the source model depends on the source key alone)."""

    def __init__(self, cells: list[Cell]):
        self.pending = list(cells)
        self.lock = threading.Lock()
        self.training: dict[str, int] = {}  # source key -> the worker training it now
        self.seen: set[str] = set()  # source keys whose first source-stage cell was handed out

    def take(self, worker: int) -> Cell | None:
        with self.lock:
            if not self.pending:
                return None
            busy = {k for k, w in self.training.items() if w != worker}
            i = next((i for i, c in enumerate(self.pending) if c.source_key() not in busy), 0)
            cell = self.pending.pop(i)
            if runs_source_stage(cell) and cell.source_key() not in self.seen:
                self.seen.add(cell.source_key())
                self.training[cell.source_key()] = worker
            return cell

    def finished(self, cell: Cell, worker: int) -> None:
        with self.lock:
            if self.training.get(cell.source_key()) == worker:
                del self.training[cell.source_key()]

    def drain(self, worker: int, errors: list) -> Iterator[Cell]:
        while not errors and (cell := self.take(worker)) is not None:
            yield cell


def _locked(lock: threading.Lock, fn: Callable) -> Callable:
    def call(*args: Any) -> Any:
        with lock:
            return fn(*args)
    return call


def _serve(cells: Iterator[Cell], rc: RunContext, events: Events, gpu: str | None) -> None:
    worker: Worker | None = None
    try:
        for cell in cells:
            events.start(cell)
            worker = worker or Worker(rc, gpu)
            try:
                row = worker.run(cell, events)
            except WorkerDied as e:
                worker.close()
                worker = None
                row = write_crash_row(cell, rc, f"{e} while running this cell")
            events.done(cell, row)
    finally:
        if worker is not None:
            worker.close()
