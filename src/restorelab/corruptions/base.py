"""The corruption contract, `Identity`, and the per-image level helpers every corruption shares."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from typing import ClassVar

import torch
from torch import Tensor, nn

# The noise levels of the literature's Set12/BSD68/CBSD68 tables, in 0-255 units.
STANDARD_SIGMAS = (15.0, 25.0, 50.0)

# How a level is drawn from a [min, max] range: `uniform`, or `log_uniform` (uniform in the
# logarithm, i.e. in the noisy input's PSNR), which weights low levels more (see `draw_level`).
LEVEL_DISTRIBUTIONS = ("uniform", "log_uniform")


@dataclass(frozen=True)
class LevelControl:
    """A corruption's main level argument, and the range a control (the demo's slider) offers.

    Attributes:
        key: the constructor argument that holds the level, in the units of its config
            (`sigma` in 0-255, `amount` as a fraction of pixels, `peak` in photons).
        label: what the control says, e.g. "sigma (0-255)".
        low, high, default, step: the control's range, start and step.
        maximum: the largest level the corruption accepts (1 for a fraction of pixels).
        positive: whether the level must be > 0 (a photon count).
    """

    key: str
    label: str
    low: float
    high: float
    default: float
    step: float
    maximum: float = math.inf
    positive: bool = False


@dataclass(frozen=True)
class Corrupted:
    """A corrupted batch and what the corruption knows about it.

    Attributes:
        noisy: the corrupted batch `[B, C, H, W]`, dtype and device of the clean one.
        mask: bool `[B, 1 or C, H, W]` of damaged pixels, or None (see `Corruption.apply`).
        sigma: the standard deviation of the additive Gaussian noise each image received, float32
            `[B, 1, 1, 1]` in [0, 1] units (sigma_255 / 255), for noise-conditional nets; None when
            the corruption cannot say it (`Corruption.knows_noise_level`).
    """

    noisy: Tensor
    mask: Tensor | None
    sigma: Tensor | None


class Corruption(nn.Module):
    """Base: acts on a CLEAN batch `x` `[B, C, H, W]` float in [0, 1] on its device, keeps device
    and dtype (fp32, fp16, bf16), never writes into `x`.

    Subclasses implement `corrupt`; random numbers come only from `generator` when one is given.
    Corruptions hold no parameters or buffers, so checkpoints and precision plugins ignore them.

    A corruption with one main level (a noise's sigma, an impulse's amount) declares it in
    `level` and answers questions about it itself: `level_bounds()`, `at_level(v)` (a copy at a
    fixed level), `level_name(v)` (`sigma25`), `fixed_levels()` (the copies blind training is
    validated at) and `true_sigma()`. `title` is its name in words, `classical_reference` the
    baseline the literature reports beside a model for it.
    """

    level: ClassVar[LevelControl | None] = None
    title: ClassVar[str] = ""
    classical_reference: ClassVar[str] = "bm3d"
    standard_levels: ClassVar[tuple[float, ...]] = ()  # validated at these inside a range

    @classmethod
    def name(cls) -> str:
        """The corruption in words, for reports and the demo: `title`, else the class name."""
        return cls.title or cls.__name__

    def level_bounds(self) -> tuple[float, float] | None:
        """The `(min, max)` of the main level (equal for a fixed level); None without one."""
        return getattr(self, self.level.key) if self.level else None

    def level_name(self, value: float) -> str:
        """The metric-safe name of this corruption at `value`, e.g. `sigma25`, `amount0p1`."""
        if self.level is None:
            raise ValueError(f"{type(self).__name__} has no single level to name")
        return level_name(self.level.key, value)

    def at_level(self, value: float) -> Corruption:
        """A copy of this corruption with its main level fixed at `value` (its other settings
        kept); ValueError for a corruption without one, or a value outside what it accepts."""
        if self.level is None:
            allowed = ", ".join(c.__name__ for c in levelled_corruptions())
            raise ValueError(
                f"{type(self).__name__} has no single level to set; allowed for: {allowed}"
            )
        control = self.level
        bounds = level_range(float(value), control.key, high=control.maximum)
        if control.positive and bounds[0] <= 0:
            raise ValueError(f"{control.key} must be > 0, got {value!r}")
        fixed = copy.deepcopy(self)
        setattr(fixed, control.key, bounds)
        return fixed

    def true_sigma(self) -> float | None:
        """The standard deviation in [0, 1] units when this is additive white Gaussian noise of
        one fixed, known level (what a baseline or a noise map is given); else None."""
        return None

    def fixed_levels(self) -> dict[str, Corruption]:
        """Named fixed-strength copies for per-level validation metrics when this corruption
        draws its level from a range (blind training); {} when the level is fixed. By default:
        `standard_levels` inside the range, else its two ends."""
        bounds = self.level_bounds()
        if bounds is None:
            return {}
        values = validation_levels(bounds, self.standard_levels)
        return {self.level_name(value): self.at_level(value) for value in values}

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

    def apply_with_level(self, x: Tensor, generator: torch.Generator | None = None) -> Corrupted:
        """What `apply` does, plus the noise level each image got (`Corrupted.sigma`), drawn from
        the same random numbers: `apply_with_level(x, g).noisy` equals `apply(x, g)[0]`."""
        noisy, mask = self.apply(x, generator)
        return Corrupted(noisy, mask, None)

    def knows_noise_level(self) -> bool:
        """Whether `apply_with_level` gives `sigma`: True only where the damage is additive white
        Gaussian noise of a known standard deviation, what a noise-level map means (FFDNet,
        DRUNet). A composition does not: damages after the noise change its statistics."""
        return False

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.apply(x, generator)[0]


def levelled_corruptions() -> list[type[Corruption]]:
    """Every imported corruption class with a main level, sorted by name."""
    found: list[type[Corruption]] = []
    pending = list(Corruption.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.level is not None and cls not in found:
            found.append(cls)
    return sorted(found, key=lambda cls: cls.__name__)


class Identity(Corruption):
    """No corruption (`noise=none`): returns the batch itself, unchanged; output in [0, 1]."""

    title = "none"

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


def check_distribution(distribution: str, bounds: tuple[float, float], name: str) -> None:
    """Reject an unknown distribution, or `log_uniform` over a range that reaches 0."""
    if distribution not in LEVEL_DISTRIBUTIONS:
        allowed = ", ".join(repr(d) for d in LEVEL_DISTRIBUTIONS)
        raise ValueError(f"distribution={distribution!r} is not supported; allowed: {allowed}")
    low, high = bounds
    if distribution == "log_uniform" and low < high and low <= 0:
        raise ValueError(
            f"distribution='log_uniform' needs {name} min > 0 (log 0 is -inf), got "
            f"[{low:g}, {high:g}]; e.g. {name}=[1,{high:g}]"
        )


def draw_level(
    bounds: tuple[float, float],
    x: Tensor,
    generator: torch.Generator | None,
    distribution: str = "uniform",
) -> Tensor:
    """One level per image in `bounds`, as a float32 `[B, 1, 1, 1]` tensor.

    `uniform` draws each value of the range equally often. `log_uniform` is uniform in
    log(level): for a noise sigma, uniform in the noisy input's PSNR, so [1, 55] has its median
    at sqrt(55) = 7.4 instead of 28. It balances the loss over the range: a good denoiser's MSE
    grows about linearly with sigma (BSD68, DnCNN: -3.0 dB per doubling from 25 to 50), so under
    a uniform draw the high levels dominate the gradient and blind nets denoise too little at
    low sigma; a density proportional to 1 / sigma gives each level about the same share.
    Both use one uniform number per image, so seeds give the same stream of draws.
    """
    low, high = bounds
    shape = (x.shape[0], 1, 1, 1)
    if low == high:
        return torch.full(shape, low, device=x.device)
    u = torch.rand(shape, generator=generator, device=x.device)
    if distribution == "log_uniform":
        return torch.exp(math.log(low) + (math.log(high) - math.log(low)) * u)
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
