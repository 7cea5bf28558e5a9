"""The domain registry, without torch: a suite's domain names are checked against the source
files (bench.registry), and only loading a domain imports its module."""
from __future__ import annotations

from typing import Callable

from bench.registry import Registry


#: name -> builder(name: str) -> Domain. Builders must be deterministic: the same name always
#: gives the same splits (seeded from the name, not from the cell's seed).
DOMAINS: Registry[Callable[[str], "Domain"]] = Registry("domain", "bench.data", "DOMAINS")
