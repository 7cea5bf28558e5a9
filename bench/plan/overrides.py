"""Command-line overrides of a suite file: ``bench run S -o adapt.steps=50 -o seeds=[0]``.

An override is ``PATH=VALUE``. ``PATH`` is the suite's field names joined by dots, as the YAML file
nests them (``adapt.lr``, ``resources.gpus``, ``backbones[small_cnn].kwargs.width``); an entry of
``backbones``, ``strategies`` or ``pairs`` is picked by ``[name]`` (a backbone's name or label, a
strategy's name, a pair's ``source->target``) or by its position ``[0]``. ``VALUE`` is YAML, read by
the suite files' own loader (``[0, 1]``, ``0.5``, ``null``, ``{hidden: 64}``).

Overrides apply in order to the file's mapping before it is validated, so the suite that runs,
that ``--dry-run`` prints and that the results directory records is the file with the overrides in
it, checked by the same :class:`~bench.plan.suite.Suite` model. A path is checked first against the
paths the suite has (the model's fields, each strategy's hyper-parameters); a misspelt one is named
with the closest real paths (difflib), so ``adapt.step=50`` is refused, never silently ignored.
"""
from __future__ import annotations

import copy
import difflib
import re
import typing
from typing import Any, Sequence

import yaml
from pydantic import BaseModel

from bench.errors import SuiteError
from bench.strategies.declared import STRATEGIES, declared

#: the suite's lists whose entries a path picks by ``[name]`` (each entry's model: the list's item type)
ENTRY_LISTS = ("backbones", "strategies", "pairs")
#: fields that hold an open mapping: any key below them is a path (a backbone's constructor kwargs)
OPEN_MAPPINGS = ("kwargs",)
_TOKEN = re.compile(r"\.?([^.\[\]=]+)|\[([^\]]*)\]")


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str], model: type[BaseModel],
                    loader: type[yaml.SafeLoader]) -> dict[str, Any]:
    """``raw`` (a suite file's mapping) with each ``PATH=VALUE`` of ``overrides`` set, in order;
    ``model`` is the suite model (:class:`~bench.plan.suite.Suite`), ``loader`` the YAML loader of
    suite files (passed in: the suite module calls this one).

    Raises :class:`SuiteError` (one line) for a malformed override, a value that is not YAML or a
    path the suite does not have (with the closest real paths). Values are validated later, with
    the whole suite."""
    raw = copy.deepcopy(raw)
    for text in overrides:
        path, value = _parse(text, loader)
        tokens = _tokens(path, text)
        _normalise_entries(raw)
        canonical = _canonical(raw, tokens)
        known = known_paths(raw, model)
        if canonical not in known and not any(canonical.startswith(p + ".") for p in _open_paths(known)):
            close = difflib.get_close_matches(canonical, known, n=3, cutoff=0.6)
            hint = (f"closest: {', '.join(close)}" if close else
                    "settings: " + ", ".join(p for p in known if "." not in p and "[" not in p))
            raise SuiteError(f"override {text!r}: the suite has no setting {canonical}; {hint}")
        _set(raw, tokens, value, model)
    return raw


