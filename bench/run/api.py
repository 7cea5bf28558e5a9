"""The harness from Python (notebooks, scripts): run a suite, get its rows as a DataFrame.

    from bench.run.api import run
    df = run("suites/moons.yaml", results="results/moons", overrides=["seeds=[0]"])
    df = run({"name": "mine", "backbones": ["mlp"], "strategies": ["source_only", "dann"],
              "pairs": ["moons -> moons-rot/30"], "label_budgets": [0]})

It is ``bench run`` without the command line: the same validation (a dict is checked by the same
:class:`~bench.plan.suite.Suite` model as a file, overrides as ``-o`` gives them), the same results
directory, resumable in the same way (cells already there are not rerun), and errors as exceptions
(:class:`~bench.errors.SuiteError`, ``ResultsError``, ...) instead of exit codes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from pydantic import ValidationError

from bench.errors import SuiteError
from bench.plan.cells import expand
from bench.plan.overrides import apply_overrides
from bench.plan.suite import Suite, SuiteLoader, load_suite
from bench.results import read_results


def suite_from(suite: dict[str, Any] | str | Path | Suite, overrides: Sequence[str] = (),
               allow_remote_code: bool = False) -> Suite:
    """A validated :class:`Suite` from a mapping (as a suite file holds), a suite file or a Suite,
    with ``overrides`` (``PATH=VALUE``, :mod:`bench.plan.overrides`) set first."""
    if isinstance(suite, (str, Path)):
        return load_suite(suite, allow_remote_code=allow_remote_code, overrides=overrides)
    raw = suite.model_dump(mode="json", exclude_unset=True) if isinstance(suite, Suite) else dict(suite)
    raw.setdefault("name", "suite")
    try:
        return Suite.model_validate(apply_overrides(raw, overrides, Suite, SuiteLoader))
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or '(top level)'}: {err['msg']}"
                             for err in e.errors())
        raise SuiteError(f"suite {raw['name']!r} does not validate: {problems}") from None


def run(suite: dict[str, Any] | str | Path | Suite, results: str | Path | None = None, *,
        overrides: Sequence[str] = (), device: str = "auto", fresh: bool = False,
        executor: str = "inline", show_progress: bool = False, allow_remote_code: bool = False,
        **run_options: Any) -> Any:
    """Run ``suite``'s pending cells into ``results`` (default ``results/<suite name>``) and return
    the rows of all its cells (those run now and those already there) as a pandas DataFrame, one row
    per cell in the suite's order, with the results columns (``docs/`` and ``bench.results.SCHEMA``).

    ``executor``: ``inline`` (default: in this process, so a notebook's debugger works) or
    ``process`` (a worker process: a hard crash costs one cell, not the kernel). ``run_options`` go
    to :func:`bench.run.runner.run_suite` (``shard``, ``retry_failed``, ``oom_backoff``, ...).
    Rows of other cells in the same directory (an earlier run with other seeds) are left out."""
    from bench.run.runner import run_suite  # torch: only when something runs

    spec = suite_from(suite, overrides, allow_remote_code)
    if allow_remote_code:
        import os

        from bench.backbones.base import REMOTE_CODE_ENV

        os.environ[REMOTE_CODE_ENV] = "1"  # the workers build the backbones
    results = Path(results) if results is not None else Path("results") / spec.name
    run_suite(spec, results, device=device, fresh=fresh, show_progress=show_progress,
              executor=executor, overrides=tuple(overrides), **run_options)
    order = {c.key(): i for i, c in enumerate(expand(spec))}
    df = read_results(results)
    df = df[df["cell_key"].isin(order)]
    return df.sort_values("cell_key", key=lambda keys: keys.map(order)).reset_index(drop=True)
