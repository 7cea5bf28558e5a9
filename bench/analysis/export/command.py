"""The ``bench export`` command (bench/cli.py adds it): click only here, the work imports lazily."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import click

TRACKERS = ["mlflow", "tensorboard", "wandb"]


@click.command()
@click.argument("tracker", type=click.Choice(TRACKERS))
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--to", metavar="URI|DIR",
              help="mlflow: tracking URI (default: MLflow's, $MLFLOW_TRACKING_URI or sqlite:///mlflow.db); "
                   "tensorboard: log dir (default: runs); wandb: the folder for wandb/ (default: .).")
@click.option("--experiment", metavar="NAME",
              help="MLflow experiment, TensorBoard folder or W&B project (default: the suite's name).")
@click.option("--report", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A report folder (bench report --out) to attach to each suite run.")
def export(tracker: str, results: tuple[Path, ...], to: str | None, experiment: str | None,
           report: Path | None) -> None:
    """Export RESULTS to an experiment tracker: one run per suite run (_runs/<run_id>.json), one child
    run per cell with its identity and hyper-parameters as params, its metrics and checkpoint curves,
    provenance as tags. Exporting again adds only new runs. Each tracker is an extra:
    pip install 'transfer-bench[mlflow]' (or tensorboard, wandb). See docs/trackers.md.
    """
    from bench.analysis.export import export_results

    click.echo(export_results(tracker, results, to, experiment, report))


def log_options(command: Callable) -> Callable:
    """``bench run``'s ``--log TRACKER``, ``--log-to`` and ``--log-experiment`` (the arguments
    ``log``, ``log_to``, ``log_experiment``; :class:`bench.analysis.export.live.LiveExport`)."""
    options = [
        click.option("--log", type=click.Choice(TRACKERS), default=None,
                     help="Export each cell to this experiment tracker as it finishes, as `bench export` "
                          "would (same runs, found by cell key: nothing twice). A cell the tracker "
                          "refuses is kept on disk and named at the end. See docs/trackers.md."),
        click.option("--log-to", metavar="URI|DIR", default=None,
                     help="With --log: where, as `bench export --to` (mlflow: tracking URI; tensorboard: "
                          "log dir, default runs; wandb: the folder for wandb/, default .)."),
        click.option("--log-experiment", metavar="NAME", default=None,
                     help="With --log: MLflow experiment, TensorBoard folder or W&B project (default: "
                          "the suite's name)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command
