"""Cells: the unit of work, storage and resumption, and how a suite expands to them.

A :class:`Cell` carries all that determines its result. What each of its fields is, and so what
its key, protocol hash, source key and identity columns hold, is said once, in the tables
:data:`CELL_FIELDS`, :data:`BACKBONE_FIELDS` and :data:`TRAIN_FIELDS`; the hashes and
:func:`identity_row` are derived from them. :func:`expand` turns a validated
:class:`~bench.plan.suite.Suite` into cells.
"""
from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr

from bench.backbones.spec import BackboneSpec
from bench.plan.protocol import Protocol, TargetSplit
from bench.plan.suite import Budget, StrategyEntry, Suite, entry_backbone, entry_space, stage_configs
from bench.results import SCHEMA, hparams_label
from bench.search import draw
from bench.strategies.declared import declared
from bench.train.config import TrainConfig

#: bump when the protocol of one cell changes so that old results are not reused
PROTOCOL_VERSION = 1


class _Never:
    def __repr__(self) -> str:
        return "NEVER"


#: ``omit_at`` of a field that every hash holds at every value
NEVER: Any = _Never()


@dataclass(frozen=True)
class CellField:
    """One line of the tables: what a field is, and so where it goes.

    ``role``: ``identity`` says *which* cell it is (in the key, not in the protocol hash);
    ``protocol`` says how the cell is measured (in the key and the protocol hash); ``speed`` changes
    how fast a cell runs, never what it computes (in no hash); ``label`` names where the cell came
    from (the suite: in no hash). A field of a nested table (a backbone, a training stage) goes
    wherever its parent goes, unless its role is ``speed``.

    ``omit_at``: a field added after results were first stored is left out of the hashes while it
    holds this value (the one meaning "as before"), so the cells that do not use it keep their keys
    and stored results and baselines still match. ``protocol_hash_keeps`` (fields the protocol hash
    held from its start): the protocol hash keeps it even at ``omit_at``; the key leaves it out.

    ``name``: its name inside the hashes, where that differs (``protocol`` holds PROTOCOL_VERSION
    there, so the protocol mode is ``protocol_mode``). ``source_key``: its name in the source key,
    the identity of the source stage (None: the source stage does not depend on it). ``column``:
    the results column that records it, ``to_column`` the conversion (None: as it is).
    ``fields``: the table of the nested model it holds.
    """

    role: Literal["identity", "protocol", "speed", "label"]
    omit_at: Any = NEVER
    protocol_hash_keeps: bool = False
    name: str | None = None
    source_key: str | None = None
    column: str | None = None
    to_column: Callable[[Any], Any] | None = None
    fields: dict[str, "CellField"] | None = None


def identity_field(**kw: Any) -> CellField:
    return CellField("identity", **kw)


def protocol_field(**kw: Any) -> CellField:
    return CellField("protocol", **kw)


SPEED = CellField("speed")

#: a backbone as a suite names it (:class:`~bench.backbones.BackboneSpec`)
BACKBONE_FIELDS: dict[str, CellField] = {
    "name": identity_field(),
    "pretrained": identity_field(),
    "input_size": identity_field(),
    "kwargs": identity_field(),
    "bottleneck": identity_field(omit_at=None),
    "bottleneck_kind": identity_field(omit_at="bn_relu"),
    "source_steps": identity_field(omit_at=None),
    "label": identity_field(omit_at=None),
    "precision": SPEED,  # keyed through the cell's own precision, which this one sets
    "channels_last": SPEED,
    "compile": SPEED,
}
#: a training stage (:class:`~bench.train.config.TrainConfig`): the source stage's and the adaptation's
TRAIN_FIELDS: dict[str, CellField] = {
    "steps": protocol_field(),
    "batch_size": protocol_field(),
    "lr": protocol_field(),
    "optimizer": protocol_field(),
    "weight_decay": protocol_field(),
    "momentum": protocol_field(),
    "nesterov": protocol_field(omit_at=False),
    "schedule": protocol_field(omit_at="constant"),
    "anneal_gamma": protocol_field(omit_at=0.001),
    "anneal_power": protocol_field(omit_at=0.75),
    "warmup_steps": protocol_field(omit_at=0),
    "backbone_lr_mult": protocol_field(omit_at=1.0),
    "epochs": protocol_field(omit_at=None),
    "iterations_per_epoch": protocol_field(omit_at=None),
}
#: THE table of a cell's fields: a new field of :class:`Cell` is one more line here
CELL_FIELDS: dict[str, CellField] = {
    "suite": CellField("label", column="suite"),
    "backbone": identity_field(fields=BACKBONE_FIELDS, source_key="backbone", column="backbone",
                         to_column=lambda spec: spec.display_name),
    "strategy": identity_field(column="strategy"),
    "hparams": identity_field(column="hparams", to_column=lambda hp: json.dumps(hp, sort_keys=True)),
    "source_domain": identity_field(source_key="source", column="source_domain"),
    "target_domain": identity_field(column="target_domain"),
    "label_budget": identity_field(column="label_budget", to_column=str),
    "seed": identity_field(source_key="seed", column="seed"),
    "trial": identity_field(omit_at=0, column="trial"),
    "source": protocol_field(fields=TRAIN_FIELDS, source_key="train"),
    "adapt": protocol_field(fields=TRAIN_FIELDS, column="batch_size",
                            to_column=lambda stage: stage.batch_size),
    "selection": protocol_field(column="selection_rule"),
    "protocol": protocol_field(omit_at="two_stage", name="protocol_mode", column="protocol"),
    "target_split": protocol_field(omit_at="inductive", column="target_split"),
    "checkpoints": protocol_field(omit_at=0, protocol_hash_keeps=True),
    "target_val": protocol_field(omit_at=0, protocol_hash_keeps=True),
    "precision": protocol_field(omit_at="fp32", protocol_hash_keeps=True, source_key="precision",
                                column="precision"),
    "data_on_device": SPEED,
}
#: the results columns :func:`identity_row` fills: the cell's own, its key and protocol hash, the run
IDENTITY_COLUMNS = ("run_id", "cell_key", "protocol_hash",
                    *(f.column for f in CELL_FIELDS.values() if f.column))

