"""A backbone is a feature extractor plus a replaceable linear head: :class:`TransferModel`.

Every backbone family builds one through a function registered in :data:`BACKBONES`:
``builder(spec: BackboneSpec, num_classes: int, in_chans: int) -> TransferModel``.
"""
from __future__ import annotations

from typing import Any, Callable, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, model_serializer
from torch import nn

from bench.registry import Registry

#: set to "1" by ``bench run --allow-remote-code`` (and passed on to its workers): only then may a
#: backbone's ``kwargs: {trust_remote_code: true}`` reach ``from_pretrained``, which runs the
#: Python files of the model folder
REMOTE_CODE_ENV = "BENCH_ALLOW_REMOTE_CODE"


def asks_for_remote_code(spec: "BackboneSpec") -> bool:
    """Whether this backbone's kwargs would let a model library run code from the model folder."""
    return bool(spec.kwargs.get("trust_remote_code"))


class BackboneSpec(BaseModel):
    """A backbone as a suite names it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    #: False (random init), True (the library's own weights) or a local ``.safetensors`` path
    pretrained: bool | str = False
    #: images are resized to this square size before the backbone (None: the domain's own size)
    input_size: int | None = None
    #: passed to the model constructor (e.g. timm's ``img_size``, ``patch_size``)
    kwargs: dict[str, Any] = {}
    #: width of a bottleneck Linear(d, b) + BatchNorm + ReLU between backbone and head (TLL uses
    #: 256 on Office-31); the features that alignment losses and discriminators see. None: none.
    bottleneck: int | None = Field(None, ge=1)
    #: what follows the bottleneck's Linear: ``bn_relu`` (BatchNorm + ReLU, TLL's DANN / CDAN / MCC)
    #: or ``relu_dropout`` (ReLU + Dropout 0.5, TLL's DAN)
    bottleneck_kind: Literal["bn_relu", "relu_dropout"] = "bn_relu"
    #: source-stage steps for this backbone instead of the suite's ``source.steps``: source models
    #: of one backbone at several training lengths (does the score rank them?)
    source_steps: int | None = Field(None, ge=0)
    #: the name rows and reports use, to tell two entries of one backbone apart (widths, input
    #: sizes); default: ``name``, plus ``@<source_steps>`` when that is set
    label: str | None = None
    #: this backbone's precision (fp32, tf32, bf16, fp16); None: the suite's ``precision``
    precision: Literal["fp32", "tf32", "bf16", "fp16"] | None = None
    #: channels_last memory format for convolutional backbones; None: on for CUDA, off for CPU
    channels_last: bool | None = None
    #: torch.compile the backbone: true (inductor) or a backend name ("eager", "aot_eager", ...);
    #: its compile time is recorded apart from the timed steps (row column ``compile_s``)
    compile: bool | str = False

    @property
    def display_name(self) -> str:
        if self.label:
            return self.label
        return self.name if self.source_steps is None else f"{self.name}@{self.source_steps}"

    @model_serializer(mode="wrap")
    def _omit_unset_new_fields(self, handler: Any) -> dict[str, Any]:
        # fields added after results existed are left out while unset, so every cell key (a hash
        # of this dump) that was valid before they existed stays the same
        out = handler(self)
        for key in ("source_steps", "label", "bottleneck"):
            if out.get(key) is None:
                out.pop(key, None)
        if out.get("bottleneck_kind") == "bn_relu":
            out.pop("bottleneck_kind")
        return out


BACKBONES: Registry[Callable[..., "TransferModel"]] = Registry("backbone", "bench.backbones", "BACKBONES")


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
