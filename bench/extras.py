"""Optional packages: which extra of transfer-bench installs each, and a check that runs when a suite
loads, so that a missing one is a clear message before any cell runs, not a failed row per cell.

Strategies declare ``requires = ("peft",)`` (class attribute), backbone builders the same
(function attribute). Imports nothing heavy: ``importlib.util.find_spec`` only looks.
"""
from __future__ import annotations

import importlib.util
from typing import Iterable

#: importable module -> the extra of ``pip install 'transfer-bench[EXTRA]'`` that provides it
EXTRA_OF = {"peft": "peft", "bitsandbytes": "peft", "transformers": "text", "ray": "ray",
            "datasets": "hub", "mlflow": "mlflow", "tensorboard": "tensorboard", "wandb": "wandb"}


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_message(needs: Iterable[tuple[str, str]]) -> str | None:
    """``needs``: (who, module) pairs, e.g. ("strategy lora", "peft"). None when all are installed."""
    lines, extras = [], set()
    for who, module in needs:
        if installed(module):
            continue
        extra = EXTRA_OF.get(module)
        extras.add(f"transfer-bench[{extra}]" if extra else module)
        lines.append(f"{who} needs the package {module!r}, which is not installed")
    if not lines:
        return None
    pip = "pip install " + " ".join(f"'{e}'" if "[" in e else e for e in sorted(extras))
    return "; ".join(sorted(set(lines))) + f". Install it with: {pip} (or drop those entries)"


def pip_line(module: str) -> str:
    """``pip install 'transfer-bench[EXTRA]'`` for the extra that provides ``module`` (else the module)."""
    extra = EXTRA_OF.get(module)
    return f"pip install 'transfer-bench[{extra}]'" if extra else f"pip install {module}"
