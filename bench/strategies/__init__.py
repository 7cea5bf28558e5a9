"""Strategies: how a source model is adapted to the target. One file each, registered by name.

``get_strategy("lora")`` returns the class; ``list_strategies()`` the names.
"""
from bench.strategies.base import STRATEGIES, AdaptContext, Hparams, NotApplicable, Strategy


def get_strategy(name: str) -> type[Strategy]:
    return STRATEGIES.get(name)


def list_strategies(pattern: str = "*") -> list[str]:
    return STRATEGIES.names(pattern)


__all__ = ["STRATEGIES", "AdaptContext", "Hparams", "NotApplicable", "Strategy", "get_strategy", "list_strategies"]
