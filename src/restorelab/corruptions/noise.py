"""Pixel-wise noise: additive Gaussian, multiplicative speckle, Poisson shot noise, impulses."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from restorelab.corruptions.base import (
    STANDARD_SIGMAS,
    Corrupted,
    Corruption,
    LevelControl,
    check_distribution,
    draw_level,
    level_range,
    working,
)


class GaussianNoise(Corruption):
    """Additive white Gaussian noise: `noisy = x + sigma / 255 * N(0, 1)`, independent per pixel
    and channel.

    It knows the level it drew: `apply_with_level` also returns each image's sigma / 255, the
    noise-level map of FFDNet and DRUNet.

    Args:
        sigma: standard deviation in 0-255 units; a `[min, max]` pair draws one sigma per image
            (blind denoising), validated also at 15/25/50 where they lie in the range.
        clip: clamp the noisy image to [0, 1]. Off by default, as in the literature's
            Set12/BSD68 tables, so the output leaves [0, 1] unless `clip` is set. Clipping makes
            the noise no longer Gaussian near black and white; the level reported stays sigma.
        distribution: how a range is drawn: `uniform` (default), or `log_uniform`, uniform in
            log sigma (in the noisy PSNR), which weights low levels more and needs min > 0
            (see `restorelab.corruptions.base.draw_level` for why).
    """

    level = LevelControl("sigma", "sigma (0-255)", 0.0, 100.0, 25.0, 1.0)
    title = "Gaussian"
    standard_levels = STANDARD_SIGMAS

    def __init__(
        self,
        sigma: float | Sequence[float] = 25,
        clip: bool = False,
        distribution: str = "uniform",
    ) -> None:
        super().__init__()
        self.sigma = level_range(sigma, "sigma")
        check_distribution(distribution, self.sigma, "sigma")
        self.clip = clip
        self.distribution = distribution

    def corrupt(
        self, x: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor | None]:
        return self.apply_with_level(x, generator).noisy, None

    def apply_with_level(self, x: Tensor, generator: torch.Generator | None = None) -> Corrupted:
        sigma = draw_level(self.sigma, x, generator, self.distribution) / 255.0  # (B, 1, 1, 1)
        noise = torch.randn(x.shape, generator=generator, device=x.device)
        noisy = working(x) + sigma * noise
        if self.clip:
            noisy = noisy.clamp(0.0, 1.0)
        return Corrupted(noisy.to(x.dtype), None, sigma)

    def knows_noise_level(self) -> bool:
        return True

    def true_sigma(self) -> float | None:
        low, high = self.sigma
        return low / 255.0 if low == high else None


class SpeckleNoise(Corruption):
    """Multiplicative noise: `noisy = x * (1 + sigma / 255 * N(0, 1))`, so dark pixels stay
    clean and white ones get the noise of `GaussianNoise(sigma)`.

    Args:
        sigma: relative standard deviation in 0-255 units; a `[min, max]` pair draws one per
            image, validated also at 15/25/50 where they lie in the range.
        clip: clamp to [0, 1]; off by default like `GaussianNoise`, so the output may leave
            [0, 1].
    """

    level = LevelControl("sigma", "relative sigma (0-255)", 0.0, 100.0, 25.0, 1.0)
    title = "speckle"
    standard_levels = STANDARD_SIGMAS

    def __init__(self, sigma: float | Sequence[float] = 25, clip: bool = False) -> None:
        super().__init__()
        self.sigma = level_range(sigma, "sigma")
        self.clip = clip

    def corrupt(
        self, x: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor | None]:
        sigma = draw_level(self.sigma, x, generator) / 255.0  # (B, 1, 1, 1)
        noise = torch.randn(x.shape, generator=generator, device=x.device)
        noisy = working(x) * (1.0 + sigma * noise)
        if self.clip:
            noisy = noisy.clamp(0.0, 1.0)
        return noisy.to(x.dtype), None



class PoissonNoise(Corruption):
    """Photon shot noise: `noisy = Poisson(peak * x) / peak`, plus optional Gaussian read noise.

    The mean stays `x` and the variance is `x / peak`: a lower peak (fewer photons at white) is
    noisier. Shot noise alone stays >= 0 but may exceed 1; read noise may make it negative.

    Args:
        peak: photon count of a white pixel; a `[min, max]` pair draws one per image, validated
            also at the two ends.
        read_sigma: standard deviation of the additive read noise, in 0-255 units (0: none).
        clip: clamp to [0, 1]; off by default like `GaussianNoise`.
    """

    level = LevelControl("peak", "photons at white", 1.0, 200.0, 30.0, 1.0, positive=True)
    title = "Poisson"

    def __init__(
        self, peak: float | Sequence[float] = 30, read_sigma: float = 0, clip: bool = False
    ) -> None:
        super().__init__()
        self.peak = level_range(peak, "peak")
        if self.peak[0] <= 0:
            raise ValueError(f"peak must be > 0, got {peak!r}")
        if read_sigma < 0:
            raise ValueError(f"read_sigma must be >= 0, got {read_sigma!r}")
        self.read_sigma = float(read_sigma)
        self.clip = clip

    def corrupt(
        self, x: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor | None]:
        peak = draw_level(self.peak, x, generator)  # (B, 1, 1, 1)
        # clamp: a clean image slightly outside [0, 1] must not give a negative Poisson rate.
        rate = (working(x) * peak).clamp(min=0.0)
        noisy = torch.poisson(rate, generator=generator) / peak
        if self.read_sigma > 0:
            noise = torch.randn(x.shape, generator=generator, device=x.device)
            noisy = noisy + self.read_sigma / 255.0 * noise
        if self.clip:
            noisy = noisy.clamp(0.0, 1.0)
        return noisy.to(x.dtype), None



class SaltPepperNoise(Corruption):
    """Impulse noise: a fraction `amount` of the pixels turns white (salt) or black (pepper),
    all channels alike. Output stays in [0, 1]; the mask `[B, 1, H, W]` marks the hit pixels.

    Args:
        amount: expected fraction of pixels hit, in [0, 1]; a `[min, max]` pair draws one per
            image, validated also at the two ends.
        salt_ratio: fraction of the hit pixels that turn white.
    """

    level = LevelControl("amount", "fraction of pixels", 0.0, 0.5, 0.1, 0.01, maximum=1.0)
    title = "salt and pepper"
    classical_reference = "median"  # the filter made for impulses

    def __init__(self, amount: float | Sequence[float] = 0.1, salt_ratio: float = 0.5) -> None:
        super().__init__()
        self.amount = level_range(amount, "amount", high=1.0)
        if not 0.0 <= salt_ratio <= 1.0:
            raise ValueError(f"salt_ratio must be in [0, 1], got {salt_ratio!r}")
        self.salt_ratio = float(salt_ratio)

    def corrupt(
        self, x: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor | None]:
        b, _, h, w = x.shape
        amount = draw_level(self.amount, x, generator)  # (B, 1, 1, 1)
        mask = torch.rand((b, 1, h, w), generator=generator, device=x.device) < amount
        salt = torch.rand((b, 1, h, w), generator=generator, device=x.device) < self.salt_ratio
        noisy = torch.where(mask, salt.to(x.dtype), x)
        return noisy, mask



class PixelFlip(Corruption):
    """Flips a fraction `amount` of the pixels to uniform random values in [0, 1) (the LFW
    write-up's "flipping pixels to random values"). Output stays in [0, 1].

    Args:
        amount: expected fraction of pixels flipped, in [0, 1]; a `[min, max]` pair draws one per
            image, validated also at the two ends.
        per_channel: pick each channel of each pixel on its own (mask `[B, C, H, W]`) instead of
            whole pixels, which get a random colour (mask `[B, 1, H, W]`).
    """

    level = LevelControl("amount", "fraction of pixels", 0.0, 0.5, 0.05, 0.01, maximum=1.0)
    title = "pixel flip"
    classical_reference = "median"

    def __init__(self, amount: float | Sequence[float] = 0.05, per_channel: bool = False) -> None:
        super().__init__()
        self.amount = level_range(amount, "amount", high=1.0)
        self.per_channel = per_channel

    def corrupt(
        self, x: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor | None]:
        b, c, h, w = x.shape
        amount = draw_level(self.amount, x, generator)  # (B, 1, 1, 1)
        mask_shape = (b, c if self.per_channel else 1, h, w)
        mask = torch.rand(mask_shape, generator=generator, device=x.device) < amount
        values = torch.rand(x.shape, generator=generator, device=x.device)
        noisy = torch.where(mask, values.to(x.dtype), x)
        return noisy, mask
