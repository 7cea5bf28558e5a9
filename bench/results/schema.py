"""The results schema: THE definition of a row, its Parquet schema and the identity a row needs.

A results file is one Parquet row per finished cell (any status); its schema metadata carries
``VERSION_KEY`` so a reader can tell a result of this harness from a foreign Parquet file.
"""
from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

SCHEMA_VERSION = 1
VERSION_KEY = b"transfer_bench_schema_version"

_STR, _I64, _F64, _BOOL = pa.string(), pa.int64(), pa.float64(), pa.bool_()
_TIME = pa.timestamp("us", tz="UTC")
NAN = float("nan")

#: joins the domains of a multi-source cell's ``source_domain`` (``"rmnist/0+rmnist/15"``: both,
#: pooled); here so that readers of rows (analysis) and the data family share one spelling
SOURCES_SEP = "+"


def domain_parts(name: str) -> list[str]:
    """The single domains a (possibly multi-source) domain name pools, in order."""
    return [part.strip() for part in name.split(SOURCES_SEP)]


#: THE definition of a row: (column, Arrow type, value before the cell sets it). The Parquet schema
#: and the empty row of a cell (``new_row``) derive from this list; a new column is added here, once,
#: with its default. Which columns a row takes from its cell says ``bench.plan.cells.CELL_FIELDS``.
COLUMNS: list[tuple[str, pa.DataType, Any]] = [
    # identity (``bench.plan.cells.IDENTITY_COLUMNS``): what the cell is
    ("run_id", _STR, ""), ("suite", _STR, ""), ("cell_key", _STR, ""), ("backbone", _STR, ""),
    ("strategy", _STR, ""), ("hparams", _STR, "{}"), ("source_domain", _STR, ""),
    ("target_domain", _STR, ""), ("label_budget", _STR, ""), ("seed", _I64, 0),
    ("selection_rule", _STR, ""),
    # hyper-parameter trial of a search (0 = the strategy's defaults); hparams holds its values
    ("trial", _I64, 0),
    # protocol choices (docs/training-protocols.md): joint / two-stage training, inductive / transductive target
    ("protocol", _STR, "two_stage"), ("target_split", _STR, "inductive"),
    # hash of everything in the cell that is not identity (steps, lr, selection, ...): rows whose
    # protocol_hash differs were measured under different protocols and are never pooled or compared
    ("protocol_hash", _STR, ""),
    # accuracy, in percent; forgetting and gain in points
    ("target_acc", _F64, NAN), ("target_acc_before", _F64, NAN), ("source_acc_before", _F64, NAN),
    ("source_acc_after", _F64, NAN), ("forgetting", _F64, NAN), ("target_gain", _F64, NAN),
    # cost
    ("trainable_params", _I64, 0), ("total_params", _I64, 0), ("train_samples_per_s", _F64, NAN),
    ("infer_samples_per_s", _F64, NAN), ("peak_mem_allocated_bytes", _I64, 0),
    ("peak_mem_reserved_bytes", _I64, 0), ("mem_kind", _STR, "cpu_rss"), ("mem_baseline_bytes", _I64, 0),
    ("adapt_wall_s", _F64, NAN), ("source_wall_s", _F64, NAN), ("steps", _I64, 0),
    ("source_cached", _BOOL, False), ("batch_size", _I64, 0), ("adapter_bytes", _I64, None),
    # domain alignment: proxy A-distance between source and target features, before / after
    ("a_distance_before", _F64, NAN), ("a_distance_after", _F64, NAN),
    # transferability of the source model, before adaptation (bench/cell/transferability.py); NaN at
    # label budget 0
    ("logme", _F64, NAN), ("leep", _F64, NAN), ("nce", _F64, NAN), ("hscore", _F64, NAN),
    # numeric precision of training and evaluation (fp32, tf32, bf16, fp16); with compile on, the
    # first adaptation step's wall time, which holds the compilation (NaN when off)
    ("precision", _STR, "fp32"), ("compile_s", _F64, NAN),
    # in-run selection (``selection_rule`` other than last): the adaptation step whose weights the
    # row measures (= steps: the final weights); null without in-run selection and in older rows
    ("selection_step", _I64, None),
    # anything else a strategy or stage wants on record, as a JSON object
    ("extra", _STR, "{}"),
    # outcome
    ("status", _STR, "failed"), ("error", _STR, ""),
    # provenance
    ("started_at", _TIME, None), ("finished_at", _TIME, None),
    ("git_sha", _STR, ""), ("package_versions", _STR, "{}"), ("device_name", _STR, ""), ("host", _STR, ""),
]
SCHEMA = pa.schema([(name, kind) for name, kind, _ in COLUMNS],
                   metadata={VERSION_KEY: str(SCHEMA_VERSION).encode()})


def new_row() -> dict[str, Any]:
    """A row with every column at its default (accuracies NaN, counts 0, status ``failed``)."""
    return {name: default for name, _, default in COLUMNS}


def hparams_label(hparams: dict[str, Any] | str | None) -> str:
    """``rank=4,alpha=8``: a cell's hyper-parameters as tables, logs and the grid print them."""
    hp = json.loads(hparams or "{}") if isinstance(hparams, str) or hparams is None else hparams
    return ",".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in sorted(hp.items()) if v is not None)


STATUSES = ("ok", "failed", "oom", "diverged", "skipped")

#: what a declared cell (``_runs/<id>.json``) or a row must name for a reader to place it in a table
CORE_IDENTITY = ("cell_key", "backbone", "strategy", "source_domain", "target_domain", "label_budget", "seed")
#: the columns select() reads from a checkpoint table (``bench.cell.checkpoints``)
CHECKPOINT_COLUMNS = ("cell_key", "step", "target_acc", "source_acc")
#: the columns every in-run selection table has (``ResultsDir.selection_table``), beside its
#: rule's ``score_<rule>``
SELECTION_COLUMNS = ("cell_key", "step", "final", "kept")
