"""A suite is data, never code: ``trust_remote_code`` is refused unless ``--allow-remote-code``.

The model folder here is a real transformers folder whose ``auto_map`` names a Python file of its
own; that file writes a marker when imported, so "the folder's code ran" is observed, not assumed.
"""
from __future__ import annotations

import json
import shutil

import pytest
import yaml
from click.testing import CliRunner

from bench.backbones import BackboneSpec, create_model
from bench.backbones.base import REMOTE_CODE_ENV
from bench.backbones.hf import resolve
from bench.cli import main
from bench.plan.suite import SuiteError, load_suite

MODULE = '''
from pathlib import Path
MARKER = {marker!r}
from transformers import BertConfig, BertModel
Path(MARKER).write_text("the model folder's code ran")

class CustomConfig(BertConfig):
    model_type = "custom_bert"

class CustomModel(BertModel):
    config_class = CustomConfig
'''


@pytest.fixture
def remote_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(REMOTE_CODE_ENV, "0")  # recorded, so the test's own opt-in is undone after it
    monkeypatch.delenv(REMOTE_CODE_ENV)
    folder = tmp_path / "model"
    folder.mkdir()
    shipped = resolve("minilm")
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(f"{shipped}/{name}", folder / name)
    (folder / "config.json").write_text(json.dumps({
        "model_type": "custom_bert", "architectures": ["CustomModel"],
        "auto_map": {"AutoConfig": "custom.CustomConfig", "AutoModel": "custom.CustomModel"},
        "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
        "intermediate_size": 64, "vocab_size": 30522}))
    # transformers copies this file into its modules cache: the marker's path is absolute
    (folder / "custom.py").write_text(MODULE.replace("{marker!r}", repr(str(tmp_path / "ran"))))
    return folder


def _suite(tmp_path, folder):
    path = tmp_path / "remote.yaml"
    path.write_text(yaml.safe_dump({
        "name": "remote", "backbones": [{"name": f"hf/{folder}", "kwargs": {"trust_remote_code": True}}],
        "strategies": ["source_only"], "pairs": ["sentiment/products@20 -> sentiment/movies@20"],
        "label_budgets": [0], "seeds": [0], "source": {"steps": 1}, "adapt": {"steps": 1},
        "device": "cpu"}))
    return path


def _ran(tmp_path) -> bool:
    return (tmp_path / "ran").exists()


def test_run_refuses_trust_remote_code_with_exit_2_and_one_line(tmp_path, remote_folder):
    suite = _suite(tmp_path, remote_folder)
    with pytest.raises(SuiteError, match="--allow-remote-code"):
        load_suite(suite)
    for extra in ([], ["--dry-run"]):
        res = CliRunner().invoke(main, ["run", str(suite), "--results", str(tmp_path / "r"), *extra])
        assert res.exit_code == 2, res.output
        assert len(res.output.strip().splitlines()) == 1 and "trust_remote_code" in res.output
    assert not (tmp_path / "r").exists() and not _ran(tmp_path)


def test_the_builder_refuses_it_too_without_the_opt_in(tmp_path, remote_folder):
    spec = BackboneSpec(name=f"hf/{remote_folder}", kwargs={"trust_remote_code": True})
    with pytest.raises(ValueError, match="--allow-remote-code"):
        create_model(spec, 2)
    assert not _ran(tmp_path)


def test_allow_remote_code_opts_in(tmp_path, remote_folder, monkeypatch):
    suite = _suite(tmp_path, remote_folder)
    assert load_suite(suite, allow_remote_code=True).backbones[0].kwargs["trust_remote_code"] is True
    res = CliRunner().invoke(main, ["run", str(suite), "--results", str(tmp_path / "r"), "--dry-run",
                                    "--allow-remote-code"])
    assert res.exit_code == 0, res.output
    import os

    assert os.environ.get(REMOTE_CODE_ENV) == "1"  # what the workers see
    model = create_model(BackboneSpec(name=f"hf/{remote_folder}", kwargs={"trust_remote_code": True}), 2)
    assert type(model.backbone.encoder).__name__ == "CustomModel" and _ran(tmp_path)
