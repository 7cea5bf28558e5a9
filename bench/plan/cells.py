"""Cells: the unit of work, storage and resumption, and how a suite expands to them.

A :class:`Cell` carries all that determines its result; its key is a stable hash of exactly that
(see :meth:`Cell.key`), its protocol hash of how it is measured, its source key of what its source
stage depends on. :func:`expand` turns a validated :class:`~bench.plan.suite.Suite` into cells.
"""
from __future__ import annotations

import hashlib
import itertools
import json
from typing import Any

from pydantic import BaseModel, ConfigDict

from bench.backbones import BackboneSpec
from bench.plan.protocol import Protocol, TargetSplit
from bench.plan.suite import Budget, StrategyEntry, Suite, entry_space
from bench.results import hparams_label
from bench.train.config import TrainConfig

#: bump when the protocol of one cell changes so that old results are not reused
PROTOCOL_VERSION = 1


#: fields added after results were first stored, at the values that mean "as before": a cell that
#: leaves them there keeps the key (and source key) it had, so stored results and baselines still match
NEW_TRAIN_DEFAULTS = {"nesterov": False, "schedule": "constant", "anneal_gamma": 0.001,
                      "anneal_power": 0.75, "warmup_steps": 0, "backbone_lr_mult": 1.0, "epochs": None,
                      "iterations_per_epoch": None}
NEW_BACKBONE_DEFAULTS = {"bottleneck": None}


def drop_new_defaults(ident: dict[str, Any]) -> dict[str, Any]:
    """Remove the :data:`NEW_TRAIN_DEFAULTS` / :data:`NEW_BACKBONE_DEFAULTS` fields that sit at their
    default from a dumped cell (or source-stage identity), and the protocol fields when at theirs."""
    for stage in ("source", "adapt", "train"):
        for name, default in NEW_TRAIN_DEFAULTS.items():
            if isinstance(ident.get(stage), dict) and ident[stage].get(name, default) == default:
                ident[stage].pop(name, None)
    for name, default in NEW_BACKBONE_DEFAULTS.items():
        if isinstance(ident.get("backbone"), dict) and ident["backbone"].get(name, default) == default:
            ident["backbone"].pop(name, None)
    mode = ident.pop("protocol", "two_stage")  # the name "protocol" holds PROTOCOL_VERSION in keys
    if mode != "two_stage":
        ident["protocol_mode"] = mode
    if ident.get("target_split") == "inductive":
        del ident["target_split"]
    return ident


def stable_hash(obj: Any) -> str:
    """16 hex digits of sha256 over canonical JSON: the same content always gives the same key."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


#: backbone settings that change speed, not results (precision is keyed through Cell.precision)
SPEED_SETTINGS = ("precision", "channels_last", "compile")


def backbone_ident(spec: BackboneSpec) -> dict[str, Any]:
    """The backbone as far as results depend on it: its dump without the speed settings."""
    return {k: v for k, v in spec.model_dump(mode="json").items() if k not in SPEED_SETTINGS}


#: the fields of a Cell that say *which* cell it is; every other field says how it is measured
IDENTITY_FIELDS = {"suite", "backbone", "strategy", "hparams", "source_domain", "target_domain",
                   "label_budget", "seed", "trial"}


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

    def key(self) -> str:
        """Stable hash of what determines the result (the suite's name does not; neither do the
        speed settings, and fp32 leaves the key as it was before precision existed)."""
        ident = self.model_dump(mode="json", exclude={"suite", "data_on_device"})
        ident["backbone"] = backbone_ident(self.backbone)
        for name in ("trial", "checkpoints", "target_val"):  # added later: keys of cells that
            if ident[name] == 0:                                # do not use them stay as they were
                del ident[name]
        drop_new_defaults(ident)
        if ident["precision"] == "fp32":
            del ident["precision"]
        ident["protocol"] = PROTOCOL_VERSION
        return stable_hash(ident)

    def protocol_hash(self) -> str:
        """Stable hash of how the cell is measured: every field except what names the cell (its
        backbone, strategy and hyper-parameters, pair, budget, seed, trial, suite). Generic on
        purpose: a field added to the Cell later is part of the protocol unless listed in
        ``IDENTITY_FIELDS``. Rows with different hashes are never pooled or compared."""
        ident = drop_new_defaults(self.model_dump(mode="json", exclude=IDENTITY_FIELDS | {"data_on_device"}))  # speed only
        ident["protocol"] = PROTOCOL_VERSION
        return stable_hash(ident)

    def source_key(self) -> str:
        """What the source stage depends on: cells sharing it share one source model."""
        ident = drop_new_defaults({"backbone": backbone_ident(self.backbone),
                                   "source": self.source_domain, "seed": self.seed,
                                   "train": self.source.model_dump(mode="json")})
        ident["protocol"] = PROTOCOL_VERSION
        if self.precision != "fp32":
            ident["precision"] = self.precision
        return stable_hash(ident)

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


def entry_trials(suite: Suite, entry: StrategyEntry) -> list[dict[str, Any]]:
    """Validated hyper-parameters of each trial of an entry; trial 0 is the defaults, and a
    strategy with nothing to search has only trial 0."""
    from bench.search import draw
    from bench.strategies import STRATEGIES

    cls, space = STRATEGIES.get(entry.name), entry_space(entry)
    n = (entry.trials or suite.trials) if space else 1
    return [cls.validate_hparams({**entry.hparams, **draw(entry.name, t, space, suite.search_seed)}, name=entry.name)
            for t in range(n)]


def expand(suite: Suite) -> list[Cell]:
    """The suite's cells in a stable order (backbone, pair, seed outermost: cache-friendly)."""
    trials = [entry_trials(suite, entry) for entry in suite.strategies]
    cells = []
    for bb, pair, seed, (entry, hps) in itertools.product(suite.backbones, suite.pairs, suite.seeds,
                                                          zip(suite.strategies, trials)):
        for trial, hp in enumerate(hps):
            for budget in entry.label_budgets or suite.label_budgets:
                cells.append(Cell(suite=suite.name, backbone=bb, strategy=entry.name, hparams=hp,
                                  source_domain=pair.source, target_domain=pair.target,
                                  label_budget=budget, seed=seed, source=suite.source,
                                  adapt=suite.adapt, selection=suite.selection, trial=trial,
                                  checkpoints=suite.checkpoints, target_val=suite.target_val,
                                  protocol=suite.protocol, target_split=suite.target_split,
                                  precision=bb.precision or suite.precision,
                                  data_on_device=suite.data_on_device))
    return cells