#: which fields each hash holds, and under which name (None: not held)
HeldAs = Callable[[str, CellField], "str | None"]


def _in_key(name: str, f: CellField) -> str | None:
    return f.name or name if f.role in ("identity", "protocol") else None


def _in_protocol_hash(name: str, f: CellField) -> str | None:
    return f.name or name if f.role == "protocol" else None


def _in_source_key(name: str, f: CellField) -> str | None:
    return f.source_key


def _hashed(table: dict[str, CellField], values: dict[str, Any], held_as: HeldAs,
            protocol_hash: bool = False) -> dict[str, Any]:
    """``values`` (a model's JSON dump) as a hash holds them: the fields ``held_as`` names, each
    left out at its ``omit_at``; a nested table's fields go where their parent goes."""
    out = {}
    for name, f in table.items():
        held = held_as(name, f)
        if held is None:
            continue
        value = values[name] if name in values else f.omit_at  # a dump may leave unset fields out
        if value == f.omit_at and not (protocol_hash and f.protocol_hash_keeps):
            continue
        if f.fields is not None:
            value = _hashed(f.fields, value, _in_key, protocol_hash)
        out[held] = value
    return out


def _versioned_hash(ident: dict[str, Any]) -> str:
    return stable_hash({**ident, "protocol": PROTOCOL_VERSION})


def stable_hash(obj: Any) -> str:
    """16 hex digits of sha256 over canonical JSON: the same content always gives the same key."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def backbone_ident(spec: BackboneSpec) -> dict[str, Any]:
    """The backbone as far as results depend on it: its fields that the hashes hold."""
    return _hashed(BACKBONE_FIELDS, spec.model_dump(mode="json"), _in_key)


class Cell(BaseModel):
    """One unit of work, storage and resumption."""

    model_config = ConfigDict(frozen=True)

    suite: str
    backbone: BackboneSpec
    strategy: str
    hparams: dict[str, Any]
    source_domain: str
    target_domain: str
    label_budget: Budget
    seed: int
    source: TrainConfig
    adapt: TrainConfig
    selection: str
    protocol: Protocol = "two_stage"
    target_split: TargetSplit = "inductive"
    #: hyper-parameter trial (0 = the strategy's defaults); ``hparams`` holds its values
    trial: int = 0
    #: validator evaluations during adaptation (0 = none)
    checkpoints: int = 0
    #: target labels per class carved out of the budget for the ``target_val`` validator
    target_val: int = 0
    precision: str = "fp32"
    data_on_device: bool = False
    #: a stand-in's planned cell key (:func:`smaller_batch`); in no hash and no dump
    _filed_under: str | None = PrivateAttr(default=None)

    def key(self) -> str:
        """Stable hash of what determines the result: the fields :data:`CELL_FIELDS` marks
        ``identity`` or ``protocol``, each left out at its ``omit_at``."""
        return _versioned_hash(_hashed(CELL_FIELDS, self.model_dump(mode="json"), _in_key))

    def row_key(self) -> str:
        """The key the cell's row and checkpoint table are filed under (the row's ``cell_key``):
        :meth:`key`, except for a stand-in made by :func:`smaller_batch`, which is filed under the
        planned cell's key (the one the suite declared, resume looks for and reports join on)."""
        return self._filed_under or self.key()

    def protocol_hash(self) -> str:
        """Stable hash of how the cell is measured: the fields :data:`CELL_FIELDS` marks
        ``protocol``. Rows with different hashes are never pooled or compared."""
        return _versioned_hash(_hashed(CELL_FIELDS, self.model_dump(mode="json"), _in_protocol_hash,
                                       protocol_hash=True))

    def source_key(self) -> str:
        """What the source stage depends on (the fields with a ``source_key`` name): cells sharing
        it share one source model."""
        return _versioned_hash(_hashed(CELL_FIELDS, self.model_dump(mode="json"), _in_source_key))

    @property
    def pair(self) -> str:
        return f"{self.source_domain}->{self.target_domain}"

    def describe(self) -> str:
        hp = hparams_label(self.hparams)
        trial = f" trial={self.trial}" if self.trial else ""
        proto = "".join(f" {v}" for v, d in ((self.protocol, "two_stage"), (self.target_split, "inductive"))
                        if v != d)
        proto += f" {self.precision}" if self.precision != "fp32" else ""
        return (f"{self.backbone.name} {self.strategy}{trial}{'(' + hp + ')' if hp else ''} "
                f"{self.pair} budget={self.label_budget} seed={self.seed}{proto}")


