"""Text backbones (hf/*, real MiniLM weights, offline) and text domains (embedded pair, files)."""
from __future__ import annotations

import json
import os

import pandas as pd
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.backbones import BackboneSpec, create_model  # noqa: E402
from bench.data import DataError, load_domain  # noqa: E402
from bench.data.sentiment import CLASSES  # noqa: E402


def test_sentiment_pair_is_deterministic_balanced_and_disjoint_across_splits():
    a, b = load_domain("sentiment/products"), load_domain("sentiment/movies")
    again = load_domain("sentiment/products")
    assert a.train.x == again.train.x and torch.equal(a.train.y, again.train.y)
    for d in (a, b):
        assert d.modality == "text" and d.classes == CLASSES
        assert all(isinstance(t, str) and t for t in d.train.x)
        assert set(d.train.x).isdisjoint(d.test.x)
        counts = torch.bincount(d.train.y)
        assert counts.min() == counts.max()
    assert set(a.train.x).isdisjoint(b.train.x)  # two different distributions


def test_text_file_domains_from_a_datasets_style_folder_and_a_single_csv(tmp_path):
    folder = tmp_path / "reviews"
    folder.mkdir()
    rows = [{"text": f"review number {i} is {'good' if i % 2 else 'bad'}", "label": i % 2} for i in range(40)]
    for split, part in (("train", rows[:20]), ("validation", rows[20:26]), ("test", rows[26:])):
        pd.DataFrame(part).to_json(folder / f"{split}.jsonl", orient="records", lines=True)
    (folder / "classes.json").write_text(json.dumps(["neg", "pos"]))
    d = load_domain(f"textfile:{folder}")
    assert (len(d.train), len(d.val), len(d.test)) == (20, 6, 14)
    assert d.classes == ["negative", "positive"] and d.train.x[1] == rows[1]["text"]
    assert d.train.y.tolist() == [r["label"] for r in rows[:20]]

    csv = tmp_path / "one.csv"
    pd.DataFrame({"content": [r["text"] for r in rows], "label": ["positive" if r["label"] else "negative"
                                                                 for r in rows]}).to_csv(csv, index=False)
    e = load_domain(f"textfile:{csv}")
    assert e.classes == ["negative", "positive"] and len(e.train) + len(e.val) + len(e.test) == 40
    assert load_domain(f"textfile:{csv}").test.x == e.test.x


def test_text_file_domain_errors_say_what_is_expected(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_domain(f"textfile:{tmp_path / 'missing.jsonl'}")
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"body": ["x"], "label": [0]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match="text column"):
        load_domain(f"textfile:{bad}")


@pytest.fixture(scope="module")
def minilm():
    torch.manual_seed(0)
    return create_model(BackboneSpec(name="hf/minilm", pretrained=True, kwargs={"max_length": 24}), 2)


def test_minilm_loads_real_pretrained_weights_offline(minilm):
    from safetensors.torch import load_file

    from bench.backbones.hf import resolve

    shipped = load_file(os.path.join(resolve("minilm"), "model.safetensors"))
    enc = minilm.backbone.encoder.state_dict()
    common = [k for k in shipped if k in enc]
    assert len(common) >= len(enc) - 1  # every tensor of the encoder (position ids may differ)
    assert all(torch.equal(enc[k], shipped[k]) for k in common)
    assert minilm.modality == "text"


def test_text_model_tokenises_lists_caches_and_classifies(minilm):
    texts = ["a great phone", "the film was dull", "a great phone"]
    batch = minilm.prepare(texts)
    assert batch["input_ids"].shape[0] == 3 and torch.equal(batch["input_ids"][0], batch["input_ids"][2])
    assert len(minilm._token_ids) >= 2
    minilm.eval()
    with torch.no_grad():
        logits = minilm(texts)
    assert logits.shape == (3, 2) and torch.allclose(logits[0], logits[2], atol=1e-5)


def test_minilm_layer_groups_are_embeddings_then_each_layer_then_head(minilm):
    groups = minilm.layer_groups()
    assert len(groups) == 1 + 6 + 1
    ids = [id(p) for g in groups for p in g]
    assert len(ids) == len(set(ids)) == len(list(minilm.parameters()))
