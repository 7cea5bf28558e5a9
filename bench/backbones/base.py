"""A backbone is a feature extractor plus a replaceable linear head: :class:`TransferModel`.

Every backbone family builds one through a function registered in :data:`BACKBONES`:
``builder(spec: BackboneSpec, num_classes: int, in_chans: int) -> TransferModel``.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.backbones.spec import BACKBONES, REMOTE_CODE_ENV, BackboneSpec, asks_for_remote_code  # noqa: F401


class TransferModel(nn.Module):
    """``head(features(prepare(x)))``, ``features = neck(backbone(.))``.

    ``neck`` is the identity unless a bottleneck is added (:meth:`add_bottleneck`); it counts
    among the new layers (with the head), not the backbone.

    ``layer_groups`` lists the backbone's parameter groups from the input (stem) to the top,
    followed by the head: what gradual unfreezing and discriminative learning rates walk over.
    """

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        num_classes: int,
        layer_groups: list[list[nn.Parameter]],
        input_size: int | None = None,
        mean: float | tuple[float, ...] = 0.0,
        std: float | tuple[float, ...] = 1.0,
        modality: str = "image",
    ):
        super().__init__()
        self.backbone = backbone
        self.feature_dim = feature_dim
        self.head = nn.Linear(feature_dim, num_classes)
        self.neck: nn.Module = nn.Identity()
        self._groups = layer_groups
        self.input_size = input_size
        self.modality = modality
        self.register_buffer("_mean", torch.tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1))
        self.register_buffer("_std", torch.tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1))

    def prepare(self, x: Any) -> Any:
        """Raw domain inputs -> what the backbone takes. Images: float, resized, normalised."""
        if self.modality != "image":
            return x
        x = x.to(self._mean.device)
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        if self.input_size is not None and x.shape[-1] != self.input_size:
            # antialias when shrinking (e.g. 28x28 MNIST into an 8x8 model), else aliasing
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                              align_corners=False, antialias=x.shape[-1] > self.input_size)
        return (x - self._mean) / self._std

    def features(self, x: Any) -> torch.Tensor:
        return self.neck(self.backbone(self.prepare(x)))

    def add_bottleneck(self, width: int, kind: str = "bn_relu") -> None:
        """Linear(d, width) + BatchNorm1d + ReLU (``kind="bn_relu"``) or Linear + ReLU + Dropout 0.5
        (``"relu_dropout"``) before a new head of input ``width`` (TLL's ``bottleneck_dim``):
        domain-adaptation losses then align these features."""
        after = [nn.BatchNorm1d(width), nn.ReLU()] if kind == "bn_relu" else [nn.ReLU(), nn.Dropout(0.5)]
        self.neck = nn.Sequential(nn.Linear(self.feature_dim, width), *after)
        self.neck.to(self.head.weight.device)
        self.feature_dim = width
        self.reset_head()

    def forward(self, x: Any) -> torch.Tensor:
        return self.head(self.features(x))

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Backbone groups from input to top, then the head as the last group."""
        return [list(g) for g in self._groups] + [list(self.neck.parameters()) + list(self.head.parameters())]

    def reset_head(self, num_classes: int | None = None) -> None:
        """A fresh head (same or new number of classes), e.g. for a linear probe."""
        out = num_classes or self.head.out_features
        self.head = nn.Linear(self.feature_dim, out).to(self.head.weight.device)


def count_params(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total


def load_weights(model: nn.Module, path: str) -> None:
    """Load a local ``.safetensors`` (or a ``weights_only`` torch file) into the backbone."""
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        state = load_file(path)
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    if not set(state) & set(model.state_dict()):
        raise ValueError(f"no tensor of {path} matches the backbone; its keys: {sorted(state)[:5]}")
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing:  # a partial load would silently train from half-random weights
        raise ValueError(f"{path} lacks {len(missing)} of the backbone's tensors (first: {missing[:5]}): "
                         "weights of another architecture or variant? (extra keys such as the "
                         "original classifier are fine)")
