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
    backbone = timm.create_model(arch, pretrained=use_hub, num_classes=0, in_chans=in_chans,
                                 **spec.kwargs)
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
