"""MLflow: an experiment per suite, a parent run per suite run, a nested child run per cell.

Written with ``MlflowClient`` to any tracking URI (default: MLflow's own, ``$MLFLOW_TRACKING_URI`` or
``sqlite:///mlflow.db``): params, tags and final metrics in batches, the checkpoint curves as metric
histories by step, the suite's spec as ``suite.json`` and the report folder as ``report/``
artifacts of the parent. Runs are found again by their tags ``bench.run_id`` / ``bench.cell_key``:
a cell already exported is left alone, so exporting twice adds nothing.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterator

from bench.analysis.export import Exported
from bench.analysis.export.runs import CELL_TAG, CHILD, KIND_TAG, RUN_TAG, CellRun, SuiteRun
from bench.errors import ExportError

#: MLflow's batch limits (log_batch: 1,000 entries, of them at most 100 params and 100 tags)
BATCH = 100


def export(runs: list[SuiteRun], to: str | None, experiment: str | None, report: Path | None) -> Exported:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        client = MlflowClient(tracking_uri=to)
        done = Exported("mlflow", client.tracking_uri)
        for run in runs:
            exp = experiment_id(client, experiment or run.suite or "transfer-bench")
            parents, children = exported(client, exp)
            parent = parents.get(run.run_id)
            done.parents_found += parent is not None
            done.parents_new += parent is None
            if parent is None:
                parent = new_run(client, exp, run.name, run.params, {}, run.tags, {})
                client.log_dict(parent, run.spec or {}, "suite.json")
            if report is not None:
                client.log_artifacts(parent, str(report), "report")
            for cell in run.cells:
                if (cell.run_id, cell.cell_key) in children:
                    done.cells_found += 1
                    continue
                new_run(client, exp, cell.name, cell.params, cell.metrics,
                        {**cell.tags, "mlflow.parentRunId": parent}, cell.series)
                done.cells_new += 1
    except MlflowException as e:
        raise ExportError(f"MLflow at {to or 'its default tracking URI'}: {' '.join(str(e).split())}") from None
    return done


def experiment_id(client: Any, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    return client.create_experiment(name, artifact_location=artifact_root(client.tracking_uri, name))


def artifact_root(tracking_uri: str, name: str) -> str | None:
    """Beside a SQLite store: ``<its folder>/mlruns/<experiment>``. MLflow's own default for a
    database store is ``./mlruns`` under whatever folder the command ran in, which left an
    ``mlruns/`` in the user's working directory. Other stores keep MLflow's default (None)."""
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix):
        return None
    db = Path(tracking_uri[len(prefix):]).resolve()
    return (db.parent / "mlruns" / name).as_uri()


def exported(client: Any, exp: str) -> tuple[dict[str, str], set[tuple[str, str]]]:
    """(run id -> parent's MLflow id, {(run id, cell key)} of the children) an export wrote before."""
    parents, children, token = {}, set(), None
    while True:
        page = client.search_runs([exp], filter_string=f"tags.`{KIND_TAG}` != ''", max_results=1000,
                                  page_token=token)
        for r in page:
            tags = r.data.tags
            if tags.get(KIND_TAG) == CHILD:
                children.add((tags.get(RUN_TAG), tags.get(CELL_TAG)))
            elif RUN_TAG in tags:
                parents[tags[RUN_TAG]] = r.info.run_id
        token = page.token
        if not token:
            return parents, children


def new_run(client: Any, exp: str, name: str, params: dict[str, Any], metrics: dict[str, float],
            tags: dict[str, str], series: dict[str, list[tuple[int, float]]]) -> str:
    from mlflow.entities import Metric, Param, RunTag

    run = client.create_run(exp, run_name=name, tags={k: tags[k] for k in (KIND_TAG, RUN_TAG) if k in tags})
    rid, now = run.info.run_id, int(time.time() * 1000)
    for chunk in chunks([Param(k, str(v)) for k, v in params.items()]):
        client.log_batch(rid, params=chunk)
    for chunk in chunks([RunTag(k, v) for k, v in tags.items()]):
        client.log_batch(rid, tags=chunk)
    last = int(params.get("steps") or 0)
    points = [Metric(k, v, now, last) for k, v in metrics.items()]
    points += [Metric(k, v, now, step) for k, curve in series.items() for step, v in curve]
    for chunk in chunks(points, 1000):
        client.log_batch(rid, metrics=chunk)
    client.set_terminated(rid)
    return rid


def chunks(items: list, size: int = BATCH) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
