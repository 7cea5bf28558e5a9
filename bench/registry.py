"""One registry type for backbones, strategies and domains (timm's create_model / list_models idea).

Entries are registered by decorating a function or class in any module of the registry's package;
the package's modules are imported on first lookup, so adding an entry is one new file and nothing
else. A *family* entry (registered with a trailing ``/*``) serves every name under a prefix, e.g.
``timm/*`` builds ``timm/resnet18`` and ``digits-c/*`` builds ``digits-c/gaussian_noise``.
"""
from __future__ import annotations

import difflib
import fnmatch
import importlib
import pkgutil
from typing import Any, Callable, Generic, TypeVar

from bench.errors import UnknownNameError

T = TypeVar("T")




class Registry(Generic[T]):
    def __init__(self, kind: str, package: str):
        self.kind = kind
        self.package = package
        self._entries: dict[str, T] = {}
        self._families: dict[str, T] = {}
        self._loaded = False

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

    def family_of(self, name: str) -> str | None:
        self._load()
        for sep in ("/", ":"):
            prefix = name.split(sep, 1)[0]
            if sep in name and prefix in self._families:
                return prefix
        return None

    def get(self, name: str) -> T:
        """The entry for ``name``: an exact entry, else the family entry serving its prefix."""
        self._load()
        if name in self._entries:
            return self._entries[name]
        family = self.family_of(name)
        if family is not None:
            return self._families[family]
        raise UnknownNameError(self.unknown_message(name))

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._entries or self.family_of(name) is not None

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
