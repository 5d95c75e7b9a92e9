"""Training objectives: how one training step turns a batch into a loss (supervised, or from
noisy images only). Each is a parameter-free strategy the one `DenoisingModule` calls.

The contract: `objective(step: TrainingStep) -> Tensor`, a scalar loss with gradients through the
net. `TrainingStep` carries the batch (clean images, a pair, or already-noisy images when the data
is `noisy_only`), the corruption, the net call and the configured loss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restorelab.errors import ConfigError

# (noisy, clean, mask, sigma) of one batch, as `DenoisingModule._pair` makes it.
Pair = tuple[Tensor, Tensor, Optional[Tensor], Optional[Tensor]]


@dataclass(frozen=True)
class TrainingStep:
    """What an objective may use in one training step.

    Attributes:
        batch: clean images `[B, C, H, W]`, a `(noisy, clean)` or `(noisy_a, noisy_b)` pair of real
            noise, or noisy observations `[B, C, H, W]` when `noisy_only`.
        noisy_only: the batch holds noisy observations: never corrupt it, no clean image exists.
        pair: one fresh draw of the corruption of a clean batch (or the pair itself), no grad.
        restore: the net call `restore(x, sigma)`; sigma `[B, 1, 1, 1]` in [0, 1] units or None.
        loss: the configured loss `loss(restored, target, mask)`.
        sigma: the noise level of `noisy_only` batches when the config states one (a fixed
            `noise.sigma`), `[1, 1, 1, 1]` in [0, 1] units, else None.
    """

    batch: Any
    noisy_only: bool
    pair: Callable[[Any], Pair]
    restore: Callable[[Tensor, Tensor | None], Tensor]
    loss: Callable[[Tensor, Tensor, Tensor | None], Tensor]
    sigma: Tensor | None = None

    def observation(self) -> tuple[Tensor, Tensor | None]:
        """One noisy observation `y` and its level: the batch itself when it is already noisy,
        else one draw of the corruption (the noisy half of a real pair)."""
        if self.noisy_only:
            return self.batch, self.sigma
        noisy, _, _, sigma = self.pair(self.batch)
        return noisy, sigma  # a real pair's level is unknown: the noise config is not its noise


class Objective(nn.Module):
    """Base of the objectives: no parameters, so checkpoints are unchanged by the choice."""

    # Whether the method needs clean targets or a second draw (refused on noisy-only data).
    needs_clean = False
    # Whether the method uses the configured `loss` (else the MSE its paper derives it for).
    uses_loss = False
    # What the second image of a real pair must be: "clean" (a reference), "noisy" (a second
    # shot of the scene), or None (the method reads the noisy half only). Data modules that yield
    # pairs say theirs with a `pair_target` attribute; a mismatch is refused in setup.
    pair_target: str | None = None

    def check_sigma_source(self, corruption: nn.Module, real_pairs: bool = False) -> None:
        """Raises ConfigError when the method needs a noise level that nothing provides
        (`real_pairs`: the batches are real noise, whose level no corruption states)."""

    def forward(self, step: TrainingStep) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class Supervised(Objective):
    """Restore the corrupted batch, compare with the clean one (the default)."""

    needs_clean = True
    uses_loss = True
    pair_target = "clean"

    def forward(self, step: TrainingStep) -> Tensor:
        noisy, clean, mask, sigma = step.pair(step.batch)
        return step.loss(step.restore(noisy, sigma), clean, mask)


class Noise2Noise(Objective):
    """Noise2Noise (Lehtinen et al. 2018): the target is a second, independent noisy version of
    the same image: two draws of the corruption of one clean batch, or a `(noisy_a, noisy_b)`
    pair of real shots. The configured loss compares them (MSE for zero-mean noise)."""

    needs_clean = True
    uses_loss = True
    pair_target = "noisy"

    def forward(self, step: TrainingStep) -> Tensor:
        if isinstance(step.batch, (list, tuple)):
            noisy_a, noisy_b = step.batch  # two real shots of one scene
            return step.loss(step.restore(noisy_a, None), noisy_b, None)
        noisy_a, _, _, sigma = step.pair(step.batch)
        noisy_b, _, _, _ = step.pair(step.batch)
        return step.loss(step.restore(noisy_a, sigma), noisy_b, None)


# The 8 ordered pairs of edge-adjacent pixels of a 2x2 cell, cells numbered 0 1 / 2 3 (the order
# of `pixel_unshuffle`): diagonal pairs are left out, as in the paper's sampler.
NEIGHBOUR_PAIRS = ((0, 1), (0, 2), (1, 3), (2, 3), (1, 0), (2, 0), (3, 1), (3, 2))


def draw_neighbour_pairs(
    y: Tensor, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Per image and 2x2 cell of `y` `[B, C, H, W]`, the positions (0-3) of two different
    edge-adjacent pixels, each `[B, 1, 1, H/2, W/2]` (shared by the channels)."""
    b, _, h, w = y.shape
    choice = torch.randint(
        len(NEIGHBOUR_PAIRS), (b, 1, 1, h // 2, w // 2), generator=generator, device=y.device
    )
    table = torch.tensor(NEIGHBOUR_PAIRS, device=y.device)  # (8, 2)
    return table[choice, 0], table[choice, 1]


def take_cells(x: Tensor, position: Tensor) -> Tensor:
    """The pixel at `position` of every 2x2 cell of `x`: `[B, C, H/2, W/2]` (odd edges dropped)."""
    b, c, h, w = x.shape
    x = x[..., : h - h % 2, : w - w % 2]
    cells = F.pixel_unshuffle(x, 2).view(b, c, 4, h // 2, w // 2)  # (B, C, 4, H/2, W/2)
    index = position.expand(b, c, 1, h // 2, w // 2)
    return cells.gather(2, index).squeeze(2)


class Neighbor2Neighbor(Objective):
    """Neighbor2Neighbor (Huang et al. 2021): a random neighbour sub-sampler makes two half-size
    images g1(y), g2(y) of one noisy image; the net maps one to the other, with a regulariser
    that ties it to the full-size output f(y) (computed without gradients).

    Args:
        gamma: weight of the regulariser (the paper uses 2).
    """

    def __init__(self, gamma: float = 2.0) -> None:
        super().__init__()
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma!r}")
        self.gamma = float(gamma)

    def forward(self, step: TrainingStep) -> Tensor:
        y, sigma = step.observation()
        if min(y.shape[-2:]) < 2:
            raise ValueError(f"neighbor2neighbor needs images of at least 2x2, got {y.shape}")
        first, second = draw_neighbour_pairs(y)
        g1, g2 = take_cells(y, first), take_cells(y, second)  # (B, C, H/2, W/2) each
        with torch.no_grad():
            full = step.restore(y, sigma)
            exact = take_cells(full, first) - take_cells(full, second)
        difference = step.restore(g1, sigma) - g2
        return difference.square().mean() + self.gamma * (difference - exact).square().mean()


class Noise2Void(Objective):
    """Noise2Void (Krull et al. 2019): a few pixels per image are replaced by a random neighbour
    within `radius` (never themselves); the loss reads the masked pixels only, so the net cannot
    learn the identity. With `n2v2` (Höck et al. 2022) they are replaced by the median of the
    neighbourhood without the centre, which removes N2V's checkerboard artefacts.

    Args:
        mask_ratio: fraction of each image's pixels masked (at least one), e.g. 0.002-0.01.
        radius: half-size of the neighbourhood (2: a 5x5 window).
        n2v2: replace by the neighbourhood median instead of a random neighbour.
    """

    def __init__(self, mask_ratio: float = 0.005, radius: int = 2, n2v2: bool = False) -> None:
        super().__init__()
        if not 0.0 < mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in (0, 1), got {mask_ratio!r}")
        if radius < 1:
            raise ValueError(f"radius must be >= 1, got {radius!r}")
        self.mask_ratio = float(mask_ratio)
        self.radius = int(radius)
        self.n2v2 = n2v2

    def mask_positions(
        self, y: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """(image, row, column) indices of the masked pixels, `round(mask_ratio * H * W)` (>= 1)
        distinct pixels per image, each `[B * k]`."""
        b, _, h, w = y.shape
        k = max(1, round(self.mask_ratio * h * w))
        flat = torch.rand(b, h * w, generator=generator, device=y.device).argsort(dim=1)[:, :k]
        image = torch.arange(b, device=y.device).repeat_interleave(k)
        flat = flat.reshape(-1)
        return image, flat // w, flat % w

    def blind_spot(
        self, y: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """`y` with its masked pixels replaced, and the bool mask `[B, 1, H, W]` of them."""
        b, c, h, w = y.shape
        r = self.radius
        if min(h, w) <= r:
            raise ValueError(
                f"noise2void with radius {r} needs images over {r} pixels, got {h}x{w}"
            )
        image, row, col = self.mask_positions(y, generator)
        # Reflect, not replicate: a replicated border would copy the masked pixel into its own
        # neighbourhood and leak the value the loss asks for.
        padded = F.pad(y, (r, r, r, r), mode="reflect")
        offsets = [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1) if dy or dx]
        offsets_t = torch.tensor(offsets, device=y.device)  # (N, 2), centre excluded
        if self.n2v2:
            rows = row[:, None] + r + offsets_t[:, 0]  # (M, N)
            cols = col[:, None] + r + offsets_t[:, 1]
            values = padded[image[:, None], :, rows, cols]  # (M, N, C)
            replacement = values.median(dim=1).values  # (M, C)
        else:
            pick = torch.randint(len(offsets), (row.numel(),), generator=generator, device=y.device)
            rows, cols = row + r + offsets_t[pick, 0], col + r + offsets_t[pick, 1]
            replacement = padded[image, :, rows, cols]  # (M, C)
        masked = y.clone()
        masked[image, :, row, col] = replacement
        mask = torch.zeros(b, 1, h, w, dtype=torch.bool, device=y.device)
        mask[image, 0, row, col] = True
        return masked, mask

    def forward(self, step: TrainingStep) -> Tensor:
        y, sigma = step.observation()
        masked, mask = self.blind_spot(y)
        restored = step.restore(masked, sigma)
        weight = mask.expand_as(y)
        return (restored - y)[weight].square().mean()


class Recorrupted2Recorrupted(Objective):
    """Recorrupted-to-Recorrupted (Pang et al. 2021) for Gaussian noise of known sigma: input
    `y + alpha * sigma * z`, target `y - sigma * z / alpha`, z ~ N(0, 1); their noises are
    independent, so the MSE between them is, in expectation, the supervised MSE plus a constant.

    Args:
        alpha: the recorruption strength (the paper uses 0.5).
        sigma: the noise level in 0-255 units; null = the level the corruption reports.
    """

    def __init__(self, alpha: float = 0.5, sigma: float | None = None) -> None:
        super().__init__()
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha!r}")
        if sigma is not None and sigma <= 0:
            raise ValueError(f"sigma must be > 0 (0-255 units) or null, got {sigma!r}")
        self.alpha = float(alpha)
        self.sigma = None if sigma is None else float(sigma)

    def check_sigma_source(self, corruption: nn.Module, real_pairs: bool = False) -> None:
        if self.sigma is None and real_pairs:
            raise ConfigError(
                "objective=r2r needs the Gaussian noise level, but the data yields real noise, "
                "whose level no corruption states: set objective.sigma (0-255 units) when that "
                "noise is Gaussian of a known level, or use objective=neighbor2neighbor or "
                "noise2void"
            )
        knows = getattr(corruption, "knows_noise_level", None)
        if self.sigma is None and not (callable(knows) and knows()):
            raise ConfigError(
                f"objective=r2r needs the Gaussian noise level, but the corruption "
                f"{type(corruption).__name__} cannot say it: set objective.sigma (0-255 units) "
                "or use noise=gaussian"
            )

    def forward(self, step: TrainingStep) -> Tensor:
        y, sigma = step.observation()
        if self.sigma is not None:
            sigma = torch.full((1, 1, 1, 1), self.sigma / 255.0, device=y.device)
        if sigma is None:
            raise ConfigError(
                "objective=r2r needs the Gaussian noise level and this batch has none: set "
                "objective.sigma (0-255 units)"
            )
        sigma = sigma.to(y.dtype)
        z = torch.randn_like(y)
        recorrupted = y + self.alpha * sigma * z
        target = y - sigma * z / self.alpha
        # The input's noise is sigma * sqrt(1 + alpha^2): what a noise-conditional net is told.
        level = (sigma * (1.0 + self.alpha**2) ** 0.5).expand(y.shape[0], 1, 1, 1)
        return (step.restore(recorrupted, level) - target).square().mean()


def fixed_sigma(corruption: nn.Module) -> Tensor | None:
    """The one noise level `[1, 1, 1, 1]` (0-1 units) a corruption states, for batches that are
    already noisy; None when it cannot say it or draws it from a range."""
    knows = getattr(corruption, "knows_noise_level", None)
    bounds = getattr(corruption, "sigma", None)
    if not (callable(knows) and knows()) or not isinstance(bounds, tuple) or bounds[0] != bounds[1]:
        return None
    return torch.full((1, 1, 1, 1), bounds[0] / 255.0)
