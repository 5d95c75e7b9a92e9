"""A configured learning-rate scheduler, attached as Lightning wants it: the step budget the
config leaves to the run (`T_max`, `total_steps` or `total_iters` left None) is filled in from
the trainer's, ReduceLROnPlateau steps once an epoch on the monitored metric, and every other
scheduler after each optimizer step."""

from __future__ import annotations

import inspect
from functools import partial
from typing import Any

import lightning as L
import torch


def scheduler_config(
    factory: partial, optimizer: torch.optim.Optimizer, trainer: L.Trainer, monitor: str
) -> dict[str, Any]:
    """The `lr_scheduler` entry of `configure_optimizers` for the scheduler partial `factory`."""
    budget = {}
    parameters = inspect.signature(factory.func).parameters
    for name in ("T_max", "total_steps", "total_iters"):
        if name in parameters and factory.keywords.get(name) is None:
            budget[name] = max(1, int(trainer.estimated_stepping_batches))
    scheduler = factory(optimizer=optimizer, **budget)
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        return {"scheduler": scheduler, "monitor": monitor, "interval": "epoch"}
    return {"scheduler": scheduler, "interval": "step"}
