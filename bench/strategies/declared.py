"""What a strategy declares, known without importing torch: its hyper-parameters (``Hparams``) and
class flags (:class:`Declaration`), so that a suite validates and expands to cells
(``bench run --dry-run``) without importing torch, timm, transformers or peft.

:func:`declared` gives a strategy's declaration. Once its module is imported that is the class
itself; before, it is compiled from the module's source: the ``Hparams`` models (and the pydantic
models they use) are executed as written, and of a strategy class only the declarations in
:data:`DECLARED` are kept (its methods, which need torch, are left out). A class whose declaration
needs anything else (a name from torch, a module-level helper) is not compiled, and its module is
imported instead: slower, never different. tests/test_declared.py checks every registered
strategy's compiled declaration against its real class (fields, defaults, dumps, flags, search
space), so the two cannot drift apart.
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import types
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_serializer

from bench.errors import NotApplicable
from bench.registry import Registry, registered_name
from bench.search import loguniform

STRATEGIES: Registry[type["Declaration"]] = Registry("strategy", "bench.strategies", "STRATEGIES")


class Hparams(BaseModel):
    """Hyper-parameters every strategy has; ``None`` means the suite's ``adapt`` setting."""

    #: finite numbers only (subclasses inherit it): an inf or NaN hyper-parameter is a suite error
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    lr: float | None = Field(None, gt=0)
    steps: int | None = Field(None, ge=0)

    #: fields a subclass added after results were stored: left out of the dump (so of the cell's
    #: ``hparams`` and key) while at their default, so cells that do not use them keep their keys
    added_later: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _omit_added_at_default(self, handler: Any) -> dict[str, Any]:
        out = handler(self)
        fields = type(self).model_fields
        for name in self.added_later:
            if name in out and out[name] == fields[name].default:
                out.pop(name)
        return out


class Declaration:
    """The class attributes a plan reads (the base of :class:`bench.strategies.base.Strategy`)."""

    Hparams: ClassVar[type[Hparams]] = Hparams
    #: skipped (not failed) when the label budget is 0
    needs_target_labels: ClassVar[bool] = False
    #: whether ``update`` is called at all (``source_only`` and ``adabn`` take no gradient steps)
    trains: ClassVar[bool] = True
    #: under ``protocol: joint``, trains from the initial weights on labelled source + unlabelled
    #: target together, with no source stage (the domain-adaptation methods; bench/plan/protocol.py)
    adapts_jointly: ClassVar[bool] = False
    #: False for domain generalization (the target domain is held out): the harness then gives the
    #: strategy an empty target pool and no target labels, so no target image reaches training
    sees_target: ClassVar[bool] = True
    #: optional packages it imports (checked when a suite loads: ``bench.extras``)
    requires: ClassVar[tuple[str, ...]] = ()
    #: default hyper-parameter search space (``bench.search``); a suite entry asking for
    #: ``trials: N`` draws N - 1 settings from it besides the defaults (trial 0)
    search_space: ClassVar[dict[str, Any]] = {"lr": loguniform(1e-4, 1e-2)}

    @classmethod
    def total_steps(cls, hp: Hparams, default: int) -> int:
        """How many times the loop calls ``update``: ``steps`` from the hparams, else the suite's."""
        return hp.steps if hp.steps is not None else default

    @classmethod
    def validate_hparams(cls, raw: dict[str, Any], name: str | None = None) -> dict[str, Any]:
        """Defaults filled in; a bad key or value raises ValueError naming it and the strategy as
        the suite spells it (``name``)."""
        try:
            return cls.Hparams(**raw).model_dump()
        except ValidationError as e:
            errs = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())
            fields = ", ".join(cls.Hparams.model_fields)
            raise ValueError(f"strategy {name or cls.__name__}: {errs} (its hyper-parameters: {fields})") from None


#: what a strategy class's compiled declaration keeps: the attributes of :class:`Declaration`
DECLARED = frozenset(n for n in vars(Declaration) if not n.startswith("_"))
#: modules whose names a strategy module's source may use in what it declares (all torch-free)
TORCH_FREE = ("typing", "pydantic", "bench.search", "bench.errors", "math")


def declared(name: str) -> type[Declaration]:
    """Strategy ``name``'s declaration: its class if imported, else compiled from its source, else
    its class (imported now; an unknown name raises the registry's message)."""
    found = STRATEGIES._find(name)
    if found is not None:
        return found
    module = STRATEGIES.source_module(name)
    compiled = _compiled(module).registered.get(name) if module is not None else None
    return compiled if compiled is not None else STRATEGIES.get(name)


