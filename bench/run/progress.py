"""The progress display of a run (rich): one bar over the cells, with an ETA, and one bar per worker
over the steps of the cell it is running.

The cells bar counts expected work, not cells: each cell weighs what ``bench.plan.sharding``
expects it to cost (samples through training, a source stage on the first cell that trains a
source model, almost nothing for a cell that will be skipped), so the ETA does not jump when ten
cheap cells follow one that trained a source model. The ETA is the elapsed time scaled by the
work still to do over the work done: the whole run's average rate, whatever the number of workers.
"""
from __future__ import annotations

from typing import Any, Sequence

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.table import Column
from rich.text import Text


def format_seconds(seconds: float) -> str:
    minutes, s = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{s:02d}"


def eta_seconds(elapsed: float | None, done: float, total: float) -> float | None:
    """Seconds still to go at the run's average rate so far; None before any work is done."""
    if not elapsed or done <= 0 or total <= 0:
        return None
    return max(0.0, elapsed * (total - done) / done)


class RunEtaColumn(ProgressColumn):
    """``eta 0:03:12`` for the cells bar (blank for the step bars)."""

    def render(self, task: Task) -> Text:
        if not task.fields.get("eta"):
            return Text("")
        if task.finished:
            return Text("done", style="progress.elapsed")
        left = eta_seconds(task.elapsed, task.completed, task.total or 0)
        return Text("eta " + (format_seconds(left) if left is not None else "-:--:--"),
                    style="progress.remaining")


class SuiteProgress:
    """``workers``: how many cells run at once (one step bar each). ``work``: the expected cost of
    every cell (its sum is the bar's length; :meth:`finish_cell` advances it by the cell's own);
    ``None``: every cell weighs 1."""

    def __init__(self, n_cells: int, enabled: bool = True, console: Console | None = None,
                 workers: int = 1, work: Sequence[float] | None = None):
        self.enabled = enabled and n_cells > 0
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description:<12}"), BarColumn(bar_width=30), TextColumn("{task.fields[count]}"),
            TimeElapsedColumn(), RunEtaColumn(),
            TextColumn("{task.fields[cell]}", style="dim", markup=False,
                       table_column=Column(no_wrap=True, ratio=1, overflow="ellipsis")),
            console=self.console, disable=not self.enabled, transient=False)
        self.n_cells, self.workers = n_cells, max(1, workers)
        self.work_total = float(sum(work)) if work is not None else float(n_cells)
        self.done = 0

    def __enter__(self) -> "SuiteProgress":
        self.progress.__enter__()
        self.cells = self.progress.add_task("cells", total=self.work_total or 1, cell="", eta=True,
                                            count=f"0/{self.n_cells}")
        self.steps = [self.progress.add_task(self._step_label("", w), total=1, visible=False, cell="",
                                             eta=False, count="")
                      for w in range(self.workers)]
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def _step_label(self, stage: str, worker: int) -> str:
        return f"  {stage}" if self.workers == 1 else f"  w{worker + 1} {stage}"

    def start_cell(self, description: str, worker: int = 0) -> None:
        self.progress.reset(self.steps[worker % self.workers], total=1, visible=False, cell=description,
                            count="")

    def step(self, stage: str, step: int, total: int, worker: int = 0) -> None:
        # updating rich on every step of a fast CPU loop costs more than the step: thin it out
        if step != total and step % max(1, total // 50):
            return
        self.progress.update(self.steps[worker % self.workers], description=self._step_label(stage, worker),
                             completed=step, total=total, visible=True, count=f"{step}/{total}")

    def finish_cell(self, row: dict, work: float = 1.0, worker: int = 0) -> None:
        self.done += 1
        self.progress.update(self.cells, advance=work, count=f"{self.done}/{self.n_cells}")
        if self.done == self.n_cells:  # rounding of the weights must not leave the bar short
            self.progress.update(self.cells, completed=self.work_total or 1)
        self.progress.update(self.steps[worker % self.workers], visible=False)
        if row["status"] not in ("ok", "skipped"):
            first_line = (row.get("error") or "").splitlines()[:1]
            # everything after the status word is data (names, an error message): escaped
            text = (f"{row['strategy']} on {row['source_domain']}->{row['target_domain']} seed {row['seed']}: "
                    f"{first_line[0] if first_line else ''}")
            self.console.print(f"[red]{escape(str(row['status']))}[/]: {escape(text)}", emoji=False)  # `:x:` in a name stays
