"""A backbone as a suite names it (:class:`BackboneSpec`) and the registry of backbone families:
known without importing torch, so a suite validates (``bench run --dry-run``) without it."""
from __future__ import annotations

from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer

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
