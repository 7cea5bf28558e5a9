"""The table of a cell's fields (bench/plan/cells.py: CELL_FIELDS, BACKBONE_FIELDS, TRAIN_FIELDS)
is the one statement of what a field is; these tests are generated from it.

Every field of a cell, of its backbone and of its training stages has a line; changing a field moves
exactly the hashes its line names; and no key moved when the hashes came to be derived from the
table: ``GOLDEN`` holds, for one cell and for each single-field change of it, the (key, protocol hash,
source key) that the code before the table computed (tag ``house-step1``). A key is a sha256 of
canonical JSON, the same on every machine. A field added later gets its checks from its line alone.
"""
from __future__ import annotations

import types
from typing import Any, Literal, Union, get_args, get_origin

import pytest
from pydantic import BaseModel

from bench.backbones import BackboneSpec
from bench.plan.cells import (BACKBONE_FIELDS, CELL_FIELDS, IDENTITY_COLUMNS, NEVER, TRAIN_FIELDS, Cell, expand,
                               identity_row)
from bench.plan.suite import Suite
from bench.results import SCHEMA, new_row, write_row
from bench.train.config import TrainConfig
from tests.sweep_helpers import tiny_suite

BASE = ("4cf3871d2d6edb04", "9d9efb0892a2a8da", "42e455140ce2cb36")
GOLDEN = {
    'suite': ('4cf3871d2d6edb04', '9d9efb0892a2a8da', '42e455140ce2cb36'),
    'backbone.name': ('a702d598ed6a0f8b', '9d9efb0892a2a8da', 'eb85f6f6008b6d32'),
    'backbone.pretrained': ('dce89f2d81f0caff', '9d9efb0892a2a8da', 'a0fd0d8564df497f'),
    'backbone.input_size': ('96fc19c3cd98b5c9', '9d9efb0892a2a8da', '96b84b844cbce921'),
    'backbone.kwargs': ('7eca2d99bddeb23f', '9d9efb0892a2a8da', '63950600790bca2c'),
    'backbone.bottleneck': ('26f1f0b7dbae9328', '9d9efb0892a2a8da', '5d72d5706a7765f9'),
    'backbone.source_steps': ('a766114dc4298a55', '9d9efb0892a2a8da', '7407b73a5073ccdb'),
    'backbone.label': ('a88aaee1c9a5c5cf', '9d9efb0892a2a8da', '73a405a4204f0341'),
    'backbone.precision': ('4cf3871d2d6edb04', '9d9efb0892a2a8da', '42e455140ce2cb36'),
    'backbone.channels_last': ('4cf3871d2d6edb04', '9d9efb0892a2a8da', '42e455140ce2cb36'),
    'backbone.compile': ('4cf3871d2d6edb04', '9d9efb0892a2a8da', '42e455140ce2cb36'),
    'strategy': ('44e1aa60972f040b', '9d9efb0892a2a8da', '42e455140ce2cb36'),
    'hparams': ('6da788f13a18b083', '9d9efb0892a2a8da', '42e455140ce2cb36'),
    'source_domain': ('b40c4f6cd367fc18', '9d9efb0892a2a8da', '4ea003d8e4db26dc'),
    'target_domain': ('05cf37d8ed70beca', '9d9efb0892a2a8da', '42e455140ce2cb36'),
    'label_budget': ('1e3c51ceba2b5a41', '9d9efb0892a2a8da', '42e455140ce2cb36'),
    'seed': ('23d6f763099394f6', '9d9efb0892a2a8da', 'db0d17eea49e87a1'),
    'source.steps': ('b76f28c227112400', 'b95cca9dde544559', 'bfbd39e4c869a905'),
    'source.batch_size': ('8cc78e3db855e08b', 'e23594fe1769d9fa', '4452e3bc61ca2e31'),
    'source.lr': ('cb773a04e5f4e33d', '7b4ea88c65a43357', 'fb7b3641b1faa547'),
    'source.optimizer': ('d763659a495bafd5', '2944a5929e84afb9', '42885f485bcc33d7'),
    'source.weight_decay': ('eff6146fdf6f796e', 'ab823b1470802722', '10cf4f8431b2b235'),
    'source.momentum': ('f7cfbc5915eb67e7', '1eb71e3979a19bac', '9ffda7a9c6ac68d5'),
    'source.nesterov': ('fa922a8f73507596', '12b3ff75a16eb500', '0dbd048c7069c992'),
    'source.schedule': ('d59003bcefad2692', '89188a9c9927b99e', '02f957e6392ccbbf'),
    'source.anneal_gamma': ('3dd5a9b61b876c37', '2b26db290caef2d0', '742fce6b84269b52'),
    'source.anneal_power': ('693c831ef993ae25', '260db6f02a337272', '6e3e5fa8e419ce31'),
    'source.warmup_steps': ('ad863bd8558af4cb', '14946ea85692c5f9', '1742fc9a43d45923'),
    'source.backbone_lr_mult': ('f2b86d13b7fcf8fd', '19145ba84ccf3cd1', '9d6419f74ed14f30'),
    'source.epochs': ('d02d15ac80d06f06', '622ef09229dcf6e4', '1c25b9b54ac1d25d'),
    'source.iterations_per_epoch': ('44be1ff231034edd', '19701bbbfaefca3d', '3811ff60e07a9906'),
    'adapt.steps': ('c3f88196a748a06c', 'f53d3e6d64975ab2', '42e455140ce2cb36'),
    'adapt.batch_size': ('97d7e4b25620e680', '9e1134eb3195ae79', '42e455140ce2cb36'),
    'adapt.lr': ('65809ae7ea130ced', '3defbd7e0aa9974e', '42e455140ce2cb36'),
    'adapt.optimizer': ('78b433756a250933', 'e68d47ddc951d2c7', '42e455140ce2cb36'),
    'adapt.weight_decay': ('90df8ecb99586104', '0aaa0c43863d566c', '42e455140ce2cb36'),
    'adapt.momentum': ('ad94f22ebb68053c', '8bd4901f9a6fd833', '42e455140ce2cb36'),
    'adapt.nesterov': ('5d3bffec62fa1c88', 'e6406db35b871095', '42e455140ce2cb36'),
    'adapt.schedule': ('7bad15c55f3715ad', 'b2eb88d239efaf3a', '42e455140ce2cb36'),
    'adapt.anneal_gamma': ('64aed7ede893f34a', '5fbe52b7526ecdb5', '42e455140ce2cb36'),
    'adapt.anneal_power': ('b87d9292e3b9247a', '5fc50b41dd2b101b', '42e455140ce2cb36'),
    'adapt.warmup_steps': ('d91477677985cf5c', 'e98966ae0b5f6659', '42e455140ce2cb36'),
    'adapt.backbone_lr_mult': ('d78487e202695f92', '388362180c61535b', '42e455140ce2cb36'),
    'adapt.epochs': ('b790125e390d0624', '8786fa97b46dda4e', '42e455140ce2cb36'),
    'adapt.iterations_per_epoch': ('2ab39763a72fd6ee', '4eee4357d7586fa2', '42e455140ce2cb36'),
    'selection': ('1bd40743584bde6e', '77da53f58f8cfdac', '42e455140ce2cb36'),
    'protocol': ('9ee4548171ba26ea', 'a2a30b8511919bab', '42e455140ce2cb36'),
    'target_split': ('7f03fe8e4a9c7790', 'ac8ce9c676f1e760', '42e455140ce2cb36'),
    'trial': ('61af2eb50732db0a', '9d9efb0892a2a8da', '42e455140ce2cb36'),
    'checkpoints': ('2ecf99c2dd9540c8', '2c5d264485d34019', '42e455140ce2cb36'),
    'target_val': ('a16b1ddbec198079', 'e16cd438cc60e8aa', '42e455140ce2cb36'),
    'precision': ('f2375e0164fb99cd', '62f98edbb16834fe', 'f6089cc787ff9e1d'),
    'data_on_device': ('4cf3871d2d6edb04', '9d9efb0892a2a8da', '42e455140ce2cb36'),
}
_NONE = object()


