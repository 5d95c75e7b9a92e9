"""Structured damage: occluding patches, faded colour, stains on scanned paper."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from restorelab.corruptions.base import (
    Corruption,
    LevelControl,
    count_range,
    draw_count,
    draw_level,
    level_name,
    level_range,
    validation_levels,
    working,
)

OCCLUSION_FILLS = ("zeros", "noise", "mean")

# ITU-R BT.601 luma, the weights of PIL's and OpenCV's RGB -> gray conversion.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def _side_range(value: float | Sequence[float], name: str) -> tuple[float, float]:
    """Bounds of a length given in pixels (>= 1) or as a fraction of the image side (< 1)."""
    low, high = level_range(value, name)
    if low <= 0 or (low < 1 <= high):
        raise ValueError(
            f"{name} must be > 0 and either pixels (>= 1) or fractions of the image side (< 1) "
            f"at both ends, got {value!r}"
        )
    return low, high


def _to_pixels(bounds: tuple[float, float], side: int) -> tuple[float, float]:
    if bounds[1] < 1:
        return bounds[0] * side, bounds[1] * side
    return bounds


class Occlusion(Corruption):
    """Square patches blanked out, each fully inside the image (patches may overlap).

    Output stays in [0, 1]; the mask `[B, 1, H, W]` marks the covered pixels.

    Args:
        count: patches per image; a `[min, max]` pair (inclusive) draws a count per image.
        size: patch side in pixels (>= 1) or as a fraction of the shorter image side (< 1); a
            `[min, max]` pair draws a side per patch. Clipped to the image.
        fill: what covers a patch: `zeros` (black), `noise` (uniform random values) or `mean`
            (the image's mean colour, so the patch carries no edge to find).
    """

    title = "occlusion"  # two levels (count, size): no single `level`

    def __init__(
        self,
        count: int | Sequence[int] = 1,
        size: float | Sequence[float] = 0.25,
        fill: str = "zeros",
    ) -> None:
        super().__init__()
        self.count = count_range(count, "count")
        self.size = _side_range(size, "size")
        if fill not in OCCLUSION_FILLS:
            raise ValueError(f"fill must be one of {OCCLUSION_FILLS}, got {fill!r}")
        self.fill = fill

    def corrupt(
        self, x: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor | None]:
        b, _, h, w = x.shape
        max_count = self.count[1]
        count = draw_count(self.count, (b,), x, generator)  # (B,)
        low, high = _to_pixels(self.size, min(h, w))
        # Whole pixel sides, uniform over the inclusive range, at least 1 and at most the image.
        sides = (round(low), round(high))
        sides = (min(max(sides[0], 1), h, w), min(max(sides[1], 1), h, w))
        side = draw_count(sides, (b, max_count), x, generator)  # (B, K)
        u = torch.rand((2, b, max_count), generator=generator, device=x.device)
        top = (u[0] * (h - side + 1)).long()  # (B, K), keeps the patch inside the image
        left = (u[1] * (w - side + 1)).long()

        rows = torch.arange(h, device=x.device).view(1, h, 1)
        cols = torch.arange(w, device=x.device).view(1, 1, w)
        mask = torch.zeros((b, h, w), dtype=torch.bool, device=x.device)
        # A loop over patches keeps memory at one (B, H, W) mask whatever the count.
        for k in range(max_count):
            y0, x0, s = (v[:, k].view(b, 1, 1) for v in (top, left, side))
            active = (count > k).view(b, 1, 1)
            inside = (rows >= y0) & (rows < y0 + s) & (cols >= x0) & (cols < x0 + s)
            mask = mask | (inside & active)
        mask = mask.unsqueeze(1)  # (B, 1, H, W)

        clean = working(x)
        if self.fill == "zeros":
            fill = torch.zeros((), dtype=clean.dtype, device=x.device)
        elif self.fill == "noise":
            fill = torch.rand(x.shape, generator=generator, device=x.device)
        else:
            fill = clean.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
        return torch.where(mask, fill, clean).to(x.dtype), mask

    def fixed_levels(self) -> dict[str, Corruption]:
        counts = validation_levels(self.count)
        sizes = validation_levels(self.size)
        if counts and sizes:
            # The mildest and the harshest setting together, not every combination.
            return {
                f"{level_name('count', c)}_{level_name('size', s)}": Occlusion(
                    count=int(c), size=s, fill=self.fill
                )
                for c, s in zip(counts, sizes, strict=True)
            }
        levels: dict[str, Corruption] = {}
        for c in counts:
            levels[level_name("count", c)] = Occlusion(count=int(c), size=self.size, fill=self.fill)
        for s in sizes:
            levels[level_name("size", s)] = Occlusion(count=self.count, size=s, fill=self.fill)
        return levels


class Desaturate(Corruption):
    """Fades colour towards luma (0.299 R + 0.587 G + 0.114 B): `strength` 1 gives gray images
    with three equal channels. RGB batches only. Output stays in [0, 1].

    Args:
        strength: how far towards gray, in [0, 1]; a `[min, max]` pair draws one per image,
            validated also at the two ends.
    """

    level = LevelControl("strength", "towards gray", 0.0, 1.0, 1.0, 0.05, maximum=1.0)
    title = "desaturation"

    def __init__(self, strength: float | Sequence[float] = 1.0) -> None:
        super().__init__()
        self.strength = level_range(strength, "strength", high=1.0)

    def corrupt(
        self, x: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor | None]:
        if x.shape[1] != 3:
            raise ValueError(
                f"Desaturate needs RGB images (C = 3), got C = {x.shape[1]}: use channels: 3 "
                "in the data config, or leave desaturation out for gray data"
            )
        strength = draw_level(self.strength, x, generator)  # (B, 1, 1, 1)
        clean = working(x)
        weights = torch.tensor(LUMA_WEIGHTS, dtype=clean.dtype, device=x.device)
        gray = (clean * weights.view(1, 3, 1, 1)).sum(dim=1, keepdim=True)  # (B, 1, H, W)
        # lerp is exact at both ends: strength 1 gives three bit-identical channels.
        faded = torch.lerp(clean, gray.expand_as(clean), strength.to(clean.dtype))
        return faded.to(x.dtype), None



def _smooth_field(x: Tensor, cells: int, generator: torch.Generator | None) -> Tensor:
    """A smooth random field in [0, 1], `[B, 1, H, W]`: coarse uniform noise, bilinearly
    upsampled (bilinear interpolation of values in [0, 1] stays in [0, 1])."""
    b, _, h, w = x.shape
    coarse = torch.rand((b, 1, cells, cells), generator=generator, device=x.device)
    return F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)


class Stains(Corruption):
    """Smooth dark blotches, like coffee stains on scanned paper, and optionally an uneven
    background, multiplied into the page. Output stays in [0, 1] (factors are in [0, 1]).

    Each stain is a Gaussian blob whose edge is made irregular by a smooth random field; the
    blobs darken all channels alike.

    Args:
        count: stains per image; a `[min, max]` pair (inclusive) draws a count per image.
        radius: blob radius in pixels (>= 1) or as a fraction of the shorter side (< 1); a
            `[min, max]` pair draws one per stain.
        darkness: how much a stain darkens the page at its centre, in [0, 1]; a `[min, max]`
            pair draws one per image, validated also at the two ends.
        background: also shade the whole page with a smooth field up to half as dark as the
            stains, like yellowed paper or uneven scanner light.
    """

    level = LevelControl("darkness", "darkness at a stain's centre", 0.0, 1.0, 0.4, 0.05,
                         maximum=1.0)
    title = "stains"

    def __init__(
        self,
        count: int | Sequence[int] = (1, 4),
        radius: float | Sequence[float] = (0.05, 0.2),
        darkness: float | Sequence[float] = (0.2, 0.6),
        background: bool = True,
    ) -> None:
        super().__init__()
        self.count = count_range(count, "count")
        self.radius = _side_range(radius, "radius")
        self.darkness = level_range(darkness, "darkness", high=1.0)
        self.background = background

    def corrupt(
        self, x: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor | None]:
        b, _, h, w = x.shape
        max_count = self.count[1]
        count = draw_count(self.count, (b,), x, generator)  # (B,)
        low, high = _to_pixels(self.radius, min(h, w))
        u = torch.rand((3, b, max_count), generator=generator, device=x.device)
        radius = (low + (high - low) * u[0]).clamp(min=1.0)  # (B, K)
        center_y, center_x = u[1] * h, u[2] * w

        rows = torch.arange(h, device=x.device, dtype=torch.float32).view(1, h, 1) + 0.5
        cols = torch.arange(w, device=x.device, dtype=torch.float32).view(1, 1, w) + 0.5
        # Distances are stretched by a smooth field so that stains are not perfect discs.
        stretch = 0.6 + 0.8 * _smooth_field(x, 6, generator)[:, 0]  # (B, H, W)
        stain = torch.zeros((b, h, w), device=x.device)
        for k in range(max_count):
            cy, cx, r = (v[:, k].view(b, 1, 1) for v in (center_y, center_x, radius))
            distance2 = ((rows - cy) ** 2 + (cols - cx) ** 2) / r**2 * stretch
            active = (count > k).view(b, 1, 1)
            stain = stain + torch.exp(-0.5 * distance2) * active
        stain = stain.clamp(max=1.0).unsqueeze(1)  # (B, 1, H, W), overlapping stains saturate

        darkness = draw_level(self.darkness, x, generator)  # (B, 1, 1, 1)
        factor = 1.0 - darkness * stain
        if self.background:
            factor = factor * (1.0 - 0.5 * darkness * _smooth_field(x, 3, generator))
        return (working(x) * factor).to(x.dtype), None
