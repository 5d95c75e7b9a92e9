"""Compositions: corruptions in sequence or one of several, each chosen per image."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from restorelab.corruptions.base import Corruption, Identity

COMPOSE_MODES = ("sequence", "one_of")
MIXED_DAMAGES = ("gaussian", "pixel_flip", "occlusion", "desaturate")


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _per_name(
    values: Sequence[float] | Mapping[str, float] | None, names: list[str], key: str
) -> list[float]:
    """Probabilities or weights given as a list (in order) or by name (missing names: 1)."""
    if values is None:
        return [1.0] * len(names)
    if isinstance(values, Mapping):
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ValueError(f"{key} names {unknown} that are not among {names}")
        return [float(values.get(name, 1.0)) for name in names]
    if isinstance(values, str) or len(values) != len(names):
        raise ValueError(f"{key} must give one number per corruption ({names}), got {values!r}")
    return [float(v) for v in values]


class Compose(Corruption):
    """Several corruptions as one. Output stays in [0, 1] when every part's does.

    `sequence` applies them in order, each to an image with its own probability (drawn per image);
    `one_of` applies exactly one per image, picked by `weights`. The mask is the union of the
    parts' masks over the images they were applied to, where a part that damages every pixel
    (mask None, e.g. Gaussian noise) counts as all-True; it is None when no part gives a mask.

    In config a list, or a mapping whose keys name the parts (`null` entries are left out):

        _target_: restorelab.corruptions.Compose
        corruptions:
          occlusion: {_target_: restorelab.corruptions.Occlusion, count: 2}
          gaussian: {_target_: restorelab.corruptions.GaussianNoise, sigma: [5, 50]}
        probabilities: {occlusion: 0.5}

    Args:
        corruptions: the parts, in order; unnamed ones are named after their class.
        mode: `sequence` or `one_of`.
        probabilities: `sequence` only: per part, as a list or by name (default 1).
        weights: `one_of` only: relative odds per part, as a list or by name (default equal).
    """

    def __init__(
        self,
        corruptions: Sequence[Corruption | None] | Mapping[str, Corruption | None],
        mode: str = "sequence",
        probabilities: Sequence[float] | Mapping[str, float] | None = None,
        weights: Sequence[float] | Mapping[str, float] | None = None,
    ) -> None:
        super().__init__()
        if mode not in COMPOSE_MODES:
            raise ValueError(f"mode must be one of {COMPOSE_MODES}, got {mode!r}")
        if isinstance(corruptions, Mapping):
            named = {str(k): c for k, c in corruptions.items() if c is not None}
        else:
            named = {}
            for c in corruptions:
                if c is None:
                    continue
                name = base = _snake_case(type(c).__name__)
                suffix = 1
                while name in named:  # two Gaussian stages: gaussian_noise, gaussian_noise_1
                    name, suffix = f"{base}_{suffix}", suffix + 1
                named[name] = c
        if not named:
            raise ValueError("Compose needs at least one corruption")
        self.corruptions = nn.ModuleDict(named)
        self.mode = mode
        names = list(named)
        if mode == "sequence":
            if weights is not None:
                raise ValueError("weights are for mode one_of; use probabilities in a sequence")
            self.probabilities = _per_name(probabilities, names, "probabilities")
            if not all(0.0 <= p <= 1.0 for p in self.probabilities):
                raise ValueError(f"probabilities must be in [0, 1], got {self.probabilities}")
        else:
            if probabilities is not None:
                raise ValueError("probabilities are for mode sequence; use weights with one_of")
            self.weights = _per_name(weights, names, "weights")
            if min(self.weights) < 0 or sum(self.weights) <= 0:
                raise ValueError(f"weights must be >= 0 with a positive sum, got {self.weights}")

    def corrupt(
        self, x: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor | None]:
        b = x.shape[0]
        parts = list(self.corruptions.values())
        applied: list[tuple[Tensor | None, Tensor | None]] = []  # (mask, images chosen)
        out = x
        if self.mode == "sequence":
            for corruption, probability in zip(parts, self.probabilities, strict=True):
                if probability == 0.0:
                    continue
                damaged, mask = corruption.apply(out, generator)
                chosen = None
                if probability < 1.0:
                    chosen = torch.rand(b, generator=generator, device=x.device) < probability
                    damaged = torch.where(chosen.view(b, 1, 1, 1), damaged, out)
                out = damaged
                if not isinstance(corruption, Identity):
                    applied.append((mask, chosen))
        else:
            odds = torch.tensor(self.weights, device=x.device)
            choice = torch.multinomial(odds, b, replacement=True, generator=generator)  # (B,)
            for k, corruption in enumerate(parts):
                if self.weights[k] == 0.0:
                    continue
                damaged, mask = corruption.apply(x, generator)
                chosen = choice == k
                out = torch.where(chosen.view(b, 1, 1, 1), damaged, out)
                if not isinstance(corruption, Identity):
                    applied.append((mask, chosen))
        return out, self._union(applied, x)

    @staticmethod
    def _union(applied: list[tuple[Tensor | None, Tensor | None]], x: Tensor) -> Tensor | None:
        if all(mask is None for mask, _ in applied):
            return None
        b, _, h, w = x.shape
        union = torch.zeros((b, 1, h, w), dtype=torch.bool, device=x.device)
        for mask, chosen in applied:
            if mask is None:  # damages every pixel of the images it was applied to
                mask = torch.ones((b, 1, h, w), dtype=torch.bool, device=x.device)
            if chosen is not None:
                mask = mask & chosen.view(b, 1, 1, 1)
            union = union | mask  # (B, 1 or C, H, W)
        return union

    def fixed_levels(self) -> dict[str, Corruption]:
        """`sequence`: a copy with one part at a fixed level, named `{part}_{level}`, for each
        part that has levels. `one_of`: each part alone at each of its levels, or alone as it is
        when it has none, so every branch gets its own metric."""
        levels: dict[str, Corruption] = {}
        for name, part in self.corruptions.items():
            for level, fixed in part.fixed_levels().items():
                if self.mode == "one_of":
                    levels[f"{name}_{level}"] = fixed
                else:
                    parts = {**self.corruptions, name: fixed}
                    levels[f"{name}_{level}"] = Compose(
                        parts, mode="sequence", probabilities=self.probabilities
                    )
            if self.mode == "one_of" and not part.fixed_levels():
                levels[name] = part
        return levels


class Mixed(Compose):
    """The LFW write-up's four damages together: Gaussian noise, pixel flips, occlusions and
    desaturation, each applied to an image with its own probability, in a configurable order.

    A `Compose` in sequence mode with named parts (see there for the mask and `fixed_levels`);
    output stays in [0, 1] when the Gaussian part clips. A part set to None (`noise.desaturate=
    null`, needed for gray data) is left out.

    Args:
        gaussian, pixel_flip, occlusion, desaturate: the four corruptions, or None.
        order: the four names in the order they are applied.
        probabilities: chance that each damage hits an image, by name (missing: 1).
    """

    def __init__(
        self,
        gaussian: Corruption | None = None,
        pixel_flip: Corruption | None = None,
        occlusion: Corruption | None = None,
        desaturate: Corruption | None = None,
        order: Sequence[str] = MIXED_DAMAGES,
        probabilities: Mapping[str, float] | None = None,
    ) -> None:
        if isinstance(order, str) or sorted(order) != sorted(MIXED_DAMAGES):
            raise ValueError(f"order must list each of {MIXED_DAMAGES} once, got {order!r}")
        probabilities = dict(probabilities or {})
        unknown = sorted(set(probabilities) - set(MIXED_DAMAGES))
        if unknown:
            raise ValueError(f"probabilities names {unknown}; allowed: {MIXED_DAMAGES}")
        parts = dict(
            gaussian=gaussian, pixel_flip=pixel_flip, occlusion=occlusion, desaturate=desaturate
        )
        chosen = {name: parts[name] for name in order if parts[name] is not None}
        super().__init__(
            chosen,
            mode="sequence",
            probabilities={name: probabilities.get(name, 1.0) for name in chosen},
        )