def _fits(arm: Any, value: Any) -> bool:
    if arm is type(None):
        return value is None
    if get_origin(arm) is Literal:
        return value in get_args(arm)
    if arm is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if get_origin(arm) is dict:
        return isinstance(value, dict)
    return isinstance(arm, type) and isinstance(value, arm)


def another(annotation: Any, current: Any) -> Any:
    """A value of type ``annotation`` other than ``current`` (always the same one)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        for arm in sorted((a for a in args if a is not type(None)), key=lambda a: not _fits(a, current)):
            value = another(arm, current if _fits(arm, current) else None)
            if value is not _NONE and value != current:
                return value
        return _NONE
    if origin is Literal:
        return next((a for a in args if a != current), _NONE)
    if annotation is bool:
        return True if current is None else not current
    if annotation is int:
        return (current or 0) + 1
    if annotation is float:
        return (current or 0.0) * 2 + 0.5
    if annotation is str:
        return f"{current or 'x'}-other"
    if origin is dict or annotation is dict:
        return {**(current or {}), "other": 1}
    raise TypeError(f"no other value for {annotation}")


def variant(model: BaseModel, path: str) -> BaseModel:
    """``model`` with the field at ``path`` (``backbone.bottleneck``) set to another value; not
    validated, as only the hashes read it."""
    head, _, rest = path.partition(".")
    if rest:
        return model.model_copy(update={head: variant(getattr(model, head), rest)})
    value = another(type(model).model_fields[head].annotation, getattr(model, head))
    assert value is not _NONE, path
    return model.model_copy(update={head: value})


def lines() -> list[tuple[str, bool, bool, bool]]:
    """(path, in the key, in the protocol hash, in the source key) for every leaf of the table, as
    CellField's docstring states the roles: a nested field goes where its parent goes."""
    out = []
    for name, f in CELL_FIELDS.items():
        keyed = f.role in ("identity", "protocol")
        for sub, g in (f.fields or {None: f}).items():
            held = keyed and g.role in ("identity", "protocol")
            out.append((f"{name}.{sub}" if sub else name, held, held and f.role == "protocol",
                        held and f.source_key is not None))
    return out


