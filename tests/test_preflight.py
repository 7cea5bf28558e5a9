"""Faults of the input and of the machine are found before the first cell: ``bench run`` exits 2 with
one line naming the cause and what to do, and stores nothing as a cell's result (a stored ``failed``
row would make the same command say "nothing to run" once the fault is fixed)."""
from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.plan.suite import SuiteError, load_suite
from bench.results import result_files
from tests.conftest import REPO

SUITE = """
name: t
backbones: [small_cnn]
strategies: [{strategies}]
pairs: ["{pair}"]
label_budgets: [0]
seeds: [{seeds}]
source: {{steps: 2, batch_size: 16}}
adapt: {{steps: 2, batch_size: 16, lr: {lr}}}
threads: 1
device: cpu
"""


def suite_file(tmp_path, strategies="source_only", pair="digits -> digits", seeds="0", lr="0.001"):
    path = tmp_path / "t.yaml"
    path.write_text(SUITE.format(strategies=strategies, pair=pair, seeds=seeds, lr=lr))
    return path


def bench_run(tmp_path, suite, *extra):
    """``bench run`` in this process; (exit code, output, results directory)."""
    results = tmp_path / "results"
    out = CliRunner().invoke(main, ["run", str(suite), "--results", str(results), "--no-progress",
                                    "--executor", "inline", *extra])
    return out.exit_code, out.output, results


