"""Pretrained timm backbones: a local .safetensors file round trip, the pretrained config's
resolution and normalisation, and a fast, clear failure when offline weights are missing."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file

from bench.backbones import BackboneSpec, create_model


def test_local_safetensors_round_trip(tmp_path):
    torch.manual_seed(0)
    donor = create_model(BackboneSpec(name="timm/test_resnet"), num_classes=5)
    path = tmp_path / "test_resnet.safetensors"
    save_file({k: v.contiguous() for k, v in donor.backbone.state_dict().items()}, str(path))

    torch.manual_seed(1)  # different random init: only the file can make them equal
    model = create_model(BackboneSpec(name="timm/test_resnet", pretrained=str(path)), num_classes=5)
    for (k, a), b in zip(donor.backbone.state_dict().items(), model.backbone.state_dict().values()):
        assert torch.equal(a, b), k
    x = torch.rand(2, 3, 32, 32)
    donor.eval(), model.eval()
    assert torch.allclose(donor.backbone(x), model.backbone(x))
    # resolution and normalisation come from the model's pretrained config
    import timm

    cfg = timm.models.get_pretrained_cfg("test_resnet").to_dict()
    assert model.input_size == cfg["input_size"][-1]
    assert torch.allclose(model._mean.flatten(), torch.tensor(cfg["mean"]))
    assert torch.allclose(model._std.flatten(), torch.tensor(cfg["std"]))


def test_a_file_for_another_model_is_refused(tmp_path):
    path = tmp_path / "foreign.safetensors"
    save_file({"nothing.weight": torch.zeros(3)}, str(path))
    with pytest.raises(ValueError, match="no tensor of .* matches the backbone"):
        create_model(BackboneSpec(name="timm/test_resnet", pretrained=str(path)), num_classes=5)
    donor = create_model(BackboneSpec(name="timm/test_resnet"), num_classes=5)
    partial = dict(list(donor.backbone.state_dict().items())[:-3])
    save_file({k: v.contiguous() for k, v in partial.items()}, str(path))
    with pytest.raises(ValueError, match=r"lacks \d+ of the backbone's tensors"):
        create_model(BackboneSpec(name="timm/test_resnet", pretrained=str(path)), num_classes=5)


def test_offline_hub_weights_fail_fast_with_instructions(tmp_path):
    """In a fresh process (huggingface_hub reads HF_HOME / HF_HUB_OFFLINE at import) with an empty
    cache: the message says how to place the weights; nothing reaches the network."""
    code = ("from bench.backbones import BackboneSpec, create_model\n"
            "create_model(BackboneSpec(name='timm/resnet18', pretrained=True), num_classes=3)\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, cwd=os.getcwd())
    assert res.returncode != 0
    assert "HF_HUB_OFFLINE=1" in res.stderr and "huggingface-cli download timm/resnet18" in res.stderr
    assert "pretrained: /path/resnet18.safetensors" in res.stderr
