"""Suite files: a YAML grid, validated with pydantic, that expands to cells (:mod:`bench.plan.cells`).

A suite is backbones x strategies x domain pairs x label budgets x seeds. Every cell carries all
that determines its result; its key is a stable hash of exactly that (see ``Cell.key``).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Sequence

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bench.backbones.spec import BACKBONES, BackboneSpec, asks_for_remote_code
from bench.data.registry import DOMAINS
from bench.errors import SuiteError
from bench.extras import missing_message
from bench.plan.overrides import apply_overrides
from bench.plan.pairs import joined as _joined, leave_one_out_pairs
from bench.plan.protocol import Protocol, Selection, TargetSplit
from bench.results import ResultsDir
from bench.results.schema import SOURCES_SEP, domain_parts
from bench.search import merged_space
from bench.strategies.declared import STRATEGIES, declared
from bench.train.config import TrainConfig, override

Budget = int | Literal["all"]
#: every generator a cell seeds takes this range (numpy's legacy and sklearn's random_state stop at
#: 2**32 - 1, none takes a negative seed; the results column is int64)
MAX_SEED = 2**32 - 1
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]


class Resources(BaseModel):
    """What one cell asks a scheduler for (``--executor ray``); fractions share a GPU between cells."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

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
    #: training fields this entry changes in the suite's ``adapt`` stage (a method's own weight
    #: decay or annealing constant, as published recipes give them per method)
    adapt: dict[str, Any] | None = None
    #: backbone fields this entry changes (not ``name``), e.g. ``{bottleneck: null}``: the
    #: literature's methods each bring their own neck between backbone and head
    backbone: dict[str, Any] | None = None

    @field_validator("adapt")
    @classmethod
    def _adapt_is_a_stage(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _stage_fields(value)

    @field_validator("backbone")
    @classmethod
    def _backbone_keeps_its_name(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value and "name" in value:
            raise ValueError("a strategy entry may change backbone fields but not the backbone's name")
        return value

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
    """A source (one domain, or several joined by ``+``: pooled, batches balanced over them) and a
    target domain; ``train`` changes fields of both training stages for this pair only (recipes
    that tune per direction, e.g. a learning rate per pair)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    target: str
    train: dict[str, Any] | None = None

    @field_validator("train")
    @classmethod
    def _train_is_a_stage(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _stage_fields(value)

    @property
    def label(self) -> str:
        return f"{self.source}->{self.target}"

    @property
    def sources(self) -> list[str]:
        return domain_parts(self.source)


def parse_pair(item: Any) -> list[Any]:
    """One entry of ``pairs`` as the pair mappings it stands for.

    ``"a -> t"``; ``"a, b, c -> t"`` or ``"a + b + c -> t"`` (several sources, pooled);
    ``{source: a, target: t}``; ``{sources: [a, b], target: t}``; ``{leave_one_out: [a, b, c]}``
    (DomainBed's protocol: each domain in turn is the target, the others the sources, in order),
    optionally with ``lodo_validation: true`` (``bench.plan.pairs``)."""
    if isinstance(item, str):
        if "->" not in item:
            raise ValueError(f"pair {item!r} must look like 'source -> target' or 'a, b -> target'")
        src, tgt = (s.strip() for s in item.split("->", 1))
        return [{"source": _joined(src.replace(",", SOURCES_SEP).split(SOURCES_SEP)), "target": tgt}]
    if isinstance(item, dict) and "leave_one_out" in item:
        return leave_one_out_pairs(item)
    if isinstance(item, dict) and "sources" in item:
        rest = {k: v for k, v in item.items() if k != "sources"}
        if not isinstance(item["sources"], list) or not item["sources"]:
            raise ValueError("sources takes a list of domain names")
        return [{**rest, "source": _joined(item["sources"])}]
    return [item]


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
    seeds: list[Seed] = Field(default_factory=lambda: [0], min_length=1)
    source: TrainConfig = TrainConfig()
    adapt: TrainConfig = TrainConfig(steps=200)
    #: how the adapted model is chosen in the run: ``last`` or a validator (bench/cell/selection.py)
    selection: Selection = "last"
    #: two_stage (cached source stage, then adaptation) or joint (DA methods train from the initial
    #: weights on source + target together); see bench/plan/protocol.py
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
    #: fp32 (default), tf32, bf16 or fp16 for training and evaluation (see bench.train.precision);
    #: a backbone's own ``precision`` wins
    precision: Literal["fp32", "tf32", "bf16", "fp16"] = "fp32"
    #: keep each domain's whole (uint8) input cache on the GPU: batches are then gathered there
    #: (Office-31 at 224 px is 0.6 GB); off: batches are gathered on the host and copied
    data_on_device: bool = False
    threads: int | None = Field(2, ge=1)
    #: per cell, for executors that schedule (Ray); not part of a cell's key
    resources: Resources = Resources()
    #: more grids whose cells join the suite's, each setting some axes (bench/plan/grids.py)
    also: list[dict[str, Any]] = []
    #: only these grids' cells (0: the suite's own, 1, 2, ...: its ``also`` grids in order), e.g.
    #: ``bench run S -o grids=[1]``; None: all. Selecting changes no cell's key
    grids: list[int] | None = None

    @field_validator("name")
    @classmethod
    def _name_is_one_path_component(cls, value: str) -> str:
        return ResultsDir.check_name(value)

    @field_validator("pairs", mode="before")
    @classmethod
    def _parse_pairs(cls, value: Any) -> Any:
        return [pair for item in (value if isinstance(value, list) else [value]) for pair in parse_pair(item)]

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
            _known(BACKBONES, b.name)
        return value

    @field_validator("strategies")
    @classmethod
    def _strategies_exist(cls, value: list[StrategyEntry]) -> list[StrategyEntry]:
        for s in value:
            _known(STRATEGIES, s.name)
            cls_ = declared(s.name)  # its Hparams and flags, without importing torch
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
        needs = [(f"strategy {s.name}", m) for s in self.strategies for m in declared(s.name).requires]
        needs += [(f"backbone {b.name}", m) for b in self.backbones for m in BACKBONES.requires(b.name)]
        message = missing_message(needs)
        if message:
            raise ValueError(message)
        return self

    @model_validator(mode="after")
    def _entry_backbones_validate(self) -> "Suite":
        """Each backbone as a strategy entry changes it (its ``backbone`` fields) must still be one."""
        for entry in self.strategies:
            for bb in self.backbones:
                entry_backbone(bb, entry)
        for entry in self.strategies:  # the merged stages, so a bad combination fails at load
            for pair in self.pairs:
                stage_configs(self, entry, pair)
        return self

    @model_validator(mode="after")
    def _also_grids_validate(self) -> "Suite":
        from bench.plan.grids import selected_grids  # it builds Suites; each grid must validate
        selected_grids(self)  # and the chosen ones must exist
        return self

    @field_validator("pairs")
    @classmethod
    def _domains_exist(cls, value: list[Pair]) -> list[Pair]:
        for p in value:
            for d in (*p.sources, p.target):
                _known(DOMAINS, d)
            # one source equal to the target is the no-shift control (`digits -> digits`); with
            # several sources the target must be held out, and no source may count twice
            multi = len(p.sources) > 1
            if (multi and p.target in p.sources) or len(set(p.sources)) < len(p.sources):
                raise ValueError(f"pair {p.label}: a domain is named twice (with several sources the "
                                 "target may not be one of them, nor a source listed twice)")
        return value


def _stage_fields(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """``value`` if it is a valid set of training-stage fields, else ValueError naming the field."""
    if value:
        try:
            override(TrainConfig(), value)
        except ValidationError as e:
            errs = "; ".join(f"{'.'.join(map(str, x['loc'])) or 'steps'}: {x['msg']}" for x in e.errors())
            raise ValueError(f"training-stage fields: {errs}") from None
    return value


def _known(registry: Any, name: str) -> None:
    """A name the registry serves, else the registry's message (close matches, what exists)."""
    if name not in registry:
        raise ValueError(registry.unknown_message(name))


class SuiteLoader(yaml.SafeLoader):
    """YAML 1.2 booleans: only ``true`` / ``false``. PyYAML's YAML 1.1 default reads ``off``, ``no``,
    ``on``, ``yes`` as booleans, so ``name: off`` (a perfectly good suite or strategy name) became
    ``false``; here they stay strings. A key twice in one mapping is an error (PyYAML keeps the
    last one silently, so the first setting would be ignored without a word)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise DuplicateKey(key, seen[key], line)
                seen[key] = line
            except TypeError:  # an unhashable key: PyYAML's own message says so
                break
        return super().construct_mapping(node, deep)


class DuplicateKey(yaml.YAMLError):
    def __init__(self, key, first: int, again: int):
        super().__init__(f"key {key!r} is given twice in one mapping (lines {first} and {again}); "
                         "keep one of them")


SuiteLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
SuiteLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                  list("tTfF"))


def load_suite(path: str | Path, allow_remote_code: bool = False, overrides: Sequence[str] = ()) -> Suite:
    """Read and validate a suite file, with ``overrides`` (``PATH=VALUE``, see
    :mod:`bench.plan.overrides`) set in it first; any problem becomes a :class:`SuiteError`.

    A backbone with ``kwargs: {trust_remote_code: true}`` would run the Python files of its model
    folder (a suite is data, never code): refused unless ``allow_remote_code``."""
    path = Path(path)
    try:
        raw = yaml.load(path.read_bytes().decode("utf-8"), Loader=SuiteLoader)  # noqa: S506 - a SafeLoader subclass
    except FileNotFoundError:
        raise SuiteError(f"suite file {path} does not exist (suites live in suites/*.yaml)") from None
    except UnicodeDecodeError as e:
        raise SuiteError(f"{path} is not a text suite: byte {e.start} is not UTF-8 (a suite is a "
                         "YAML text file in UTF-8)") from None
    except OSError as e:
        raise SuiteError(f"suite file {path} cannot be read: {e.strerror or e}") from None
    except DuplicateKey as e:
        raise SuiteError(f"{path}: {e}") from None
    except yaml.YAMLError as e:
        raise SuiteError(f"{path} is not valid YAML: {' '.join(str(e).split())}") from None  # one line
    if not isinstance(raw, dict):
        raise SuiteError(f"{path}: expected a mapping with keys name, backbones, strategies, pairs, ...")
    raw.setdefault("name", path.stem)
    raw = apply_overrides(raw, overrides, Suite, SuiteLoader)
    try:
        suite = Suite.model_validate(raw)
    except ValidationError as e:
        problems = [f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
                    for err in e.errors()]
        if len(problems) == 1:  # the usual case: one line
            raise SuiteError(f"{path} does not validate: {problems[0]}") from None
        raise SuiteError("\n  ".join([f"{path} does not validate:", *problems])) from None
    remote = [b.display_name for b in suite.backbones if asks_for_remote_code(b)]
    if remote and not allow_remote_code:
        raise SuiteError(f"{path}: backbone {', '.join(remote)} sets trust_remote_code, which runs the "
                         f"Python files of its model folder; remove it, or pass --allow-remote-code "
                         f"to bench run if you trust that folder's code")
    return suite


def entry_backbone(spec: BackboneSpec, entry: StrategyEntry) -> BackboneSpec:
    """The backbone as ``entry`` trains it: ``spec`` with the entry's ``backbone`` fields."""
    if not entry.backbone:
        return spec
    return BackboneSpec.model_validate({**spec.model_dump(), **entry.backbone})


def stage_configs(suite: Suite, entry: StrategyEntry, pair: Pair) -> tuple[TrainConfig, TrainConfig]:
    """(source, adapt) stages of the cells of ``entry`` on ``pair``: the suite's, then the entry's
    ``adapt`` fields (adapt only), then the pair's ``train`` fields (both stages); later wins."""
    source = override(suite.source, pair.train)
    adapt = override(override(suite.adapt, entry.adapt), pair.train)
    return source, adapt


def entry_space(entry: StrategyEntry) -> dict[str, Any]:
    """The search space of one suite entry: the strategy's own, overridden by the entry's
    ``search``, without the hyper-parameters the entry fixes."""
    return merged_space(declared(entry.name).search_space, entry.search, entry.hparams)
