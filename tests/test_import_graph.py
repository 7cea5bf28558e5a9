"""The package's import graph has no cycle, and reading results never needs torch.

Edges are ``import bench.x`` / ``from bench.x import y`` anywhere in a module: at module level and
inside functions (a lazy import still ties the two modules together). A package's ``__init__`` is
its own node; ``from bench.pkg import name`` counts as an edge to ``bench.pkg.name`` when that is a
module, else to ``bench.pkg``.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "bench"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative import
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                    + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for t in targets:
                while t and t not in modules and "." in t:
                    t = t.rpartition(".")[0]
                if t in modules and t != name:
                    graph[name].add(t)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (cycle := visit(m)):
                return cycle
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (cycle := visit(n)):
            return cycle
    return None


def test_the_package_import_graph_has_no_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_building_a_report_imports_neither_torch_nor_the_suite(tmp_path):
    from tests.report_rows import row, write

    write(tmp_path / "r", [row("source_only", "a->b", s, 50.0 + s) for s in range(2)])
    code = ("import sys, bench.report\n"
            f"bench.report.build_report([{str(tmp_path / 'r')!r}], {str(tmp_path / 'out')!r})\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'torch' or m in "
            "('bench.suite', 'bench.backbones', 'bench.strategies'))\n"
            "print(bad)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_command_line_imports_no_torch_or_pandas_before_a_subcommand():
    code = "import sys, bench.cli; print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'pandas'}))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr


def test_nothing_in_the_repository_points_outside_it():
    """The contract lives in docs/protocol.md; no file may refer to a steering folder beside the repo."""
    needles = ("../" + "shared", "/work/" + "shared", "SPEC" + ".md")  # spelled apart: not a hit here
    offenders = []
    # the repository's own files: what git tracks (build outputs such as *.egg-info copy the README)
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True)
    paths = ([REPO / f for f in listed.stdout.splitlines()] if listed.returncode == 0
             else [p for p in REPO.rglob("*") if not any(
                 d in p.parts for d in (".git", ".venv", "results", "reports", "__pycache__", "build"))
                 and not any(part.endswith(".egg-info") for part in p.parts)])
    for path in paths:
        if not path.is_file() or path.suffix not in (".py", ".md", ".yaml", ".toml", ".txt", ""):
            continue
        if any(n in path.read_text(errors="ignore") for n in needles):
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == [], offenders
