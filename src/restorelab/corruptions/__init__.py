"""Corruptions: `nn.Module`s that damage a clean batch on its device, seedable, per-image levels.

Every class follows the `Corruption` contract: `apply(x, generator) -> (corrupted, mask)`,
`forward(x, generator) -> corrupted`, `fixed_levels() -> {name: fixed-strength copy}`, and
`apply_with_level(x, generator) -> Corrupted(noisy, mask, sigma)` with `knows_noise_level()`.
A corruption with one main level declares it (`level`, a `LevelControl`) and answers for it:
`level_bounds()`, `at_level(value)`, `level_name(value)`, `true_sigma()`.
"""

from restorelab.corruptions.base import (
    Corrupted,
    Corruption,
    Identity,
    LevelControl,
    levelled_corruptions,
)
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
    "LevelControl",
    "Mixed",
    "Occlusion",
    "PixelFlip",
    "PoissonNoise",
    "SaltPepperNoise",
    "SpeckleNoise",
    "Stains",
    "levelled_corruptions",
]
