"""What ``bench run --dry-run`` prints: every cell of a suite, whether it is done, and what a
search draws from. Reads the results directory, never writes to it (a truncated file is not a
finished cell, and is left where it is)."""
from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bench.plan.cells import expand
from bench.plan.suite import Suite, entry_space
from bench.results import hparams_label
from bench.run.resume import scan


def print_grid(suite: Suite, results_dir: Path) -> None:
    """The cell table on stdout (not truncated in logs), warnings on stderr."""
    done, warnings = scan(results_dir, move_bad=False)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    # names come from the suite: Text, never rich markup (a label `cnn[/x]` is a name, not a tag)
    table = Table(title=Text(f"suite {suite.name}: cells"))
    for col in ("key", "backbone", "strategy", "trial", "hparams", "pair", "budget", "seed", "done"):
        table.add_column(col)
    cells = expand(suite)
    for c in cells:
        table.add_row(*map(Text, (c.key(), c.backbone.display_name, c.strategy, str(c.trial), hparams_label(c.hparams),
                                  c.pair, str(c.label_budget), str(c.seed), "yes" if c.key() in done else "")))
    Console(width=None if sys.stdout.isatty() else 200).print(table)  # logs: no truncation
    n_done = sum(c.key() in done for c in cells)
    print(f"{len(cells)} cells, {n_done} done, {len(cells) - n_done} to run into {results_dir}")
    if suite.trials > 1 or any(e.trials for e in suite.strategies):
        for entry in suite.strategies:  # what each trial draws from (trial 0: the defaults)
            space = entry_space(entry)
            print(f"search {entry.name}: " + (", ".join(f"{k} ~ {v}" for k, v in space.items())
                                              if space else "nothing to search (one trial)"))
