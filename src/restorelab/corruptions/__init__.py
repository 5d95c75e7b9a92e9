"""Corruptions: `nn.Module`s that damage a clean batch on its device, seedable, per-image levels.

Every class follows the `Corruption` contract: `apply(x, generator) -> (corrupted, mask)`,
`forward(x, generator) -> corrupted`, `fixed_levels() -> {name: fixed-strength copy}`, and
`apply_with_level(x, generator) -> Corrupted(noisy, mask, sigma)` with `knows_noise_level()`.
"""

from restorelab.corruptions.base import Corrupted, Corruption, Identity
from restorelab.corruptions.compose import Compose, Mixed
from restorelab.corruptions.damage import Desaturate, Occlusion, Stains
from restorelab.corruptions.noise import (
    GaussianNoise,
    PixelFlip,
    PoissonNoise,
    SaltPepperNoise,
    SpeckleNoise,
)

__all__ = [
    "Compose",
    "Corrupted",
    "Corruption",
    "Desaturate",
    "GaussianNoise",
    "Identity",
    "Mixed",
    "Occlusion",
    "PixelFlip",
    "PoissonNoise",
    "SaltPepperNoise",
    "SpeckleNoise",
    "Stains",
]
