"""How a training stage is configured. Its own module so that the training loop, the strategies and
the suite parser can all import it without importing each other."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TrainConfig(BaseModel):
    """How a stage trains: optimiser, learning rate and its schedule, steps, batch size.

    Steps can be stated as ``steps`` or, as published recipes are written, as ``epochs`` x
    ``iterations_per_epoch`` (TLL: 20 x 1000); then ``steps`` is their product. The schedule
    fields are explained in ``bench.train.schedules``.
    """

    #: no inf / NaN anywhere: ``lr: .inf`` would be stored as null and then kill the worker
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    steps: int = Field(500, ge=0)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.9, ge=0)
    nesterov: bool = False  # SGD only
    #: learning-rate schedule over the stage's steps (see bench.train.schedules)
    schedule: Literal["constant", "anneal", "cosine"] = "constant"
    anneal_gamma: float = Field(0.001, ge=0)
    anneal_power: float = Field(0.75, ge=0)
    warmup_steps: int = Field(0, ge=0)  # cosine only
    #: the backbone's learning rate relative to the new layers (head, bottleneck, discriminators)
    backbone_lr_mult: float = Field(1.0, ge=0)
    epochs: int | None = Field(None, ge=0)
    iterations_per_epoch: int | None = Field(None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _steps_from_epochs(cls, data: Any) -> Any:
        if not isinstance(data, dict) or (data.get("epochs") is None and data.get("iterations_per_epoch") is None):
            return data
        if data.get("epochs") is None or data.get("iterations_per_epoch") is None:
            raise ValueError("give both epochs and iterations_per_epoch (steps = their product), or steps alone")
        product = int(data["epochs"]) * int(data["iterations_per_epoch"])
        if data.get("steps") is not None and int(data["steps"]) != product:
            raise ValueError(f"steps {data['steps']} contradicts epochs x iterations_per_epoch = {product}: "
                             "give one or the other")
        return {**data, "steps": product}
