"""How a training stage is configured. Its own module so that the training loop, the strategies and
the suite parser can all import it without importing each other."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TrainConfig(BaseModel):
    """How a stage trains: optimiser, learning rate, steps, batch size."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: int = Field(500, ge=0)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.9, ge=0)
