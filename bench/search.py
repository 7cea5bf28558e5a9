"""Hyper-parameter search spaces and their deterministic trial draws (DomainBed's
``hparams_registry`` in spirit, but typed).

A strategy declares its default space as ``search_space = {"lr": loguniform(1e-4, 1e-2), ...}``
next to its ``Hparams`` class; a suite entry may override single dimensions (``search:``, same
syntax as text: ``lr: loguniform(1e-4, 1e-2)``, ``schedule: choice([paper, warm_start])``,
``null`` drops a dimension) and asks for ``trials: N``.

Trial 0 is always the strategy's defaults (so a suite without search gives today's numbers).
Trial ``t >= 1`` draws every dimension from its own generator seeded by
``sha256(strategy, t, search_seed, dimension)`` and nothing else: adding a seed, a pair, a
backbone, or another dimension never changes an existing trial's values.
"""
from __future__ import annotations

import ast
import hashlib
import math
import random
import re
from dataclasses import dataclass
from typing import Any, Union


@dataclass(frozen=True)
class LogUniform:
    """``exp(U(log lo, log hi))``: for scales such as learning rates and loss weights."""

    lo: float
    hi: float

    def sample(self, rng: random.Random) -> float:
        return math.exp(rng.uniform(math.log(self.lo), math.log(self.hi)))

    def __str__(self) -> str:
        return f"loguniform({self.lo:g}, {self.hi:g})"


@dataclass(frozen=True)
class Uniform:
    lo: float
    hi: float

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.lo, self.hi)

    def __str__(self) -> str:
        return f"uniform({self.lo:g}, {self.hi:g})"


@dataclass(frozen=True)
class IntRange:
    """An integer uniformly in ``[lo, hi]`` (both included)."""

    lo: int
    hi: int

    def sample(self, rng: random.Random) -> int:
        return rng.randint(self.lo, self.hi)

    def __str__(self) -> str:
        return f"int({self.lo}, {self.hi})"


@dataclass(frozen=True)
class Choice:
    values: tuple[Any, ...]

    def sample(self, rng: random.Random) -> Any:
        return self.values[rng.randrange(len(self.values))]

    def __str__(self) -> str:
        return f"choice({list(self.values)})"


Distribution = Union[LogUniform, Uniform, IntRange, Choice]


def loguniform(lo: float, hi: float) -> LogUniform:
    if not (0 < lo <= hi and math.isfinite(hi)):
        raise ValueError(f"loguniform(lo, hi) needs finite 0 < lo <= hi, got ({lo}, {hi})")
    return LogUniform(float(lo), float(hi))


def uniform(lo: float, hi: float) -> Uniform:
    if not (lo <= hi and math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"uniform(lo, hi) needs finite lo <= hi, got ({lo}, {hi})")
    return Uniform(float(lo), float(hi))


def int_range(lo: int, hi: int) -> IntRange:
    if not (isinstance(lo, int) and isinstance(hi, int) and lo <= hi):
        raise ValueError(f"int(lo, hi) needs integers lo <= hi, got ({lo}, {hi})")
    return IntRange(lo, hi)


def choice(values: Any) -> Choice:
    values = tuple(values)
    if not values:
        raise ValueError("choice([...]) needs at least one value")
    if any(isinstance(v, float) and not math.isfinite(v) for v in values):
        raise ValueError(f"choice({list(values)}) needs finite numbers")
    return Choice(values)


_MAKERS = {"loguniform": loguniform, "uniform": uniform, "int": int_range, "choice": choice}
_CALL = re.compile(r"^\s*(\w+)\s*\((.*)\)\s*$", re.S)


def parse(spec: Any) -> Distribution:
    """A distribution from suite text: ``"loguniform(1e-4, 1e-2)"``, ``{uniform: [0, 1]}``,
    ``"choice([paper, warm_start])"`` (bare words are strings), or an existing distribution."""
    if isinstance(spec, (LogUniform, Uniform, IntRange, Choice)):
        return spec
    if isinstance(spec, dict) and len(spec) == 1:
        (kind, args), = spec.items()
        args = [args] if kind == "choice" else list(args)
    elif isinstance(spec, str) and (m := _CALL.match(spec)):
        kind, text = m.group(1), m.group(2)
        # bare words inside choice([...]) are strings: quote them before literal_eval
        text = re.sub(r"(?<![\w.'\"])([A-Za-z_][\w+-]*)(?![\w'\"(])",
                      lambda w: w.group(1) if w.group(1) in ("True", "False", "None") else repr(w.group(1)), text)
        try:
            args = ast.literal_eval(f"[{text}]")
        except (ValueError, SyntaxError):
            raise ValueError(f"cannot read the arguments of search distribution {spec!r}") from None
    else:
        raise ValueError(f"search distribution {spec!r}: expected one of "
                         f"{', '.join(k + '(...)' for k in _MAKERS)}, e.g. 'loguniform(1e-4, 1e-2)'")
    if kind not in _MAKERS:
        raise ValueError(f"unknown search distribution {kind!r}; known: {', '.join(_MAKERS)}")
    try:
        return _MAKERS[kind](*args)
    except TypeError:
        raise ValueError(f"search distribution {spec!r}: wrong number of arguments") from None


def merged_space(default: dict[str, Distribution], override: dict[str, Any] | None,
                 fixed: dict[str, Any]) -> dict[str, Distribution]:
    """The strategy's space, dimensions replaced (or dropped with ``None``) by the suite entry's
    ``search``; hyper-parameters the entry fixes explicitly are not searched."""
    space = dict(default)
    for name, spec in (override or {}).items():
        if spec is None:
            space.pop(name, None)
        else:
            space[name] = parse(spec)
    return {k: v for k, v in sorted(space.items()) if k not in fixed}


def _rng(strategy: str, trial: int, search_seed: int, dim: str) -> random.Random:
    blob = f"{strategy}\x00{trial}\x00{search_seed}\x00{dim}".encode()
    return random.Random(int.from_bytes(hashlib.sha256(blob).digest()[:8], "big"))


def draw(strategy: str, trial: int, space: dict[str, Distribution], search_seed: int = 0) -> dict[str, Any]:
    """Trial ``trial``'s values: ``{}`` (the defaults) for trial 0, else one draw per dimension."""
    if trial < 0:
        raise ValueError(f"trial indices start at 0, got {trial}")
    if trial == 0:
        return {}
    return {dim: dist.sample(_rng(strategy, trial, search_seed, dim)) for dim, dist in space.items()}
