"""The progress display of a run: one bar over cells, one over the current cell's steps (rich)."""
from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Column
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class SuiteProgress:
    def __init__(self, n_cells: int, enabled: bool = True, console: Console | None = None):
        self.enabled = enabled and n_cells > 0
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description:<8}"), BarColumn(bar_width=30), MofNCompleteColumn(),
            TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[cell]}", style="dim", markup=False, table_column=Column(no_wrap=True, ratio=1,
                                                                        overflow="ellipsis")),
            console=self.console,
            disable=not self.enabled, transient=False)
        self.n_cells = n_cells
        self._stage = ""

    def __enter__(self) -> "SuiteProgress":
        self.progress.__enter__()
        self.cells = self.progress.add_task("cells", total=self.n_cells, cell="")
        self.steps = self.progress.add_task("  steps", total=1, visible=False, cell="")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def start_cell(self, description: str) -> None:
        self.progress.reset(self.steps, total=1, visible=False, cell=description)

    def step(self, stage: str, step: int, total: int) -> None:
        # updating rich on every step of a fast CPU loop costs more than the step: thin it out
        if step != total and step % max(1, total // 50):
            return
        self.progress.update(self.steps, description=f"  {stage}", completed=step, total=total,
                             visible=True)

    def finish_cell(self, row: dict) -> None:
        self.progress.advance(self.cells)
        if row["status"] not in ("ok", "skipped"):
            first_line = (row.get("error") or "").splitlines()[:1]
            # everything after the status word is data (names, an error message): escaped
            text = (f"{row['strategy']} on {row['source_domain']}->{row['target_domain']} seed {row['seed']}: "
                    f"{first_line[0] if first_line else ''}")
            self.console.print(f"[red]{escape(str(row['status']))}[/]: {escape(text)}", emoji=False)  # `:x:` in a name stays