def smaller_batch(cell: Cell, batch_size: int) -> Cell:
    """``cell`` at a smaller adaptation batch, run in its place by ``bench run --oom-backoff``.

    A stand-in: it trains at ``batch_size`` (its row's ``batch_size`` and ``protocol_hash`` say
    so), and its row and checkpoint table are filed under the planned cell's key
    (:meth:`Cell.row_key`), so resume, reports and ``bench reproduce`` find them as that cell's."""
    stand_in = cell.model_copy(update={"adapt": cell.adapt.model_copy(update={"batch_size": batch_size})})
    stand_in._filed_under = cell.row_key()
    return stand_in


def identity_row(cell: Cell, run_id: str = "") -> dict[str, Any]:
    """The columns a row takes from its cell (:data:`IDENTITY_COLUMNS`), in the schema's order;
    its ``cell_key`` is :meth:`Cell.row_key`."""
    row = {f.column: f.to_column(getattr(cell, name)) if f.to_column else getattr(cell, name)
           for name, f in CELL_FIELDS.items() if f.column}
    row.update(run_id=run_id, cell_key=cell.row_key(), protocol_hash=cell.protocol_hash())
    return {name: row[name] for name in SCHEMA.names if name in row}


def entry_trials(suite: Suite, entry: StrategyEntry) -> list[dict[str, Any]]:
    """Validated hyper-parameters of each trial of an entry; trial 0 is the defaults, and a
    strategy with nothing to search has only trial 0."""
    cls, space = declared(entry.name), entry_space(entry)
    n = (entry.trials or suite.trials) if space else 1
    return [cls.validate_hparams({**entry.hparams, **draw(entry.name, t, space, suite.search_seed)}, name=entry.name)
            for t in range(n)]


def expand(suite: Suite) -> list[Cell]:
    """The suite's cells in a stable order: its own grid's, then each ``also`` grid's
    (bench/plan/grids.py); only those of the grids ``suite.grids`` names, when set."""
    from bench.plan.grids import selected_grids

    return [cell for grid in selected_grids(suite) for cell in _expand_grid(grid)]


def _expand_grid(suite: Suite) -> list[Cell]:
    """One grid's cells in a stable order (backbone, pair, seed outermost: cache-friendly)."""
    trials = [entry_trials(suite, entry) for entry in suite.strategies]
    cells = []
    for bb, pair, seed, (entry, hps) in itertools.product(suite.backbones, suite.pairs, suite.seeds,
                                                          zip(suite.strategies, trials)):
        # the entry's own backbone fields and training fields, then the pair's (suite.py)
        backbone, (source, adapt) = entry_backbone(bb, entry), stage_configs(suite, entry, pair)
        for trial, hp in enumerate(hps):
            for budget in entry.label_budgets or suite.label_budgets:
                cells.append(Cell(suite=suite.name, backbone=backbone, strategy=entry.name, hparams=hp,
                                  source_domain=pair.source, target_domain=pair.target,
                                  label_budget=budget, seed=seed, source=source,
                                  adapt=adapt, selection=suite.selection, trial=trial,
                                  checkpoints=suite.checkpoints, target_val=suite.target_val,
                                  protocol=suite.protocol, target_split=suite.target_split,
                                  precision=backbone.precision or suite.precision,
                                  data_on_device=suite.data_on_device))
    return cells
