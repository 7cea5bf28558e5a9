"""One registry type for backbones, strategies and domains (timm's create_model / list_models idea).

Entries are registered by decorating a function or class in any module of the registry's package,
so adding an entry is one new file and nothing else. A lookup imports only the module whose source
registers the name (:func:`source_modules`, read without importing anything), so a suite that names
three strategies pays for three modules, not for every one; listing every entry (``names``,
``describe``) or an unknown name imports the whole package. A *family* entry (registered with a trailing ``/*``) serves every name under a prefix, e.g.
``timm/*`` builds ``timm/resnet18`` and ``digits-c/*`` builds ``digits-c/gaussian_noise``.
"""
from __future__ import annotations

import ast
import difflib
import fnmatch
import importlib
import importlib.util
import pkgutil
from pathlib import Path
from typing import Any, Callable, Generic, TypeVar

from bench.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, package: str, attr: str | None = None):
        self.kind = kind
        self.package = package
        #: the registry's variable name in the package's sources (``DOMAINS``): what the source
        #: index looks for; None imports the whole package on the first lookup
        self.attr = attr
        self._entries: dict[str, T] = {}
        self._families: dict[str, T] = {}
        self._loaded = False
        self._modules: dict[str, str] | None = None

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            table = self._families if name.endswith("/*") else self._entries
            key = name[:-2] if name.endswith("/*") else name
            if key in table and table[key] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            table[key] = obj
            return obj

        return decorator

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        pkg = importlib.import_module(self.package)
        for mod in pkgutil.iter_modules(pkg.__path__):
            if not mod.name.startswith("_"):
                importlib.import_module(f"{self.package}.{mod.name}")

    def _import_for(self, name: str) -> None:
        """Import the module whose source registers ``name`` exactly, else its family (if any)."""
        if self._loaded:
            return
        module = self.source_module(name)
        if module is not None:
            importlib.import_module(module)

    def _find(self, name: str) -> T | None:
        """``name``'s entry among those registered so far: an exact entry, else its family's."""
        if name in self._entries:
            return self._entries[name]
        return next((self._families[p] for p in _prefixes(name) if p in self._families), None)

    def _lookup(self, name: str) -> T | None:
        self._import_for(name)
        found = self._find(name)
        if found is None and not self._loaded:
            self._load()
            found = self._find(name)
        return found

    def family_of(self, name: str) -> str | None:
        self._lookup(name)
        return next((p for p in _prefixes(name) if p in self._families), None)

    def get(self, name: str) -> T:
        """The entry for ``name``: an exact entry, else the family entry serving its prefix."""
        found = self._lookup(name)
        if found is None:
            raise UnknownNameError(self.unknown_message(name))
        return found

    def __contains__(self, name: str) -> bool:
        """Whether ``name`` is served; answered from the source index while its module is not
        imported, so validating a suite's names imports nothing (tests/test_fast_cli.py)."""
        if self._find(name) is not None or self.source_module(name) is not None:
            return True
        return self._lookup(name) is not None

    def source_module(self, name: str) -> str | None:
        """The module whose source registers ``name`` (or its family), read without importing it."""
        if self.attr is None:
            return None
        if self._modules is None:
            self._modules = source_modules(self.package, self.attr)
        return self._modules.get(name) or next(
            (self._modules[f"{p}/*"] for p in _prefixes(name) if f"{p}/*" in self._modules), None)

    def requires(self, name: str) -> tuple[str, ...]:
        """The optional packages ``name``'s entry declares (``builder.requires = (...)``), from the
        source while its module is not imported (:func:`source_requires`)."""
        found = self._find(name)
        if found is None and (module := self.source_module(name)) is not None:
            key = name if name in self._modules else next(f"{p}/*" for p in _prefixes(name)
                                                          if f"{p}/*" in self._modules)
            return source_requires(module, self.attr).get(key, ())
        return tuple(getattr(found if found is not None else self.get(name), "requires", ()))

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching a glob; families are listed as ``prefix/*``."""
        self._load()
        all_names = list(self._entries) + [f"{f}/*" for f in self._families]
        return sorted(n for n in all_names if fnmatch.fnmatch(n, pattern))

    def unknown_message(self, name: str) -> str:
        known = self.names()
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(known)} (see `bench list`)."

    def describe(self) -> dict[str, Any]:
        self._load()
        return {**self._entries, **{f"{k}/*": v for k, v in self._families.items()}}


def _prefixes(name: str) -> list[str]:
    """The family prefixes that could serve ``name``: before its first ``/``, then its first ``:``."""
    return [name.split(sep, 1)[0] for sep in ("/", ":") if sep in name]


def _module_trees(package: str) -> list[tuple[str, ast.Module]]:
    """(module name, parsed source) of each public module of ``package``, without importing them."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(next(iter(spec.submodule_search_locations)))
    return [(f"{package}.{path.stem}", ast.parse(path.read_text()))
            for path in sorted(folder.glob("*.py")) if not path.name.startswith("_")]


def source_modules(package: str, registry: str) -> dict[str, str]:
    """Name (``prefix/*`` for a family) -> the module of ``package`` whose source registers it."""
    return {name: module for module, tree in _module_trees(package) for name in _module_index(tree, registry)}


def source_requires(module: str, registry: str) -> dict[str, tuple[str, ...]]:
    """Entry name -> the optional packages ``module`` says it needs, read from its source: the
    statement ``builder.requires = ("pkg", ...)`` after a registered function (bench.extras names
    the pip line when a suite loads). tests/test_fast_cli.py checks it against the real entries."""
    spec = importlib.util.find_spec(module)
    tree = ast.parse(Path(spec.origin).read_text()) if spec is not None and spec.origin else ast.Module([], [])
    registered: dict[str, list[str]] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            for deco in node.decorator_list:
                if (name := registered_name(deco, registry)) is not None:
                    registered.setdefault(node.name, []).append(name)
    found: dict[str, tuple[str, ...]] = {}
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(target := node.targets[0], ast.Attribute) and target.attr == "requires"
                and isinstance(target.value, ast.Name)):
            for name in registered.get(target.value.id, ()):
                found[name] = tuple(ast.literal_eval(node.value))
    return found


def source_index(package: str, registry: str) -> dict[str, str]:
    """Names registered in ``package``'s modules and the first line of what ``bench list`` shows for
    each (the entry's own docstring, else its module's), read from the source files without importing
    them: listing must not pay for torch, timm or transformers. tests/test_registry.py checks it
    against the real registries. Forms read: ``@REG.register("name")`` on a def or class,
    ``REG.register("name")(func)`` and ``SomeDataset(key="name", ...).register()`` (a ``name/*`` family).
    """
    index: dict[str, str] = {}
    for _, tree in _module_trees(package):
        index.update(_module_index(tree, registry))
    return index


def _first_line(doc: str | None) -> str:
    lines = (doc or "").strip().splitlines()
    return lines[0] if lines else ""


def registered_name(call: ast.AST, registry: str) -> str | None:
    """``REG.register("name")`` -> "name"."""
    if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "register"
            and isinstance(call.func.value, ast.Name) and call.func.value.id == registry
            and call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)):
        return call.args[0].value
    return None


def _module_index(tree: ast.Module, registry: str) -> dict[str, str]:
    module_doc = ast.get_docstring(tree, clean=False)
    defined = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}

    def doc_of(node: ast.AST | None) -> str:
        return _first_line((ast.get_docstring(node, clean=False) if node is not None else None) or module_doc)

    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            for deco in node.decorator_list:
                if (name := registered_name(deco, registry)) is not None:
                    found[name] = doc_of(node)
        elif isinstance(node, ast.Expr) and isinstance(call := node.value, ast.Call):
            if (name := registered_name(call.func, registry)) is not None:  # REG.register("x")(func)
                target = call.args[0] if call.args else None
                found[name] = doc_of(defined.get(target.id) if isinstance(target, ast.Name) else None)
            elif (isinstance(call.func, ast.Attribute) and call.func.attr == "register" and not call.args
                  and isinstance(maker := call.func.value, ast.Call)):  # Dataset(key="x", ...).register()
                key = next((k.value.value for k in maker.keywords if k.arg == "key"
                            and isinstance(k.value, ast.Constant)), None)
                if isinstance(key, str):
                    found[f"{key}/*"] = _first_line(module_doc)
    return found
