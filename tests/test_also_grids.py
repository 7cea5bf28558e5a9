"""A suite's ``also`` grids (bench/plan/grids.py): extra cells that multiply nothing else."""
import pytest

from bench.plan.cells import expand
from bench.plan.suite import Suite, SuiteError, load_suite
from tests.conftest import REPO

BASE = {
    "name": "t",
    "backbones": ["small_cnn"],
    "strategies": ["source_only", {"name": "linear_probe", "label_budgets": [5]}],
    "pairs": ["synth-digits -> digits"],
    "label_budgets": [0],
    "seeds": [0, 1],
}
GRID = {"backbones": ["mlp"], "pairs": ["digits -> digits-c/gaussian_noise"], "seeds": [3]}


def test_an_also_grid_adds_its_cells_and_changes_no_key_of_the_suites_own():
    own = expand(Suite.model_validate(BASE))
    both = expand(Suite.model_validate({**BASE, "also": [GRID]}))
    assert [c.key() for c in both[:len(own)]] == [c.key() for c in own]
    spelt_out = expand(Suite.model_validate({**BASE, **GRID}))  # the grid as a suite of its own
    assert [c.key() for c in both[len(own):]] == [c.key() for c in spelt_out]
    assert len(both) == len(own) + len(spelt_out) == 4 + 2
    # the grid takes the suite's training stages: same protocol, so one results directory binds both
    assert {c.protocol_hash() for c in both} == {c.protocol_hash() for c in own}


@pytest.mark.parametrize("grid, expected", [
    ({"source": {"steps": 5}}, "also[0]: source cannot be set per grid"),
    ({"also": []}, "also[0]: also cannot be set per grid"),
    ({"backbones": ["no_such_backbone"]}, "also[0].backbones"),
    ({"pairs": ["digits -> no_such_domain"]}, "also[0].pairs"),
])
def test_a_bad_grid_is_one_line_naming_the_grid(tmp_path, grid, expected):
    import yaml

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**BASE, "also": [GRID, grid]}))
    with pytest.raises(SuiteError) as err:
        load_suite(path)
    message = str(err.value)
    assert expected.replace("[0]", "[1]") in message and "\n" not in message, message


def test_the_default_suite_compares_pretrained_and_scratch_on_one_real_pair_only():
    suite = load_suite(REPO / "suites" / "default.yaml")
    cells = expand(suite)
    lite = [c for c in cells if c.backbone.name == "efficientnet_lite0"]
    assert {c.pair for c in lite} == {"vlcs-mini/sun->vlcs-mini/caltech"}
    assert {c.backbone.name for c in cells if c.pair == "vlcs-mini/sun->vlcs-mini/caltech"} == {"efficientnet_lite0"}
    by_weights = {p: sorted((c.strategy, str(c.label_budget), c.seed) for c in lite if c.backbone.pretrained == p)
                  for p in (True, False)}
    assert by_weights[True] == by_weights[False] and ("linear_probe", "all", 2) in by_weights[True]
    # the two differ in their weights only
    specs = {c.backbone.model_copy(update={"pretrained": False, "label": None}).model_dump_json() for c in lite}
    assert len(specs) == 1


def test_grids_picks_grids_and_changes_no_key(tmp_path):
    import yaml

    both = expand(Suite.model_validate({**BASE, "also": [GRID]}))
    own = expand(Suite.model_validate({**BASE, "also": [GRID], "grids": [0]}))
    extra = expand(Suite.model_validate({**BASE, "also": [GRID], "grids": [1]}))
    assert [c.key() for c in own + extra] == [c.key() for c in both]
    assert [c.protocol_hash() for c in own + extra] == [c.protocol_hash() for c in both]
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**BASE, "also": [GRID]}))
    assert [c.key() for c in expand(load_suite(path, overrides=("grids=[1]",)))] == [c.key() for c in extra]
    for bad in ("grids=[2]", "grids=[]"):
        with pytest.raises(SuiteError) as err:
            load_suite(path, overrides=(bad,))
        assert "not a grid of this suite" in str(err.value) and "\n" not in str(err.value)
