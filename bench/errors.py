"""The harness's errors, in one import-light module.

Each :class:`BenchError` is something the user can fix (a suite, a results directory, data, a name,
the machine); the ``bench`` command prints its message on one line and exits with code 2.
:class:`NotApplicable` is no error of the user's: it is a cell's outcome (``skipped``). Their home
modules re-export them; this module imports nothing but the standard library, so any layer can
raise or catch them without importing torch or reaching up into the strategies. A
:class:`ResultsWarning` is a damaged file a reader skipped; the command prints it as one line.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Callable, Iterator


class BenchError(Exception):
    """An error of the input or the environment, not of a cell: exit code 2, no traceback."""


class SuiteError(BenchError, ValueError):
    """A suite that cannot be read or does not validate; the message says what was expected."""


class ResultsError(BenchError, RuntimeError):
    """A results directory that cannot be used as asked (unreadable, full disk, another suite's)."""


class DataError(BenchError, ValueError):
    """Data that is missing, laid out wrongly or corrupt; the message names the expected layout and
    where to get the data."""


class CacheError(BenchError, RuntimeError):
    """The data cache (``$BENCH_CACHE``) cannot be used: not a directory, not writable, or full."""


class UnknownNameError(BenchError, LookupError):
    """A name that no registry entry serves; the message lists close matches and what exists."""


class DeviceError(BenchError, RuntimeError):
    """A --device that is not a device name, or one this machine does not have."""


class ExportError(BenchError, RuntimeError):
    """An export to an experiment tracker that cannot be done: its package is missing, the store
    cannot be written, the results hold nothing to export."""


class NotApplicable(Exception):
    """The strategy cannot apply to this cell (a supervised strategy at label budget 0, QLoRA on a
    CNN without linear layers, ...): the cell is recorded as ``skipped`` with this reason, not as
    ``failed``, so a nightly grid over every strategy and backbone stays clean."""


class ResultsWarning(UserWarning):
    """A file in a results directory that a reader skipped (damaged, foreign, incomplete): the
    ``bench`` command prints it as one ``warning:`` line; the other files are read as usual."""


@contextmanager
def results_warnings_to(echo: Callable[[str], None]) -> Iterator[None]:
    """Within: each :class:`ResultsWarning` goes to ``echo`` as one line, other warnings as usual."""
    with warnings.catch_warnings():
        show = warnings.showwarning
        warnings.showwarning = lambda message, category, *a, **k: (
            echo(f"warning: {message}") if issubclass(category, ResultsWarning) else show(message, category, *a, **k))
        yield
