"""The light commands stay light: ``bench list`` reads an index built from the source files
(bench.registry.source_index) instead of importing every registry; the index must say exactly what
the real registries say."""
from __future__ import annotations

import subprocess
import sys

import pytest

from bench.registry import source_index
from tests.conftest import REPO

REGISTRIES = [("bench.backbones", "BACKBONES"), ("bench.strategies", "STRATEGIES"),
              ("bench.data", "DOMAINS"), ("bench.validators", "VALIDATORS")]


def _listed(registry, package: str) -> dict[str, str]:
    """What `bench list` showed when it imported the registries: the entry's own doc, else its module's.

    Only the package's own entries: earlier tests in the same process register test-only plugins
    (``--plugin tests/...``), which the source index rightly does not see."""
    out = {}
    for entry, obj in registry.describe().items():
        if obj.__module__ != package and not obj.__module__.startswith(package + "."):
            continue
        own = obj.__doc__ if obj.__doc__ and obj.__doc__ != type(obj).__doc__ else None
        doc = (own or sys.modules[obj.__module__].__doc__ or "").strip().splitlines()
        out[entry] = doc[0] if doc else ""
    return out


@pytest.mark.parametrize("package,attr", REGISTRIES)
def test_the_source_index_names_every_registered_entry_with_its_description(package, attr):
    import importlib

    registry = getattr(importlib.import_module(package), attr)
    assert source_index(package, attr) == _listed(registry, package)


def test_bench_list_imports_no_heavy_library():
    code = ("import sys\nfrom click.testing import CliRunner\nfrom bench.cli import main\n"
            "r = CliRunner().invoke(main, ['list'])\nassert r.exit_code == 0, r.output\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'timm', 'transformers', "
            "'peft', 'pandas'}))\nprint(r.output)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    first, _, listing = out.stdout.partition("\n")
    assert first == "[]"
    assert "  small_cnn " in listing and "  dann " in listing and "digits-c/*" in listing


def test_a_dry_run_imports_no_heavy_library_and_no_family_module(tmp_path):
    """Validating and expanding a suite reads names from the source index and the strategies'
    declarations compiled from their source (bench.strategies.declared): the default suite's dry
    run imports no torch, timm, transformers, peft or pandas, and no strategy, backbone or domain
    module; only running a cell does."""
    code = ("import sys\nfrom click.testing import CliRunner\nfrom bench.cli import main\n"
            f"r = CliRunner().invoke(main, ['run', 'suites/default.yaml', '--dry-run', '--results', {str(tmp_path)!r}])\n"
            "assert r.exit_code == 0, r.output\nprint(' '.join(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    modules = set(out.stdout.split())
    assert {m.split(".")[0] for m in modules} & {"torch", "timm", "transformers", "peft", "pandas"} == set()
    families = {m for m in modules if m.split(".")[:2] in (["bench", "strategies"], ["bench", "backbones"],
                                                            ["bench", "data"]) and m.count(".") == 2}
    assert families == {"bench.strategies.declared", "bench.backbones.spec", "bench.data.registry",
                        "bench.data._command"}  # `bench data`: click only


def test_a_lookup_that_imports_one_module_finds_what_importing_every_module_finds():
    """For every registered name (a family as ``prefix/x``), in a fresh process: the entry found
    when only its own module is imported is the entry found once the whole package is."""
    code = ("import importlib\nfrom bench.registry import source_modules\n"
            f"for package, attr in {REGISTRIES!r}:\n"
            "    reg = getattr(importlib.import_module(package), attr)\n"
            "    names = [n[:-2] + '/x' if n.endswith('/*') else n for n in source_modules(package, attr)]\n"
            "    lazy = {n: reg.get(n) for n in names}\n"
            "    assert not reg._loaded\n"
            "    reg.names()\n"
            "    wrong = [n for n in names if reg.get(n) is not lazy[n]]\n"
            "    assert not wrong, (package, wrong)\n"
            "    print(package, len(names))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == len(REGISTRIES)


def test_what_an_entry_requires_read_from_its_source_is_what_the_entry_says():
    """``builder.requires = (...)`` read without importing (bench.registry.source_requires) equals
    the attribute of the imported entry, for every entry that is not a class (a strategy's
    ``requires`` is part of its declaration: tests/test_declared.py)."""
    code = ("import importlib, inspect\nfrom bench.registry import source_modules\n"
            f"for package, attr in {REGISTRIES!r}:\n"
            "    reg = getattr(importlib.import_module(package), attr)\n"
            "    names = [n[:-2] + '/x' if n.endswith('/*') else n for n in source_modules(package, attr)]\n"
            "    read = {n: reg.requires(n) for n in names}\n"
            "    assert all(n in reg for n in names) and not reg._loaded\n"
            "    real = {n: tuple(getattr(reg.get(n), 'requires', ())) for n in names}\n"
            "    funcs = [n for n in names if not inspect.isclass(reg.get(n))]\n"
            "    assert {n: read[n] for n in funcs} == {n: real[n] for n in funcs}, package\n"
            "    print(package, sorted(n for n in funcs if read[n]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "bench.backbones ['hf/x']" in out.stdout.splitlines()
