"""Cost measurement (peak memory per stage) and provenance (what ran, where, with what)."""
from __future__ import annotations

import functools
import json
import os
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path

import torch

from bench.errors import DeviceError

#: packages whose versions go into every row (read from metadata: importing them is slow)
TRACKED_PACKAGES = ("torch", "torchvision", "timm", "transformers", "peft", "bitsandbytes",
                    "numpy", "pyarrow", "transfer-bench")


class PeakMemory:
    """Peak memory over a stage.

    CUDA: ``torch.cuda.max_memory_allocated`` / ``max_memory_reserved`` after a reset at the start.
    CPU: the process's peak resident set (VmHWM), reset at the start through
    ``/proc/self/clear_refs`` so that each stage is measured on its own, not the process's lifetime.
    ``baseline_bytes`` is the resident memory when the stage began (interpreter, libraries, data),
    so a reader can subtract what the stage itself did not cause.
    """

    def __init__(self, device: str):
        self.cuda = str(device).startswith("cuda")
        self.kind = "cuda" if self.cuda else "cpu_rss"
        self.allocated = self.reserved = self.baseline_bytes = 0

    def __enter__(self) -> "PeakMemory":
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.baseline_bytes = torch.cuda.memory_allocated()
        else:
            _reset_cpu_peak()
            self.baseline_bytes = _proc_status_bytes("VmRSS")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            self.allocated = torch.cuda.max_memory_allocated()
            self.reserved = torch.cuda.max_memory_reserved()
        else:
            peak = _proc_status_bytes("VmHWM") or _ru_maxrss_bytes()
            self.allocated = self.reserved = peak


def _reset_cpu_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # "5" resets the peak RSS (Linux >= 4.0)
    except OSError:
        pass  # not Linux: VmHWM is then the process's lifetime peak


def _proc_status_bytes(field: str) -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _ru_maxrss_bytes() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


DEVICE_FORMS = "cpu, cuda, cuda:<index>, mps or auto"


def resolve_device(device: str) -> str:
    """``auto`` -> cuda when available, else cpu; any other name is checked against this machine."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise DeviceError(f"--device {device!r} is not a device; use one of {DEVICE_FORMS}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {device!r} was asked for but torch sees no CUDA device on this "
                              "machine; use --device cpu (or auto)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"--device {device!r}: this machine has {torch.cuda.device_count()} CUDA "
                              f"device(s), numbered from 0")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceError(f"--device {device!r}: torch sees no Apple MPS device; use --device cpu")
    elif dev.type != "cpu":
        raise DeviceError(f"--device {device!r} is not supported; use one of {DEVICE_FORMS}")
    return device


def device_name(device: str) -> str:
    if str(device).startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"cpu: {line.split(':', 1)[1].strip()} x{torch.get_num_threads()} threads"
    except OSError:
        pass
    return f"cpu: {platform.processor() or platform.machine()} x{torch.get_num_threads()} threads"


@functools.lru_cache(maxsize=1)
def git_sha() -> str:
    repo = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
        sha = out.stdout.strip()
        if out.returncode == 0 and sha:
            dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--", "bench"],
                                   capture_output=True, text=True, timeout=5).stdout.strip()
            return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        pass
    return "unknown"


@functools.lru_cache(maxsize=1)
def package_versions() -> str:
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    versions["python"] = platform.python_version()
    return json.dumps(versions, sort_keys=True)


def host() -> str:
    return os.environ.get("BENCH_HOST") or socket.gethostname()
