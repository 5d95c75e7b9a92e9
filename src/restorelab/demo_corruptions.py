"""The corruptions the demo offers, each with its own level control, applied seeded to an
image; and what a model was trained on, in words and as a warning when the chosen corruption is
another."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from restorelab.corruptions import (
    Corruption,
    GaussianNoise,
    Identity,
    PoissonNoise,
    SaltPepperNoise,
    SpeckleNoise,
)

# The corruptions offered, by name; each brings its own level control (`Corruption.level`).
CORRUPTIONS: dict[str, type[Corruption]] = {
    cls.name(): cls for cls in (GaussianNoise, SaltPepperNoise, PoissonNoise, SpeckleNoise)
}


def corrupt(clean: np.ndarray, corruption: str, level: float, seed: int) -> np.ndarray:
    """The clean `[H, W, C]` image damaged by `corruption` at `level`, seeded."""
    module = as_corruption(corruption, level)
    x = torch.from_numpy(np.ascontiguousarray(clean)).permute(2, 0, 1)[None]
    noisy = module(x, torch.Generator().manual_seed(seed))[0]
    return noisy.permute(1, 2, 0).numpy()


def as_corruption(corruption: str, level: float) -> Corruption:
    """The demo's corruption `corruption` at `level` (in its control's units)."""
    cls = CORRUPTIONS[corruption]
    return cls(**{cls.level.key: level})


def trained_corruptions(noise: Mapping[str, Any] | None) -> list[type[Corruption] | str]:
    """The corruption classes a model was trained on, from its `noise` config (the parts of a
    composition such as `Mixed`); a class that cannot be imported here stays its name; empty
    when unknown."""
    from hydra.utils import get_class

    if not noise or "_target_" not in noise:
        return []
    parts = [value for value in noise.values()
             if isinstance(value, Mapping) and "_target_" in value]
    found: list[type[Corruption] | str] = []
    for node in parts or [noise]:
        target = str(node["_target_"])
        try:
            found.append(get_class(target))
        except (ImportError, ValueError):  # a user's own corruption, not importable here
            found.append(target.rsplit(".", 1)[-1])
    return found


def _corruption_name(kind: type[Corruption] | str) -> str:
    return kind if isinstance(kind, str) else kind.name()


def corruption_warning(noise: Mapping[str, Any] | None, corruption: str) -> str | None:
    """A sentence when the chosen demo `corruption` is not one the model was trained on."""
    trained = trained_corruptions(noise)
    if not trained or CORRUPTIONS[corruption] in trained:
        return None
    said = " + ".join(_corruption_name(t) for t in trained)
    said = "no synthetic noise (real noisy / clean pairs)" if trained == [Identity] else (
        f"{said} noise")
    return (
        f"This model was trained on {said}, not on {corruption} noise: a gain here shows how "
        "far it carries over, not what a model trained for this corruption would do."
    )


def describe_noise(noise: Mapping[str, Any]) -> str:
    """A model's training corruption in words: "Gaussian, sigma 25" or "Gaussian, sigma 0-55"."""
    from omegaconf import OmegaConf

    trained = trained_corruptions(noise)
    described = []
    for kind in trained:
        name = _corruption_name(kind)
        key = kind.level.key if not isinstance(kind, str) and kind.level else None
        level = noise.get(key) if key and len(trained) == 1 else None  # a part's own level: no
        if OmegaConf.is_list(level) or isinstance(level, (list, tuple)):
            level = "-".join(str(value) for value in level)  # blind: a range, e.g. 0-55
        described.append(f"{name}, {key} {level}" if level is not None else name)
    return " + ".join(described) or "unknown"
