"""Domains: labelled distributions with fixed train / val / test splits.

A domain module registers a builder with ``@DOMAINS.register("name")`` (or ``"prefix/*"`` for a
family such as ``digits-c/<corruption>``). The builder takes the full domain name and returns a
:class:`Domain`. Look domains up with :func:`load_domain`.
"""
from typing import Any

from bench.data.registry import DOMAINS

_FROM_BASE = ("DataError", "Domain", "Split", "cache_dir", "check_cache", "check_domain", "load_domain",
              "seeded_splits")


def __getattr__(name: str) -> Any:
    """The rest imports torch (bench.data.base): only when asked for, so that a suite's domain
    names are checked without it."""
    if name in _FROM_BASE:
        from bench.data import base

        return getattr(base, name)
    raise AttributeError(f"module 'bench.data' has no attribute {name!r}")


__all__ = ["DOMAINS", "DataError", "Domain", "Split", "cache_dir", "check_cache", "check_domain",
           "load_domain", "seeded_splits"]
