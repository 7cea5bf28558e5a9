"""``timm/<model name>``: any timm image model, random init unless ``pretrained`` says otherwise."""
from __future__ import annotations

from bench.backbones.base import BACKBONES, BackboneSpec, TransferModel, load_weights


@BACKBONES.register("timm/*")
def timm_model(spec: BackboneSpec, num_classes: int, in_chans: int) -> TransferModel:
    import timm  # imported here: the CLI's --help and list must not pay for it
    from timm.models import group_parameters

    arch = spec.name.split("/", 1)[1]
    if not timm.is_model(arch):
        import difflib

        close = difflib.get_close_matches(arch, timm.list_models(), n=3)
        raise ValueError(f"timm has no model {arch!r}" + (f"; did you mean {close}?" if close else ""))
    use_hub = spec.pretrained is True
    # num_classes=0 makes timm return pooled features; the harness owns the head.
    try:
        backbone = timm.create_model(arch, pretrained=use_hub, num_classes=0, in_chans=in_chans,
                                     **spec.kwargs)
    except (OSError, RuntimeError) as e:  # hub unreachable / offline and not in the local cache
        if not use_hub:
            raise
        raise RuntimeError(_no_weights_message(timm, arch, e)) from None
    if isinstance(spec.pretrained, str):
        load_weights(backbone, spec.pretrained)
    named = dict(backbone.named_parameters())
    grouped = group_parameters(backbone, backbone.group_matcher(coarse=True))
    groups = [[named[n] for n in names] for _, names in sorted(grouped.items())]
    cfg = backbone.pretrained_cfg or {}
    mean, std = cfg.get("mean", (0.5,)), cfg.get("std", (0.5,))
    if in_chans != len(mean):  # e.g. grey digits into an RGB-normalised model
        mean, std = sum(mean) / len(mean), sum(std) / len(std)
    input_size = spec.input_size
    if input_size is None and spec.pretrained and cfg.get("input_size"):
        input_size = cfg["input_size"][-1]  # pretrained weights expect their own resolution
    return TransferModel(backbone, backbone.num_features, num_classes, groups,
                         input_size=input_size, mean=mean, std=std)


def _no_weights_message(timm, arch: str, err: Exception) -> str:
    """Why pretrained weights could not be had, and the two ways to provide them offline."""
    import os

    cfg = timm.models.get_pretrained_cfg(arch)
    hub_id = (cfg.hf_hub_id if cfg else None) or f"timm/{arch}"
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    return (f"timm/{arch}: pretrained weights are not in the local Hugging Face cache"
            f"{' and HF_HUB_OFFLINE=1 forbids the hub' if offline else ' and the hub is unreachable'}"
            f" ({type(err).__name__}). Either fetch them once where there is network, "
            f"`huggingface-cli download {hub_id}` (or any timm.create_model('{arch}', "
            f"pretrained=True)), and copy the hub cache (~/.cache/huggingface/hub, or $HF_HOME/hub) "
            f"to this machine; or save the weights as a file and write `pretrained: "
            f"/path/{arch}.safetensors` in the suite (see docs/real-datasets.md).")
