"""The corruption contract, `Identity`, and the per-image level helpers every corruption shares."""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real

import torch
from torch import Tensor, nn

# The noise levels of the literature's Set12/BSD68/CBSD68 tables, in 0-255 units.
STANDARD_SIGMAS = (15.0, 25.0, 50.0)


class Corruption(nn.Module):
    """Base: acts on a CLEAN batch `x` `[B, C, H, W]` float in [0, 1] on its device, keeps device
    and dtype (fp32, fp16, bf16), never writes into `x`.

    Subclasses implement `corrupt`; random numbers come only from `generator` when one is given.
    Corruptions hold no parameters or buffers, so checkpoints and precision plugins ignore them.
    """

    def apply(  # type: ignore[override]
        self, x: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """Returns `(corrupted, mask)`: `mask` is a bool tensor `[B, 1 or C, H, W]` of damaged
        pixels for corruptions that damage some pixels only (occlusion, salt-and-pepper, pixel
        flip), else None."""
        if not isinstance(x, Tensor) and callable(x):
            # nn.Module.apply(fn) recurses into children under this same name: keep
            # `lightning_module.apply(init_weights)` working on modules that hold a corruption.
            return super().apply(x)  # type: ignore[return-value]
        return self.corrupt(x, generator)

    def corrupt(
        self, x: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """What `apply` does; each subclass implements it."""
        raise NotImplementedError

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.apply(x, generator)[0]

    def fixed_levels(self) -> dict[str, Corruption]:
        """Named fixed-strength copies for per-level validation metrics when this corruption
        draws its level from a range (blind training); {} when the level is fixed."""
        return {}


class Identity(Corruption):
    """No corruption (`noise=none`): returns the batch itself, unchanged; output in [0, 1]."""

    def corrupt(
        self, x: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor | None]:
        return x, None


def working(x: Tensor) -> Tensor:
    """`x` in at least float32: fp16/bf16 batches are corrupted in float32 and cast back once, so
    small noise levels are not rounded away."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def level_range(
    value: float | Sequence[float], name: str, low: float = 0.0, high: float = math.inf
) -> tuple[float, float]:
    """A level given as a number (fixed) or a `[min, max]` pair (drawn per image) as bounds."""
    if isinstance(value, Real) and not isinstance(value, bool):
        bounds = (float(value), float(value))
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        bounds = (float(value[0]), float(value[1]))
    else:
        raise ValueError(f"{name} must be a number or a [min, max] pair, got {value!r}")
    if not low <= bounds[0] <= bounds[1] <= high:
        raise ValueError(f"{name} must satisfy {low:g} <= min <= max <= {high:g}, got {value!r}")
    return bounds


def count_range(value: int | Sequence[int], name: str) -> tuple[int, int]:
    """Like `level_range` for whole counts >= 0; a `[min, max]` pair is inclusive."""
    low, high = level_range(value, name)
    if low != int(low) or high != int(high):
        raise ValueError(f"{name} must be whole numbers, got {value!r}")
    return int(low), int(high)


def draw_level(bounds: tuple[float, float], x: Tensor, generator: torch.Generator | None) -> Tensor:
    """One level per image, uniform in `bounds`, as a float32 `[B, 1, 1, 1]` tensor."""
    low, high = bounds
    shape = (x.shape[0], 1, 1, 1)
    if low == high:
        return torch.full(shape, low, device=x.device)
    u = torch.rand(shape, generator=generator, device=x.device)
    return low + (high - low) * u


def draw_count(
    bounds: tuple[int, int], size: tuple[int, ...], x: Tensor, generator: torch.Generator | None
) -> Tensor:
    """Whole numbers uniform in the inclusive `bounds`, int64 of shape `size`."""
    low, high = bounds
    if low == high:
        return torch.full(size, low, dtype=torch.long, device=x.device)
    return torch.randint(low, high + 1, size, generator=generator, device=x.device)


def validation_levels(bounds: tuple[float, float], standard: Sequence[float] = ()) -> list[float]:
    """The levels a blind corruption is also validated at: the `standard` ones inside the range,
    else its two ends; none for a fixed level."""
    low, high = bounds
    if low == high:
        return []
    inside = [level for level in standard if low <= level <= high]
    return inside or [low, high]


def level_name(key: str, value: float) -> str:
    """`sigma15`, `amount0p05`: metric names end up as nn.ModuleDict keys, which forbid dots."""
    return f"{key}{value:g}".replace(".", "p")
