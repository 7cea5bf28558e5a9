"""The ``process`` executor (default): cells run in a long-lived worker process.

The worker is started once (``spawn``: a clean interpreter, no forked torch threads) and keeps its
per-process caches (domains, linear-probe features) from cell to cell. If it dies without answering
(segfault, ``os._exit``, a SIGKILL such as the kernel's OOM killer), the runner writes the cell's
row itself (status ``failed``, how the worker died) and starts a fresh worker for the next cell.

The worker asks the kernel to kill it when the runner dies (``PR_SET_PDEATHSIG``), so a kill -9 of
the runner leaves no orphan still training and racing the next run.
"""
from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import time
from typing import Any

from bench.executors.base import Events, RunContext, execute_cell, load_plugins, write_crash_row
from bench.results import ResultsError
from bench.suite import Cell

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
        except ResultsError as e:  # the results dir failed (disk full): the run must stop, not retry
            conn.send(("fatal", str(e)))
            return
        conn.send(("done", row))


class Worker:
    def __init__(self, rc: RunContext):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, rc, os.getpid()), daemon=True,
                                name="bench-worker")
        self.proc.start()
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
                elif kind == "fatal":
                    raise ResultsError(payload[0])
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


def run_cells(cells: list[Cell], rc: RunContext, events: Events) -> None:
    load_plugins(rc.plugins)
    worker: Worker | None = None
    try:
        for cell in cells:
            events.start(cell)
            worker = worker or Worker(rc)
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
