"""The checks `DenoisingModule` makes of what it is given, before anything trains: a net that
takes the noise level needs a corruption that says which level it drew, real pairs must hold
the target the objective needs, and noisy-only data must suit the objective, the net and the
monitored metric. Each refuses in one line that says what to set instead."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from restorelab.errors import ConfigError
from restorelab.objectives import Objective


def check_level_source(net: nn.Module, corruption: nn.Module) -> None:
    """A net that takes the noise level needs a corruption that says which level it drew, in
    training and in every fixed-level copy validation scores."""
    parts = {"": corruption}
    if hasattr(corruption, "fixed_levels"):
        parts.update(corruption.fixed_levels())
    for name, part in parts.items():
        knows = getattr(part, "knows_noise_level", None)
        if callable(knows) and knows():
            continue
        what = type(part).__name__ + (f" (validation level {name})" if name else "")
        raise ConfigError(
            f"model {type(net).__name__} takes the noise level as an input, but the corruption "
            f"{what} cannot say the level it drew. Use a corruption that does (noise=gaussian), "
            "a blind model (e.g. model=dncnn or model=unet), or model.noise_map=false where the "
            "model has that key"
        )


def check_pairs(objective: Objective, corruption: nn.Module, datamodule: Any) -> None:
    """Refuses an objective whose target the data's real pairs do not hold, in one line."""
    given = getattr(datamodule, "pair_target", None)  # None: clean images, no pairs
    if given is None:
        return
    objective.check_sigma_source(corruption, real_pairs=True)
    wanted = objective.pair_target
    data = type(datamodule).__name__.removesuffix("DataModule")
    if wanted == "noisy" and given == "clean":
        raise ConfigError(
            f"objective=noise2noise needs a second noisy draw of each image, but {data} "
            "yields (noisy, clean) pairs of real noise, which cannot be drawn again: use "
            "objective=supervised, clean images (noise= then draws twice), or data=renoir "
            "data.target=noisy (two noisy shots of one scene)"
        )
    if wanted == "clean" and given == "noisy":
        raise ConfigError(
            f"objective {type(objective).__name__} needs a clean target, but {data} "
            "yields (noisy_a, noisy_b) pairs of two noisy shots (data.target=noisy): use "
            "objective=noise2noise, or data.target=reference"
        )


def check_noisy_only(
    objective: Objective, net: nn.Module, takes_level: bool, stated_sigma: torch.Tensor | None
) -> None:
    """Noisy-only training data (`data.noisy_only`) needs an objective that learns from single
    noisy images, and a stated noise level for a net that takes it."""
    name = type(objective).__name__
    if objective.needs_clean:
        raise ConfigError(
            f"data.noisy_only=true holds no clean image and no second noisy draw, which "
            f"objective {name} needs: use objective=neighbor2neighbor, noise2void or r2r"
        )
    if takes_level and stated_sigma is None:
        raise ConfigError(
            f"model {type(net).__name__} takes the noise level, but noisy-only images "
            "carry none: state it with a fixed noise.sigma (e.g. noise.sigma=25) or train a "
            "blind model"
        )


def check_noisy_eval_monitor(monitor: str) -> None:
    """Validation without clean images scores the loss only: the monitor must be `val/loss`."""
    if monitor.startswith("val/") and monitor != "val/loss":
        raise ConfigError(
            f"data.noisy_only=true has no clean images to score {monitor}: "
            "add monitor=val/loss monitor_mode=min"
        )