def one_line_error(output: str) -> str:
    lines = [ln for ln in output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    assert "Traceback" not in output
    return lines[0]


# --- numbers in a suite: refused when it parses ------------------------------------------------

@pytest.mark.parametrize("lr", [".inf", "-.inf", ".nan", "-0.1", "0"])
def test_a_learning_rate_that_is_not_a_finite_positive_number_is_refused(tmp_path, lr):
    with pytest.raises(SuiteError, match="adapt.lr"):
        load_suite(suite_file(tmp_path, lr=lr))
    code, output, results = bench_run(tmp_path, suite_file(tmp_path, lr=lr))
    assert code == 2 and "adapt.lr" in one_line_error(output)
    assert not results.exists()


@pytest.mark.parametrize("field", ["weight_decay", "momentum", "anneal_gamma", "backbone_lr_mult"])
def test_every_float_of_a_training_stage_must_be_finite(tmp_path, field):
    path = tmp_path / "s.yaml"
    path.write_text(suite_file(tmp_path).read_text().replace("source: {", f"source: {{{field}: .inf, "))
    with pytest.raises(SuiteError, match=f"source.{field}: .*finite"):
        load_suite(path)


@pytest.mark.parametrize("entry", ["{name: dann, trade_off: .inf}", "{name: full_finetune, lr: .nan}",
                                   "{name: full_finetune, search: {lr: 'loguniform(1e-4, 1e999)'}}",
                                   "{name: full_finetune, search: {lr: 'uniform(0.1, 1e999)'}}"])
def test_strategy_hyper_parameters_and_search_ranges_must_be_finite(tmp_path, entry):
    with pytest.raises(SuiteError, match="finite"):
        load_suite(suite_file(tmp_path, strategies=entry))


def test_resources_must_be_finite(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(suite_file(tmp_path).read_text() + "resources: {cpus: .inf}\n")
    with pytest.raises(SuiteError, match="resources.cpus"):
        load_suite(path)


@pytest.mark.parametrize("seed", [str(2**64), str(2**32), "-1"])
def test_a_seed_outside_what_the_generators_take_is_refused(tmp_path, seed):
    code, output, results = bench_run(tmp_path, suite_file(tmp_path, seeds=seed))
    assert code == 2 and "seeds.0" in one_line_error(output)
    assert not results.exists()
    assert load_suite(suite_file(tmp_path, seeds=str(2**32 - 1))).seeds == [2**32 - 1]


# --- the data cache ($BENCH_CACHE) -------------------------------------------------------------

def test_a_cache_that_is_a_file_stops_the_run_and_the_same_command_runs_once_it_is_fixed(
        tmp_path, monkeypatch):
    blocker = tmp_path / "cache-file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("BENCH_CACHE", str(blocker))
    suite = suite_file(tmp_path, pair="synth-digits -> digits")
    code, output, results = bench_run(tmp_path, suite)
    line = one_line_error(output)
    assert code == 2 and str(blocker) in line and "is a file" in line and "BENCH_CACHE" in line
    assert not results.exists()  # nothing stored, so nothing will say "nothing to run" later
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    code, output, results = bench_run(tmp_path, suite)
    assert code == 0, output
    assert len(result_files(results)) == 1


def test_a_cache_inside_a_file_is_refused_before_any_work(tmp_path, monkeypatch):
    """(This used to become a ``failed`` row for every cell whose domain caches its data.)"""
    from bench.errors import CacheError
    from bench.plan.suite import Suite
    from bench.run.runner import run_suite

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("BENCH_CACHE", str(blocker / "root"))
    with pytest.raises(CacheError, match="is inside .*not-a-dir, which is a file"):
        run_suite(load_suite(suite_file(tmp_path)), tmp_path / "res", executor="inline",
                  show_progress=False)
    assert not (tmp_path / "res").exists()
    assert isinstance(load_suite(suite_file(tmp_path)), Suite)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_cache_is_refused_before_any_work(tmp_path, monkeypatch):
    cache = tmp_path / "ro"
    cache.mkdir(mode=0o500)
    monkeypatch.setenv("BENCH_CACHE", str(cache))
    code, output, results = bench_run(tmp_path, suite_file(tmp_path))
    assert code == 2 and "not writable" in one_line_error(output) and not results.exists()


def bench_limited(args: list[str], max_file_bytes: int, cache: Path) -> subprocess.CompletedProcess:
    """``bench`` in a subprocess whose files cannot grow past ``max_file_bytes``: every write beyond
    fails with EFBIG, as writes on a full disk fail with ENOSPC (the harness treats both as "no
    room"). SIGXFSZ is ignored so the write fails instead of killing the process. No root needed."""
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    env = {**os.environ, "PYTHONPATH": str(REPO), "BENCH_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=REPO, env=env, text=True,
                          capture_output=True, timeout=600, preexec_fn=limit)


def test_a_full_cache_is_seen_before_the_first_cell(tmp_path):
    results = tmp_path / "results"
    out = bench_limited(["run", str(suite_file(tmp_path)), "--results", str(results)], 1024,
                        tmp_path / "cache")
    line = one_line_error(out.stderr)
    assert out.returncode == 2 and "no room in the data cache" in line and "same command" in line
    assert not results.exists()
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]  # no probe left


def image_tree(root: Path, domain: str = "winter", per_class: int = 20) -> Path:
    """``root/domain/<class>/<n>.png``: two classes of small random images (and a dot folder)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (root / domain / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(root / domain / c / f"{i}.png")
    return root / domain


def test_an_image_cache_that_does_not_fit_stops_the_run_and_leaves_no_temp_file(tmp_path):
    """The decoded images (40 x 3 x 32 x 32 = 120 KiB) do not fit in 96 KiB: the space is reserved
    before decoding, so the run stops with the cache's message, not a SIGBUS of its worker."""
    domain = image_tree(tmp_path / "data")
    suite = suite_file(tmp_path, pair=f"folder:{domain}@32 -> folder:{domain}@32")
    results, cache = tmp_path / "results", tmp_path / "cache"
    out = bench_limited(["run", str(suite), "--results", str(results), "--no-progress"], 96 * 1024, cache)
    line = one_line_error(out.stderr)
    assert out.returncode == 2 and "no room in the data cache" in line and "image cache" in line, out.stderr
    assert result_files(results) == []
    assert not list(cache.rglob("*.tmp")) and not list(cache.rglob(".*.tmp"))


def test_a_corrupt_image_stops_the_run_without_a_failed_row_and_the_fixed_run_goes_on(tmp_path):
    """Bad data is found when the domain is built (the cheap pre-flight check only reads the
    layout): it stops the run with the file named and stores no ``failed`` row, so the same command
    runs the cell once the file is replaced."""
    domain = image_tree(tmp_path / "data")
    (domain / "dog" / "7.png").write_bytes(b"not a png")
    suite = suite_file(tmp_path, pair=f"folder:{domain}@16 -> folder:{domain}@16")
    results = tmp_path / "results"
    args = ["run", str(suite), "--results", str(results), "--no-progress"]
    out = CliRunner().invoke(main, args)  # the process executor: the error crosses the worker pipe
    assert out.exit_code == 2 and "7.png" in one_line_error(out.output)
    assert result_files(results) == []
    image_tree(tmp_path / "fixed")
    (domain / "dog" / "7.png").write_bytes((tmp_path / "fixed" / "winter" / "dog" / "7.png").read_bytes())
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert len(result_files(results)) == 1


# --- textfile: domains -------------------------------------------------------------------------

def text_rows(n: int = 30) -> list[dict]:
    return [{"text": f"review {i} is {'good' if i % 2 else 'bad'}", "label": ["negative", "positive"][i % 2]}
            for i in range(n)]


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def text_domain_cases(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """{case: (domain name, what the message must say)}: one broken text domain each."""
    rows = text_rows()
    not_utf8 = jsonl(tmp_path / "latin1.jsonl", rows)
    not_utf8.write_bytes(not_utf8.read_bytes().replace(b"review 7 ", "revi\u00e9w 7 ".encode("latin-1")))
    mixed = jsonl(tmp_path / "mixed.jsonl", [*rows[:-1], {"text": "a number", "label": 1}])
    missing = jsonl(tmp_path / "missing.jsonl", [*rows[:5], {"text": "no label here"}, *rows[5:]])
    empty_csv = tmp_path / "empty-label.csv"
    empty_csv.write_text("text,label\n" + "".join(f"{r['text']},{r['label']}\n" for r in rows) + "one more,\n")
    folder = tmp_path / "folder"
    folder.mkdir()
    jsonl(folder / "train.jsonl", rows)
    jsonl(folder / "test.jsonl", [{"text": r["text"], "label": i % 2} for i, r in enumerate(rows)])
    return {"not utf-8": (f"textfile:{not_utf8}", "latin1.jsonl:8: byte 0xe9 is not UTF-8"),
            "mixed": (f"textfile:{mixed}", "mix class names"),
            "missing label": (f"textfile:{missing}", "1 rows have no label (the first is row 6)"),
            "empty csv label": (f"textfile:{empty_csv}", "1 rows have no label (the first is row 31)"),
            "mixed across files": (f"textfile:{folder}", "mix class names"),
            "missing file": (f"textfile:{tmp_path / 'nope.jsonl'}", "nope.jsonl does not exist")}


@pytest.mark.parametrize("case", ["not utf-8", "mixed", "missing label", "empty csv label",
                                  "mixed across files", "missing file"])
def test_a_broken_text_domain_is_refused_before_the_first_cell(tmp_path, case):
    from bench.data import DataError, check_domain

    name, expected = text_domain_cases(tmp_path)[case]
    with pytest.raises(DataError, match=re.escape(expected)):
        check_domain(name)
    # the check runs before any cell, so the backbone never meets the text
    code, output, results = bench_run(tmp_path, suite_file(tmp_path, pair=f"{name} -> {name}"))
    line = one_line_error(output)
    assert code == 2 and expected in line, line
    assert result_files(results) == []


def test_a_good_text_domain_passes_the_check(tmp_path):
    from bench.data import check_domain, load_domain

    path = jsonl(tmp_path / "good.jsonl", text_rows())
    check_domain(f"textfile:{path}")
    assert load_domain(f"textfile:{path}").classes == ["negative", "positive"]


# --- L1: dot folders in an image tree ------------------------------------------------------------

def test_a_dot_folder_in_a_folder_domain_is_no_class(tmp_path):
    from bench.data import check_domain, load_domain

    domain = image_tree(tmp_path / "data", per_class=10)
    (domain / ".ipynb_checkpoints").mkdir()
    (domain / ".hidden" / "x").mkdir(parents=True)
    check_domain(f"folder:{domain}@16")
    d = load_domain(f"folder:{domain}@16")
    assert d.classes == ["cat", "dog"] and len(d.train) + len(d.val) + len(d.test) == 20
