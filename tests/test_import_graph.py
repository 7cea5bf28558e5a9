"""The package's import graph: the wings follow the data flow, no cycle, and reading results never
needs torch.

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


#: the ground floor: small modules any part may import; they import only each other. ``sources``
#: (the table of fetched data and weights) is here because both the data and backbone families read it
GROUND = {"errors", "registry", "results", "extras", "search", "locks", "sources"}
#: ground-floor modules that are packages: ``results`` (schema, layout of a results directory, readers)
GROUND_PACKAGES = {"results"}
#: the wings and families from the top of the data flow down, and what each may import besides
#: itself and the ground floor; each wing's ``__init__`` says the same in words. ``analysis`` reads
#: stored rows only: nothing but the command line imports it, and it imports nothing above the
#: ground floor. A family (strategies, validators, data, backbones) never imports a wing that uses it.
MAY_IMPORT = {
    "cli": {"analysis", "run", "cell", "plan", "strategies", "validators", "train", "data", "backbones"},
    "analysis": set(),
    "run": {"cell", "plan", "strategies", "validators", "train", "data", "backbones"},
    "cell": {"plan", "strategies", "validators", "train", "data", "backbones"},
    "plan": {"strategies", "validators", "train", "data", "backbones"},
    "strategies": {"train", "data", "backbones"},
    "validators": {"train", "data", "backbones"},
    "train": {"data", "backbones"},
    "data": set(),
    "backbones": set(),
    "ground": set(),
}
#: the package's own top-level modules: a new module goes into a wing or a family instead
TOP_LEVEL = GROUND | {"__init__", "__main__", "cli"}


def part_of(module: str) -> str:
    """The wing, family or floor a module belongs to: ``bench.cell.source_stage`` -> ``cell``."""
    top = module.split(".")[1] if "." in module else "__init__"
    if top in GROUND or top == "__init__":
        return "ground"
    return "cli" if top == "__main__" else top


def test_every_module_is_in_a_wing_a_family_or_on_the_ground_floor():
    top = {p.stem for p in PACKAGE.glob("*.py")}
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert top == TOP_LEVEL - GROUND_PACKAGES, \
        f"top-level modules {sorted(top - TOP_LEVEL)} belong in a wing (README, 'How it is built')"
    assert packages == set(MAY_IMPORT) - {"cli", "ground"} | GROUND_PACKAGES, sorted(packages)


def test_the_wings_import_only_down_the_data_flow():
    wrong = sorted(f"{a} -> {b}" for a, targets in import_graph().items() for b in targets
                   if part_of(a) != part_of(b) and part_of(b) != "ground"
                   and part_of(b) not in MAY_IMPORT[part_of(a)])
    assert wrong == [], wrong


def test_the_ground_floor_imports_only_the_ground_floor():
    wrong = sorted(f"{a} -> {b}" for a, targets in import_graph().items() for b in targets
                   if part_of(a) == "ground" and part_of(b) != "ground")
    assert wrong == [], wrong


def test_each_wing_says_what_it_may_import():
    for wing in ("plan", "run", "cell", "train", "analysis"):
        doc = ast.get_docstring(ast.parse((PACKAGE / wing / "__init__.py").read_text())) or ""
        assert "may import" in doc.lower(), f"bench/{wing}/__init__.py: say what the wing may import"


def test_the_package_import_graph_has_no_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_building_a_report_imports_neither_torch_nor_the_wings_that_run_cells(tmp_path):
    from tests.report_rows import row, write

    write(tmp_path / "r", [row("source_only", "a->b", s, 50.0 + s) for s in range(2)])
    code = ("import sys, bench.analysis.report\n"
            f"bench.analysis.report.build_report([{str(tmp_path / 'r')!r}], {str(tmp_path / 'out')!r})\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'torch' or m.split('.')[:2] in "
            "[['bench', w] for w in ('plan', 'run', 'cell', 'train', 'backbones', 'strategies')])\n"
            "print(bad)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_command_line_imports_no_torch_or_pandas_before_a_subcommand():
    code = "import sys, bench.cli; print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'pandas'}))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr


def test_nothing_in_the_repository_points_outside_it():
    """The contract lives in docs/protocol.md; no file may refer to a steering folder beside the repo,
    nor to the development machine's own paths (its helper scripts are not the user's)."""
    needles = ("../" + "shared", "/work" + "/", "SPEC" + ".md")  # spelled apart: not a hit here
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