def _parse(text: str, loader: type[yaml.SafeLoader]) -> tuple[str, Any]:
    path, eq, value = text.partition("=")
    if not eq or not path.strip():
        raise SuiteError(f"override {text!r} must look like PATH=VALUE, e.g. -o adapt.steps=50 "
                         "or -o strategies[dann].trials=3")
    try:
        return path.strip(), yaml.load(value, Loader=loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SuiteError(f"override {text!r}: the value is not YAML ({problem})") from None


def _tokens(path: str, text: str) -> list[tuple[str, str]]:
    """``strategies[dann].trials`` -> ``[("key", "strategies"), ("entry", "dann"), ("key", "trials")]``."""
    tokens, at = [], 0
    for m in _TOKEN.finditer(path):
        if m.start() != at:
            break
        tokens.append(("key", m.group(1).strip()) if m.group(1) is not None
                      else ("entry", re.sub(r"\s*->\s*", "->", m.group(2).strip())))
        at = m.end()
    if at != len(path) or not tokens or tokens[0][0] != "key":
        raise SuiteError(f"override {text!r}: cannot read the path {path!r}; write field names joined "
                         "by dots and pick a list entry by [name] or [index], e.g. strategies[dann].trials")
    return tokens


def _normalise_entries(raw: dict[str, Any]) -> None:
    """Entries as mappings (``small_cnn`` -> ``{name: small_cnn}``, ``"a -> b"`` -> ``{source, target}``),
    as the suite's own validators read them, so that a path can reach into them."""
    for field in ("backbones", "strategies"):
        if isinstance(raw.get(field), list):
            raw[field] = [{"name": e} if isinstance(e, str) else e for e in raw[field]]
    if isinstance(raw.get("pairs"), list):
        raw["pairs"] = [dict(zip(("source", "target"), (s.strip() for s in e.split("->", 1))))
                        if isinstance(e, str) and "->" in e else e for e in raw["pairs"]]


def _label(field: str, entry: Any) -> str:
    if not isinstance(entry, dict):
        return str(entry)
    if field == "pairs":
        return f"{entry.get('source')}->{entry.get('target')}"
    return str(entry.get("label") or entry.get("name")) if field == "backbones" else str(entry.get("name"))


def _entry_names(raw: dict[str, Any], field: str) -> list[str]:
    """How a path names each entry of ``field``: its label, or its position where two share one."""
    entries = raw.get(field) if isinstance(raw.get(field), list) else []
    labels = [_label(field, e) for e in entries]
    return [lab if labels.count(lab) == 1 else str(i) for i, lab in enumerate(labels)]


def _entry_index(raw: dict[str, Any], field: str, selector: str) -> int | None:
    names = _entry_names(raw, field)
    if selector.isdigit() and int(selector) < len(names):
        return int(selector)
    return names.index(selector) if selector in names else None


def _canonical(raw: dict[str, Any], tokens: list[tuple[str, str]]) -> str:
    """The path as :func:`known_paths` spells it (an entry by its name where it has a unique one)."""
    out, field = "", None
    for kind, tok in tokens:
        if kind == "entry":
            i = _entry_index(raw, field, tok) if field in ENTRY_LISTS else None
            out += f"[{tok if i is None else _entry_names(raw, field)[i]}]"
        else:
            out += f".{tok}" if out else tok
        field = tok if kind == "key" and out == tok else None
    return out


def known_paths(raw: dict[str, Any], model: type[BaseModel]) -> list[str]:
    """Every path an override may set in this suite: the :class:`Suite` fields, the fields of its
    nested settings (``adapt.lr``), and of each entry (a strategy's entry fields and hyper-parameters,
    ``search.<hyper-parameter>``; a backbone's fields and its present ``kwargs``)."""
    paths = []
    for name, info in model.model_fields.items():
        paths.append(name)
        if isinstance(info.default, BaseModel):
            paths += [f"{name}.{sub}" for sub in type(info.default).model_fields]
    for field in ENTRY_LISTS:
        entry_model = typing.get_args(model.model_fields[field].annotation)[0]  # list[Entry]
        entries = raw.get(field) if isinstance(raw.get(field), list) else []
        for entry, label in zip(entries, _entry_names(raw, field)):
            base = f"{field}[{label}]"
            fields = list(entry_model.model_fields)
            if field == "strategies" and isinstance(entry, dict) and entry.get("name") in STRATEGIES:
                hparams = list(declared(entry["name"]).Hparams.model_fields)
                fields += hparams + [f"search.{h}" for h in hparams]
            if field == "backbones" and isinstance(entry, dict) and isinstance(entry.get("kwargs"), dict):
                fields += [f"kwargs.{k}" for k in entry["kwargs"]]
            paths += [base] + [f"{base}.{f}" for f in dict.fromkeys(fields)]
    return paths


def _open_paths(known: list[str]) -> list[str]:
    return [p for p in known if p.rpartition(".")[2] in OPEN_MAPPINGS]


def _set(raw: dict[str, Any], tokens: list[tuple[str, str]], value: Any, model: type[BaseModel]) -> None:
    """Set ``value`` at a path :func:`apply_overrides` has checked, creating the mappings on the way
    (a nested setting absent from the file starts from the model's default, e.g. ``adapt``'s 200 steps)."""
    node: Any = raw
    for depth, (kind, tok) in enumerate(tokens):
        last = depth == len(tokens) - 1
        if kind == "entry":
            i = _entry_index(raw, tokens[depth - 1][1], tok)
            if last:
                node[i] = value
            node = node[i]
            continue
        if last:
            node[tok] = value
        elif tokens[depth + 1][0] != "entry":
            if not isinstance(node.get(tok), dict):
                default = model.model_fields[tok].default if node is raw and tok in model.model_fields else None
                node[tok] = (default.model_dump(mode="json", exclude_unset=True)
                             if isinstance(default, BaseModel) else {})
            node = node[tok]
        else:
            node = node[tok]