@pytest.fixture(scope="module")
def base() -> Cell:
    return expand(Suite.model_validate(tiny_suite(["source_only"])))[0]


def hashes(cell: Cell) -> tuple[str, str, str]:
    return cell.key(), cell.protocol_hash(), cell.source_key()


def test_every_field_of_a_cell_its_backbone_and_its_stages_has_one_line():
    assert set(CELL_FIELDS) == set(Cell.model_fields), "a Cell field without a line in CELL_FIELDS (or a line too many)"
    assert set(BACKBONE_FIELDS) == set(BackboneSpec.model_fields)
    assert set(TRAIN_FIELDS) == set(TrainConfig.model_fields)
    assert CELL_FIELDS["backbone"].fields is BACKBONE_FIELDS
    assert CELL_FIELDS["source"].fields is CELL_FIELDS["adapt"].fields is TRAIN_FIELDS
    assert set(GOLDEN) <= {path for path, *_ in lines()}, "a pinned field left the table"


@pytest.mark.parametrize("path,in_key,in_protocol_hash,in_source_key", lines())
def test_a_changed_field_moves_exactly_the_hashes_its_line_names(base, path, in_key, in_protocol_hash, in_source_key):
    moved = [a != b for a, b in zip(hashes(variant(base, path)), hashes(base))]
    assert moved == [in_key, in_protocol_hash, in_source_key]


@pytest.mark.parametrize("path", list(GOLDEN))
def test_no_key_moved_when_the_table_came(base, path):
    assert hashes(base) == BASE
    assert hashes(variant(base, path)) == GOLDEN[path]


def set_at(model: BaseModel, path: str, value: Any) -> BaseModel:
    head, _, rest = path.partition(".")
    return model.model_copy(update={head: set_at(getattr(model, head), rest, value) if rest else value})


def test_a_field_set_to_its_omit_at_value_leaves_every_hash_as_it_was(base):
    """Whether or not a cell states it, a field at the value where the key leaves it out is no part
    of the key: the base cell's keys stay."""
    for name, f in CELL_FIELDS.items():
        for sub, g in (f.fields or {None: f}).items():
            if g.omit_at is not NEVER and g.role != "speed":
                path = f"{name}.{sub}" if sub else name
                assert hashes(set_at(base, path, g.omit_at)) == BASE, path


def test_the_identity_columns_are_columns_and_a_row_takes_them_from_its_cell(base):
    assert set(IDENTITY_COLUMNS) <= set(SCHEMA.names)
    row = identity_row(base, "run-1")
    assert set(row) == set(IDENTITY_COLUMNS)
    assert (row["cell_key"], row["protocol_hash"], row["run_id"]) == (BASE[0], BASE[1], "run-1")
    assert row["backbone"] == "small_cnn" and row["label_budget"] == "all" and row["selection_rule"] == "last"
    assert row["batch_size"] == base.adapt.batch_size == 16


def test_write_row_refuses_a_key_that_is_not_a_column(tmp_path, base):
    row = {**new_row(), **identity_row(base), "status": "ok"}
    write_row(tmp_path, row)  # every column, nothing else: written
    with pytest.raises(ValueError, match="target_accuracy"):
        write_row(tmp_path, {**row, "target_accuracy": 50.0})
