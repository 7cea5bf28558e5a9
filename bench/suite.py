"""Suite files: a YAML grid, validated with pydantic, that expands to :class:`Cell` s.

A suite is backbones x strategies x domain pairs x label budgets x seeds. Every cell carries all
that determines its result; its key is a stable hash of exactly that (see :meth:`Cell.key`).
"""
from __future__ import annotations

import hashlib
import itertools
import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bench.backbones import BACKBONES, BackboneSpec
from bench.errors import SuiteError
from bench.config import TrainConfig  # noqa: F401 - part of the suite's public surface
from bench.protocol import Protocol, TargetSplit
from bench.results import hparams_label

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


Budget = int | Literal["all"]


class Resources(BaseModel):
    """What one cell asks a scheduler for (``--executor ray``); fractions share a GPU between cells."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpus: float = Field(1, gt=0)
    gpus: float = Field(0, ge=0)


class StrategyEntry(BaseModel):
    """``{name: lora, rank: 8, ...}``: a strategy and its hyper-parameters (checked per strategy).

    ``label_budgets`` (optional) replaces the suite's budgets for this entry, e.g. to run
    ``target_only`` also at ``all`` as the supervised ceiling without multiplying every strategy.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str
    label_budgets: list[Budget] | None = None
    #: hyper-parameter trials for this entry (the suite's ``trials`` when unset); trial 0 = defaults
    trials: int | None = Field(None, ge=1)
    #: dimensions replacing the strategy's ``search_space`` ones, e.g. ``lr: loguniform(1e-4, 1e-2)``
    search: dict[str, Any] | None = None

    @field_validator("label_budgets")
    @classmethod
    def _budgets_non_negative(cls, value: list[Budget] | None) -> list[Budget] | None:
        return value if value is None else check_budgets(value)

    @property
    def hparams(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def check_budgets(value: list[Budget]) -> list[Budget]:
    if any(isinstance(b, int) and b < 0 for b in value):
        raise ValueError("label budgets are 0, a positive number of labels per class, or 'all'")
    return value


class Pair(BaseModel):
    model_config = ConfigDict(frozen=True)

    source: str
    target: str

    @property
    def label(self) -> str:
        return f"{self.source}->{self.target}"


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    backbones: list[BackboneSpec] = Field(min_length=1)
    strategies: list[StrategyEntry] = Field(min_length=1)
    #: ``"source -> target"`` strings or ``{source, target}`` mappings
    pairs: list[Pair] = Field(min_length=1)
    #: labelled target-train examples per class the strategy may use: 0, k, or "all"
    label_budgets: list[Budget] = Field(default_factory=lambda: ["all"], min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    source: TrainConfig = TrainConfig()
    adapt: TrainConfig = TrainConfig(steps=200)
    #: how the adapted model is chosen; only rules that use data the strategy may see
    #: (``target_entropy``: lowest mean prediction entropy on unlabelled target-train inputs)
    selection: Literal["last", "source_val", "target_entropy"] = "last"
    #: two_stage (cached source stage, then adaptation) or joint (DA methods train from the initial
    #: weights on source + target together); see bench/protocol.py
    protocol: Protocol = "two_stage"
    #: inductive (unlabelled target = target-train, measured on disjoint target-test) or
    #: transductive (unlabelled target = the whole target domain, measured on the same images)
    target_split: TargetSplit = "inductive"
    #: hyper-parameter trials per strategy entry (trial 0 = the defaults; see bench/search.py)
    trials: int = Field(1, ge=1)
    #: seeds the trial draws; change it for a fresh search, never needed otherwise
    search_seed: int = 0
    #: evaluations of every validator during adaptation (K, evenly spaced, the last one on the final
    #: weights), written to <results>/_checkpoints/<cell_key>.parquet; 0 = none
    checkpoints: int = Field(0, ge=0)
    #: labelled target examples per class held out of the label budget for the ``target_val``
    #: validator (the strategy trains on the rest of its budget); 0 = none
    target_val: int = Field(0, ge=0)
    device: str = "auto"
    #: fp32 (default), tf32, bf16 or fp16 for training and evaluation (see bench.precision);
    #: a backbone's own ``precision`` wins
    precision: Literal["fp32", "tf32", "bf16", "fp16"] = "fp32"
    #: keep each domain's whole (uint8) input cache on the GPU: batches are then gathered there
    #: (Office-31 at 224 px is 0.6 GB); off: batches are gathered on the host and copied
    data_on_device: bool = False
    threads: int | None = Field(2, ge=1)
    #: per cell, for executors that schedule (Ray); not part of a cell's key
    resources: Resources = Resources()

    @field_validator("pairs", mode="before")
    @classmethod
    def _parse_pairs(cls, value: Any) -> Any:
        out = []
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                if "->" not in item:
                    raise ValueError(f"pair {item!r} must look like 'source -> target'")
                src, tgt = (s.strip() for s in item.split("->", 1))
                item = {"source": src, "target": tgt}
            out.append(item)
        return out

    @field_validator("backbones", "strategies", mode="before")
    @classmethod
    def _names_to_mappings(cls, value: Any) -> Any:
        return [{"name": v} if isinstance(v, str) else v for v in value]

    @field_validator("label_budgets")
    @classmethod
    def _budgets_non_negative(cls, value: list[Budget]) -> list[Budget]:
        return check_budgets(value)

    @field_validator("seeds", "label_budgets", "pairs", "backbones", "strategies")
    @classmethod
    def _no_duplicates(cls, value: list, info: Any) -> list:
        """``seeds: [0, 0]`` would run one cell twice and count it twice: refuse it."""
        seen, dups = set(), []
        for v in value:
            key = v.model_dump_json() if isinstance(v, BaseModel) else json.dumps(v)
            if key in seen:
                dups.append(getattr(v, "name", None) or getattr(v, "label", None) or v)
            seen.add(key)
        if dups:
            raise ValueError(f"listed twice: {', '.join(map(str, dups))}; each {info.field_name[:-1]} "
                             "may appear once")
        return value

    @field_validator("backbones")
    @classmethod
    def _backbones_exist(cls, value: list[BackboneSpec]) -> list[BackboneSpec]:
        for b in value:
            if b.name not in BACKBONES:
                raise ValueError(BACKBONES.unknown_message(b.name))
        return value

    @field_validator("strategies")
    @classmethod
    def _strategies_exist(cls, value: list[StrategyEntry]) -> list[StrategyEntry]:
        from bench.strategies import STRATEGIES

        for s in value:
            if s.name not in STRATEGIES:
                raise ValueError(STRATEGIES.unknown_message(s.name))
            cls_ = STRATEGIES.get(s.name)
            cls_.validate_hparams(s.hparams, name=s.name)  # names the field and values
            space = entry_space(s)
            unknown = sorted(set(space) - set(cls_.Hparams.model_fields))
            if unknown:
                raise ValueError(f"{s.name}: search dimensions {unknown} are not hyper-parameters "
                                 f"(its hyper-parameters: {', '.join(cls_.Hparams.model_fields)})")
        return value

    @model_validator(mode="after")
    def _extras_installed(self) -> "Suite":
        """A strategy or backbone whose optional package is missing: say the pip command now."""
        from bench.extras import missing_message
        from bench.strategies import STRATEGIES

        needs = [(f"strategy {s.name}", m) for s in self.strategies for m in STRATEGIES.get(s.name).requires]
        needs += [(f"backbone {b.name}", m) for b in self.backbones
                  for m in getattr(BACKBONES.get(b.name), "requires", ())]
        message = missing_message(needs)
        if message:
            raise ValueError(message)
        return self

    @field_validator("pairs")
    @classmethod
    def _domains_exist(cls, value: list[Pair]) -> list[Pair]:
        from bench.data import DOMAINS

        for p in value:
            for d in (p.source, p.target):
                if d not in DOMAINS:
                    raise ValueError(DOMAINS.unknown_message(d))
        return value


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


class SuiteLoader(yaml.SafeLoader):
    """YAML 1.2 booleans: only ``true`` / ``false``. PyYAML's YAML 1.1 default reads ``off``, ``no``,
    ``on``, ``yes`` as booleans, so ``name: off`` (a perfectly good suite or strategy name) became
    ``false``; here they stay strings."""


SuiteLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
SuiteLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                  list("tTfF"))


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite file; any problem becomes a :class:`SuiteError` naming the file."""
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(), Loader=SuiteLoader)  # noqa: S506 - a SafeLoader subclass
    except FileNotFoundError:
        raise SuiteError(f"suite file {path} does not exist (suites live in suites/*.yaml)") from None
    except yaml.YAMLError as e:
        raise SuiteError(f"{path} is not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise SuiteError(f"{path}: expected a mapping with keys name, backbones, strategies, pairs, ...")
    raw.setdefault("name", path.stem)
    try:
        return Suite.model_validate(raw)
    except ValidationError as e:
        lines = [f"{path} does not validate:"]
        for err in e.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            lines.append(f"  {where}: {err['msg']}")
        raise SuiteError("\n".join(lines)) from None


def entry_space(entry: StrategyEntry) -> dict[str, Any]:
    """The search space of one suite entry: the strategy's own, overridden by the entry's
    ``search``, without the hyper-parameters the entry fixes."""
    from bench.search import merged_space
    from bench.strategies import STRATEGIES

    return merged_space(STRATEGIES.get(entry.name).search_space, entry.search, entry.hparams)


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
