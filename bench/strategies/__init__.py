"""Strategies: how a source model is adapted to the target. One file each, registered by name.

``get_strategy("lora")`` returns the class; ``list_strategies()`` the names.
"""
from typing import TYPE_CHECKING, Any

from bench.errors import NotApplicable
from bench.strategies.declared import STRATEGIES, Hparams

if TYPE_CHECKING:
    from bench.strategies.base import AdaptContext, Strategy


def __getattr__(name: str) -> Any:
    """``Strategy`` and ``AdaptContext`` import torch: only when asked for (a suite validates with
    the declarations of bench.strategies.declared)."""
    if name in ("AdaptContext", "Strategy"):
        from bench.strategies import base

        return getattr(base, name)
    raise AttributeError(f"module 'bench.strategies' has no attribute {name!r}")


def get_strategy(name: str) -> "type[Strategy]":
    return STRATEGIES.get(name)


def list_strategies(pattern: str = "*") -> list[str]:
    return STRATEGIES.names(pattern)


__all__ = ["STRATEGIES", "AdaptContext", "Hparams", "NotApplicable", "Strategy", "get_strategy", "list_strategies"]