class _Compiled(types.SimpleNamespace):
    """One module's compiled declarations: its namespace and the strategies it registers."""

    namespace: dict[str, Any]
    registered: dict[str, type[Declaration]]


_CACHE: dict[str, _Compiled] = {}


def _compiled(module: str) -> _Compiled:
    if module not in _CACHE:
        _CACHE[module] = _compile(module)
    return _CACHE[module]


def _compile(module: str) -> _Compiled:
    spec = importlib.util.find_spec(module)
    path = Path(spec.origin) if spec is not None and spec.origin else None
    namespace: dict[str, Any] = {"__name__": module, "__builtins__": __builtins__}
    registered: dict[str, type[Declaration]] = {}
    if path is None:
        return _Compiled(namespace=namespace, registered=registered)
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom):
            namespace.update(_imported(node))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            _run(node, namespace, str(path))  # a module constant a declaration may use
        elif isinstance(node, ast.ClassDef) and (cls := _class(node, namespace, str(path))) is not None:
            registered.update({name: cls for deco in node.decorator_list
                               if (name := registered_name(deco, "STRATEGIES")) is not None})
    return _Compiled(namespace=namespace, registered=registered)


def _imported(node: ast.ImportFrom) -> dict[str, Any]:
    """The names ``from M import ...`` binds that a declaration may use: from torch-free modules,
    from this module (the base's ``Strategy`` is :class:`Declaration`) and from the package's other
    modules, compiled in turn. Anything else (torch, a model) stays unbound."""
    module = node.module or ""
    if node.level or module == "__future__":
        return {}
    if module == "bench.strategies.base":
        source = _BASE
    elif module == __name__:
        source = globals()
    elif module == "bench.strategies":  # `from bench.strategies import _peft as peft_tools`
        source = {a.name: types.SimpleNamespace(**_compiled(f"{module}.{a.name}").namespace)
                  for a in node.names}
    elif module.startswith("bench.strategies."):
        source = _compiled(module).namespace
    elif module in TORCH_FREE:
        imported = importlib.import_module(module)
        source = {a.name: getattr(imported, a.name) for a in node.names if hasattr(imported, a.name)}
    else:
        return {}
    return {a.asname or a.name: source[a.name] for a in node.names if a.name in source}


def _class(node: ast.ClassDef, namespace: dict[str, Any], filename: str) -> type | None:
    """The class ``node`` defines, compiled: a pydantic model whole; a strategy (or a base-less
    mixin) with only its :data:`DECLARED` attributes; None for anything else or on any failure."""
    try:
        bases = [eval(compile(ast.Expression(b), filename, "eval"), namespace) for b in node.bases]  # noqa: S307 - our own source
    except Exception:  # a base from torch (nn.Module): not a declaration
        return None
    if not all(isinstance(b, type) for b in bases) or node.keywords:
        return None
    if any(issubclass(b, BaseModel) for b in bases):
        body = node.body
    elif not bases or any(issubclass(b, Declaration) for b in bases):
        body = [s for s in node.body if _declares(s)] or [ast.Pass()]
    else:
        return None
    plain = ast.ClassDef(name=node.name, bases=node.bases, keywords=[], body=body, decorator_list=[],
                         type_params=[])
    ast.copy_location(plain, node)
    if not _run(plain, namespace, filename):
        return None
    return namespace[node.name]


def _declares(statement: ast.stmt) -> bool:
    if isinstance(statement, ast.Assign):
        return all(isinstance(t, ast.Name) and t.id in DECLARED for t in statement.targets)
    if isinstance(statement, ast.AnnAssign):
        return isinstance(statement.target, ast.Name) and statement.target.id in DECLARED
    return isinstance(statement, ast.FunctionDef) and statement.name in DECLARED


def _run(statement: ast.stmt, namespace: dict[str, Any], filename: str) -> bool:
    """Execute one statement of the module's source in ``namespace``; False if it needs a name the
    declarations do not have. Compiled without ``from __future__ import annotations``: the
    annotations are evaluated here, where their names are bound."""
    code = ast.fix_missing_locations(ast.Module(body=[statement], type_ignores=[]))
    try:
        exec(compile(code, filename, "exec", dont_inherit=True), namespace)  # noqa: S102 - our own source
    except Exception:
        return False
    return True


#: what ``from bench.strategies.base import ...`` binds in a compiled module
_BASE: dict[str, Any] = {"STRATEGIES": STRATEGIES, "Hparams": Hparams, "Strategy": Declaration,
                         "NotApplicable": NotApplicable}
