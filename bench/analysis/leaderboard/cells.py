"""What identifies one leaderboard cell, and JSON-safe numbers: shared by the payload builder
(data.py) and the history (history.py), so neither imports the other."""
from __future__ import annotations

import math

NOT_RECORDED = "-"
GROUP = ["backbone", "label_budget", "precision", "protocol"]
CELL = GROUP + ["method", "pair"]


def num(v, digits: int = 4):
    """JSON-safe number: NaN/None -> null, numpy scalars -> Python, rounded."""
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    return None if math.isnan(f) or math.isinf(f) else round(f, digits)


def cell_id(key: tuple) -> str:
    return "|".join(map(str, key))
