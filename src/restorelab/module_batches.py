"""How `DenoisingModule` reads a batch: clean images `[B, C, H, W]`, which a corruption damages
on the device, or `(noisy, clean)` pairs of real noise, used as they are."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from restorelab.errors import ConfigError


def batch_pair(
    batch: Any,
    corruption: nn.Module,
    generator: torch.Generator | None,
    net: nn.Module,
    net_takes_level: bool,
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """(noisy, clean, mask of damaged pixels or None, sigma or None) for a clean batch or a
    real pair; sigma `[B, 1, 1, 1]` is the level the corruption drew, when it knows it.
    `net_takes_level`: `net` takes the noise level, which real pairs do not carry."""
    if isinstance(batch, (list, tuple)):
        if len(batch) != 2:
            raise ValueError(
                f"a batch must be clean images or a (noisy, clean) pair, got {len(batch)} items"
            )
        noisy, clean = batch
        if net_takes_level:
            raise ConfigError(
                f"{type(net).__name__} takes the noise level, but (noisy, clean) pairs of "
                "real noise carry none: train a blind model on paired data (e.g. model=unet)"
            )
        return noisy, clean, None, None
    clean = batch
    if clean.ndim != 4:
        raise ValueError(
            f"expected a batch of images [B, C, H, W], got shape {tuple(clean.shape)}"
        )
    with torch.no_grad():
        if hasattr(corruption, "apply_with_level"):
            corrupted = corruption.apply_with_level(clean, generator)
            noisy, mask, sigma = corrupted.noisy, corrupted.mask, corrupted.sigma
        elif hasattr(corruption, "apply") and hasattr(corruption, "fixed_levels"):
            (noisy, mask), sigma = corruption.apply(clean, generator), None
        else:
            noisy, mask, sigma = corruption(clean, generator), None, None
    return noisy, clean, mask, sigma
