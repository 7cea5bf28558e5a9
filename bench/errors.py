"""The harness's errors, in one import-light module.

Each :class:`BenchError` is something the user can fix (a suite, a results directory, data, a name,
the machine); the ``bench`` command prints its message on one line and exits with code 2.
:class:`NotApplicable` is no error of the user's: it is a cell's outcome (``skipped``). Their home
modules re-export them; this module imports nothing, so any layer can raise or catch them without
importing torch or reaching up into the strategies.
"""
from __future__ import annotations


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


class NotApplicable(Exception):
    """The strategy cannot apply to this cell (a supervised strategy at label budget 0, QLoRA on a
    CNN without linear layers, ...): the cell is recorded as ``skipped`` with this reason, not as
    ``failed``, so a nightly grid over every strategy and backbone stays clean."""
