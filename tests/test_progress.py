"""The run's progress display (one bar per worker, an ETA over expected work) and the order in which
several workers take cells (never two on one source model's first training while other work waits)."""
import io
import re

from rich.console import Console

from bench.plan.cells import expand
from bench.plan.sharding import adapt_cost, expected_work, source_cost
from bench.run.executors.process import CellQueue
from bench.run.progress import SuiteProgress, eta_seconds, format_seconds
from tests.sweep_helpers import make_suite


def test_eta_is_the_elapsed_time_scaled_by_the_work_left():
    assert eta_seconds(10.0, 1.0, 4.0) == 30.0  # a quarter done in 10 s: 30 s to go
    assert eta_seconds(10.0, 4.0, 4.0) == 0.0
    assert eta_seconds(None, 0.0, 4.0) is None and eta_seconds(5.0, 0.0, 4.0) is None
    assert format_seconds(3725) == "1:02:05"


def test_expected_work_pays_each_source_stage_once_and_almost_nothing_for_a_skip():
    suite = make_suite(strategies=["source_only", "full_finetune"], budgets=[0, "all"], seeds=[0, 1])
    cells = expand(suite)
    work = expected_work(cells)
    by_key = dict(zip((c.key() for c in cells), work))
    skipped = [c for c in cells if c.strategy == "full_finetune" and c.label_budget == 0]
    assert skipped and all(by_key[c.key()] == 1.0 for c in skipped)
    # the total: every cell that runs adapts, and each of the two seeds' source models trains once
    ran = [c for c in cells if c not in skipped]
    assert sum(work) == sum(adapt_cost(c) for c in ran) + len(skipped) + 2 * source_cost(cells[0])
    cached = {c.source_key() for c in cells}
    assert sum(expected_work(cells, cached)) == sum(adapt_cost(c) for c in ran) + len(skipped)


def test_a_second_worker_starts_another_source_model_instead_of_waiting():
    suite = make_suite(strategies=["source_only", "full_finetune"], seeds=[0, 1])
    cells = expand(suite)  # a's two cells, then b's
    a, b = cells[0].source_key(), cells[2].source_key()
    assert [c.source_key() for c in cells] == [a, a, b, b]
    queue = CellQueue(cells)
    first = queue.take(0)
    second = queue.take(1)  # a is being trained by worker 0: worker 1 trains b
    assert (first, second) == (cells[0], cells[2])
    queue.finished(first, 0)  # a is in the cache now: its second cell may go to anyone
    assert queue.take(0) == cells[1]
    assert queue.take(0) == cells[3] and queue.take(1) is None


def test_one_source_model_for_all_cells_still_keeps_both_workers_busy():
    cells = expand(make_suite(strategies=["source_only", "full_finetune"]))
    queue = CellQueue(cells)
    assert [queue.take(0), queue.take(1)] == cells  # nothing else to do: the second waits on the lock


def shown(p: SuiteProgress) -> str:
    """What the live display shows now (rendered as text)."""
    out = Console(file=io.StringIO(), width=200, color_system=None)
    out.print(p.progress.get_renderable())
    return out.file.getvalue()


def test_two_workers_show_two_step_bars_and_the_cells_bar_an_eta():
    console = Console(file=io.StringIO(), force_terminal=False, width=200)
    with SuiteProgress(2, console=console, workers=2, work=[3.0, 1.0]) as p:
        p.start_cell("cell-one", worker=0)
        p.start_cell("cell-two", worker=1)
        p.step("adapt", 5, 10, worker=0)
        p.step("source", 2, 10, worker=1)
        now = shown(p)
        assert "w1 adapt" in now and "w2 source" in now and "5/10" in now and "0/2" in now
        assert "cell-one" in now and "cell-two" in now and "eta -:--:--" in now  # nothing done yet
        p.finish_cell({"status": "ok"}, work=3.0, worker=0)
        assert p.progress.tasks[0].completed == 3.0  # the bar counts work, not cells
        now = shown(p)
        assert "1/2" in now and re.search(r"eta \d+:\d\d:\d\d", now) and "w1 adapt" not in now
        p.finish_cell({"status": "skipped"}, work=1.0, worker=1)
        assert "2/2" in shown(p) and "done" in shown(p)
