"""A damaged source-model cache entry is never trusted (issue 26 F).

Each test trains a source model into ``<results>/_source_models/``, damages the entry the way a
disk, a crash or an older version would, and runs another cell that needs the same source model.
That cell must retrain (``source_cached`` false) from a fresh initial model: its numbers equal
those of the same cell run in a clean results directory (the source stage is seeded, so the
retrained model is the uncached one), and the entry left behind verifies again.
"""
import json

import pytest
from safetensors.torch import load_file, save_file

from bench.cell.source_cache import CHECKSUM_KEY, file_sha256, verified_meta
from bench.plan.suite import Suite
from bench.run.runner import run_suite

NUMBERS = ("source_acc_before", "target_acc_before", "target_acc", "source_acc_after")


def suite(strategy: str, budget: int) -> Suite:
    return Suite.model_validate({
        "name": "integrity", "backbones": ["small_cnn"], "pairs": ["synth-digits -> digits"],
        "strategies": [strategy], "label_budgets": [budget], "seeds": [0],
        "source": {"steps": 8}, "adapt": {"steps": 3}})


def run(results, strategy="full_finetune", budget=3) -> dict:
    rows: list[dict] = []
    run_suite(suite(strategy, budget), results, show_progress=False, on_row=rows.append)
    (row,) = rows
    assert row["status"] == "ok", row.get("error")
    return row


def cached_entry(results):
    """Train the source model through a source_only cell; the one entry it leaves."""
    assert run(results, "source_only", 0)["source_cached"] is False
    (entry,) = (results / "_source_models").iterdir()
    assert verified_meta(entry)[0] is not None
    return entry


def flip_tensor_bytes(entry):
    """Invert the last 64 bytes of the file: tensor data (safetensors puts its header first)."""
    path = entry / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-64:] = bytes(b ^ 0xFF for b in data[-64:])
    path.write_bytes(bytes(data))


def truncate_meta(entry):
    path = entry / "meta.json"
    text = path.read_text()
    path.write_text(text[: len(text) // 2])


def strip_checksum(entry):
    """An entry as versions before the checksum wrote it."""
    path = entry / "meta.json"
    meta = json.loads(path.read_text())
    del meta[CHECKSUM_KEY]
    path.write_text(json.dumps(meta))


def foreign_weights_with_a_right_checksum(entry):
    """The file misses one tensor but its checksum is right: loading fails only after the other
    tensors (the trained ones) are already in the model, the case where a retrain that kept the
    model it had would continue from the trained weights."""
    path = entry / "model.safetensors"
    tensors = load_file(str(path))
    tensors.pop(sorted(tensors)[-1])
    save_file(tensors, str(path))
    meta = json.loads((entry / "meta.json").read_text())
    (entry / "meta.json").write_text(json.dumps({**meta, CHECKSUM_KEY: file_sha256(path)}))


@pytest.mark.parametrize("damage", [flip_tensor_bytes, truncate_meta, strip_checksum,
                                    foreign_weights_with_a_right_checksum])
def test_a_damaged_entry_is_retrained_from_a_fresh_initial_model(tmp_path, damage):
    entry = cached_entry(tmp_path / "damaged")
    damage(entry)
    assert verified_meta(entry)[0] is None or damage is foreign_weights_with_a_right_checksum
    with pytest.warns(UserWarning, match="discarded and retrained"):
        retrained = run(tmp_path / "damaged")
    clean = run(tmp_path / "clean")
    assert retrained["source_cached"] is False and clean["source_cached"] is False
    assert {k: retrained[k] for k in NUMBERS} == {k: clean[k] for k in NUMBERS}
    # the entry written again verifies, holds the same model as the clean run's, and is used
    (again,) = (tmp_path / "damaged" / "_source_models").iterdir()
    (fresh,) = (tmp_path / "clean" / "_source_models").iterdir()
    meta, why = verified_meta(again)
    assert meta is not None and why == "" and again.name == fresh.name
    assert meta[CHECKSUM_KEY] == verified_meta(fresh)[0][CHECKSUM_KEY]
    assert run(tmp_path / "damaged", "linear_probe", 3)["source_cached"] is True
    assert not [p for p in again.parent.iterdir() if p.name.startswith(".")]  # nothing set aside left


def test_an_intact_entry_is_loaded_and_says_so(tmp_path):
    entry = cached_entry(tmp_path)
    meta, why = verified_meta(entry)
    assert why == "" and meta[CHECKSUM_KEY] == file_sha256(entry / "model.safetensors")
    assert meta["source_key"] == entry.name
    assert run(tmp_path)["source_cached"] is True


def test_no_entry_is_no_reason(tmp_path):
    assert verified_meta(tmp_path / "absent") == (None, "")


def test_the_source_stage_says_what_it_did_typed(tmp_path):
    """``source_model`` hands back a ``TrainedSource``: trained once (not cached, its entry's key,
    a wall time and a step time), then loaded from the cache with the original training's figures;
    the joint protocol's has no source stage and is keyed apart from the trained model."""
    from bench.cell.source_stage import TrainedSource, source_model
    from bench.data.base import load_domain
    from bench.plan.cells import expand

    cell = expand(suite("source_only", 0))[0]
    domain = load_domain(cell.source_domain)
    _, first = source_model(cell, domain, "cpu", tmp_path / "_source_models")
    _, again = source_model(cell, domain, "cpu", tmp_path / "_source_models")
    assert isinstance(first, TrainedSource) and not first.cached and again.cached
    assert first.source_key == again.source_key == cell.source_key()
    assert first.wall_s > 0 and first.step_s is not None
    assert (again.wall_s, again.step_s) == (first.wall_s, first.step_s)  # the cached entry's own
    assert again.facts().columns() == {"source_wall_s": first.wall_s, "source_cached": True}
    joint = TrainedSource.none(cell)
    assert (joint.wall_s, joint.cached, joint.step_s) == (0.0, False, None)
    assert joint.source_key != cell.source_key() and cell.source_key() in joint.source_key
