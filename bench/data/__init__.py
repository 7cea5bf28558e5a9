"""Domains: labelled distributions with fixed train / val / test splits.

A domain module registers a builder with ``@DOMAINS.register("name")`` (or ``"prefix/*"`` for a
family such as ``digits-c/<corruption>``). The builder takes the full domain name and returns a
:class:`Domain`. Look domains up with :func:`load_domain`.
"""
from bench.data.base import (DOMAINS, DataError, Domain, Split, cache_dir, check_cache, check_domain,
                             load_domain, seeded_splits)

__all__ = ["DOMAINS", "DataError", "Domain", "Split", "cache_dir", "check_cache", "check_domain",
           "load_domain", "seeded_splits"]
