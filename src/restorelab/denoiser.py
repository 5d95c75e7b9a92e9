"""The `Denoiser`: restores images of any size with a trained net, tile by tile (sizes and
overlaps from `restorelab.tiling`, what they depend on in the net from
`restorelab.net_geometry`), with the x8 self-ensemble on request, and told the noise level where
the net takes it (given in 0-255 units, or estimated from the image)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from restorelab import tiling
from restorelab.loading import load_network
from restorelab.models.conditioning import restore, takes_noise_level, trained_sigma
from restorelab.net_geometry import grid_multiple, model_channels, pad_multiple

__all__ = [  # the net's geometry (restorelab.net_geometry) is part of this module's API
    "Denoiser",
    "ImageLike",
    "grid_multiple",
    "load_denoiser",
    "model_channels",
    "pad_multiple",
]

ImageLike = TypeVar("ImageLike", np.ndarray, Tensor)


def load_denoiser(
    path: str | Path,
    device: str | torch.device | None = None,
    tile_size: int | str | None = "auto",
    overlap: int | None = None,
    batch_size: int | None = None,
    ensemble: bool = False,
    memory_budget: int | None = None,
    color: str = "auto",
) -> Denoiser:
    """A `Denoiser` for a run folder, a `.ckpt` in one, or a `.safetensors` export.

    `device`: None picks CUDA when available, else the CPU. `tile_size` / `overlap` /
    `batch_size` / `ensemble` / `memory_budget` / `color`: see `Denoiser` (`tile_size=None`
    restores whole images in one pass; "auto" sizes tiles to the memory budget).
    """
    net, config = load_network(path)
    return Denoiser(
        net, tile_size=tile_size, overlap=overlap, batch_size=batch_size, device=device,
        config=config, ensemble=ensemble, memory_budget=memory_budget, color=color,
    )


COLOR_MODES = ("auto", "opponent", "rgb")


class Denoiser:
    """Restores images of any size with a trained net, tile by tile.

    Tiles of at most `tile_size` pixels a side overlap by `overlap` pixels and are blended with
    a raised-cosine ramp, which hides the seams; memory for the net's activations is bounded by
    `batch_size` tiles, whatever the image size (the output itself is one image-sized buffer).
    The grid is fitted to each image: the fewest tiles that cover it, shrunk evenly (see
    `restorelab.tiling`).

    Args:
        net: a restoration net, `forward(x) -> x_hat` on `[B, C, H, W]` in [0, 1].
        tile_size: the largest tile side; "auto" (default) the largest whose activations fit
            `memory_budget`, measured once on a probe; None restores whole images in one pass.
        overlap: pixels shared by neighbouring tiles; None: the net's effective receptive
            field, the radius holding 99.9 % of a centre pixel's input gradient, rounded up to
            a multiple of 8 and at most a quarter of the tile.
        batch_size: tiles restored together; None: 4 on CUDA, 1 on the CPU (where a batch
            gains nothing and would shrink the tiles).
        device: where the net runs; None picks CUDA when available.
        memory_budget: bytes the activations of one tile batch may take, for "auto"; None:
            half the free GPU memory, or on the CPU a quarter of the available memory (at most
            2 GiB).
        config: the run config the net comes from (kept for reports; `noise` says what it was
            trained on).
        ensemble: self-ensemble ("x8"): restore the 8 flips and rotations of every tile and
            average them, back in place. Eight times slower; usually a little better. Reports
            must say when it was used.
        color: how a gray net restores an RGB image. "opponent": each channel of CBM3D's
            opponent color space at its own noise level (`ColorFromGray`; for nets that take
            the level, whose noise model this transform keeps exact). "rgb": R, G and B one by
            one, each as a gray image. "auto" (default): "opponent" for a gray net that takes
            the level, "rgb" for any other gray net. Nets with 3 channels ignore it.
    """

    def __init__(
        self,
        net: nn.Module,
        tile_size: int | str | None = "auto",
        overlap: int | None = None,
        batch_size: int | None = None,
        device: str | torch.device | None = None,
        config: DictConfig | None = None,
        ensemble: bool = False,
        memory_budget: int | None = None,
        color: str = "auto",
    ) -> None:
        if color not in COLOR_MODES:
            raise ValueError(f"color must be one of {', '.join(COLOR_MODES)}, got {color!r}")
        if isinstance(tile_size, str) and tile_size != "auto":
            raise ValueError(f"tile_size must be 'auto', an integer >= 8 or None, got {tile_size!r}")
        if isinstance(tile_size, int) and tile_size < 8:
            raise ValueError(f"tile_size must be >= 8 or None (no tiling), got {tile_size}")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.net = net.eval().to(self.device)
        self.channels = model_channels(net)
        self.takes_noise_level = takes_noise_level(net)
        self.batch_size = batch_size or (4 if self.device.type == "cuda" else 1)
        self.config = config
        # What the weights are when not the trained ones themselves ("EMA, decay 0.999").
        self.weights: str | None = config.get("weights") if config is not None else None
        self.ensemble = ensemble
        if tile_size == "auto":
            tile_size = self._budget_tile(memory_budget)
        self.tile_size = tile_size
        if overlap is None and tile_size is not None:
            radius = self._probe_radius(tile_size)
            overlap = min(max(8 * math.ceil(radius / 8), tiling.MIN_OVERLAP), tile_size // 4)
        overlap = overlap or 0
        if tile_size is not None and not 0 <= overlap < tile_size:
            raise ValueError(f"overlap must be in [0, tile_size), got {overlap}")
        self.overlap = overlap
        # Where the level of the latest image came from: "given" (the caller's sigma), "trained"
        # (the one level the net was trained at), "estimated" (from the image itself) or None
        # (a net that does not take it).
        self.sigma_source: str | None = None
        self.last_sigma: float | None = None
        # The one level a conditional net was trained at ([0, 1] units), else None.
        self.trained_sigma = trained_sigma(config) if self.takes_noise_level else None
        gray_conditional = self.channels == 1 and self.takes_noise_level
        if color == "opponent" and not gray_conditional:
            raise ValueError(
                "color='opponent' is for gray nets that take the noise level (FFDNet, DRUNet); "
                f"this is a {self.channels}-channel "
                f"{'conditional' if self.takes_noise_level else 'blind'} net: use 'auto' or 'rgb'"
            )
        # How RGB images reach a gray net; None for nets of other channel counts.
        self.color: str | None = None
        if self.channels == 1:
            self.color = "opponent" if color == "auto" and gray_conditional else color
            self.color = "rgb" if self.color == "auto" else self.color
        self._color_denoiser: Denoiser | None = None

    def __repr__(self) -> str:
        return (
            f"Denoiser({type(self.net).__name__}, channels={self.channels}, "
            f"tile_size={self.tile_size}, overlap={self.overlap}, device={self.device}"
            f"{', ensemble=x8' if self.ensemble else ''}"
            f"{', color=opponent' if self.color == 'opponent' else ''}"
            f"{f', weights={self.weights}' if self.weights else ''})"
        )

    # ------------------------------------------------------------------ public
    @torch.no_grad()
    def denoise(self, image: ImageLike, sigma: float | None = None) -> ImageLike:
        """Restores one image; returns the same shape and type, in [0, 1].

        `image`: a float NumPy array in [0, 1], `[H, W]` or `[H, W, C]`, or a float tensor
        `[H, W]`, `[C, H, W]` or `[B, C, H, W]` (on any device). A gray net restores an RGB image as
        `color` says (by default in the opponent color space when it takes the noise level,
        else channel by channel); an RGB net sees a gray image as three equal channels.

        `sigma`: the Gaussian noise level in 0-255 units, as `noise.sigma` is given, for a net
        that takes it (FFDNet, DRUNet); None estimates it from the image (`sigma_source` then
        says "estimated", and `last_sigma` holds the value), or, for a net trained at one level
        (`noise.sigma` a number, e.g. a sigma=25 fine-tune), takes that level ("trained").
        Other nets ignore it.
        """
        if isinstance(image, np.ndarray):
            if image.ndim not in (2, 3) or not np.issubdtype(image.dtype, np.floating):
                raise ValueError(
                    "denoise takes a float array in [0, 1] of shape [H, W] or [H, W, C], got "
                    f"{image.dtype} {image.shape} (divide 8-bit images by 255)"
                )
            x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
            x = x[None, None] if image.ndim == 2 else x.permute(2, 0, 1)[None]
            y = self.denoise_batch(x, sigma)[0]
            out = y[0] if image.ndim == 2 else y.permute(1, 2, 0)
            return out.numpy().astype(image.dtype, copy=False)
        if isinstance(image, Tensor):
            if image.ndim not in (2, 3, 4) or not image.is_floating_point():
                raise ValueError(
                    "denoise takes a float tensor in [0, 1] of shape [H, W], [C, H, W] or "
                    f"[B, C, H, W], got {image.dtype} {tuple(image.shape)}"
                )
            x = image.reshape((1,) * (4 - image.ndim) + tuple(image.shape))
            return self.denoise_batch(x, sigma).reshape(image.shape)
        raise TypeError(f"denoise takes a NumPy array or a torch tensor, got {type(image)}")

    @torch.no_grad()
    def denoise_batch(self, x: Tensor, sigma: float | None = None) -> Tensor:
        """`[B, C, H, W]` float in [0, 1] (any device, dtype) to the restored batch, clamped to
        [0, 1], on the same device and dtype. `sigma`: see `denoise` (one level for the batch;
        when estimated, one estimate per image)."""
        b, c, h, w = x.shape
        if c == 3 and self.color == "opponent":
            return self._in_opponent_space(x, sigma)
        levels = self._levels(x, sigma)
        if c == self.channels:
            batch = x
        elif self.channels == 1:
            batch = x.reshape(b * c, 1, h, w)  # each channel as its own gray image
        elif c == 1:
            batch = x.expand(b, self.channels, h, w)
        else:
            raise ValueError(f"a {self.channels}-channel net cannot restore {c}-channel images")
        per_image = levels if len(levels) == len(batch) else [v for v in levels for _ in range(c)]
        restored = torch.stack(
            [self._restore_one(image, level) for image, level in zip(batch, per_image)]
        )
        if c == self.channels:
            out = restored
        elif self.channels == 1:
            out = restored.reshape(b, c, h, w)
        else:
            out = restored.mean(dim=1, keepdim=True)
        return out.to(device=x.device, dtype=x.dtype)

    def _in_opponent_space(self, x: Tensor, sigma: float | None) -> Tensor:
        """RGB `x` through the gray net in the opponent color space (`ColorFromGray`), with this
        denoiser's tiles, overlap, ensemble and level; its level source is reported here."""
        if self._color_denoiser is None:
            from restorelab.models.color_from_gray import ColorFromGray

            self._color_denoiser = Denoiser(
                ColorFromGray(self.net), tile_size=self.tile_size, overlap=self.overlap,
                batch_size=self.batch_size, device=self.device, config=self.config,
                ensemble=self.ensemble,
            )
        inner = self._color_denoiser
        out = inner.denoise_batch(x, sigma)
        self.sigma_source, self.last_sigma = inner.sigma_source, inner.last_sigma
        return out

    def _levels(self, x: Tensor, sigma: float | None) -> list[float | None]:
        """The noise level of each image of `x` in [0, 1] units (None for blind nets)."""
        if not self.takes_noise_level:
            self.sigma_source, self.last_sigma = None, None
            return [None] * x.shape[0]
        if sigma is None and self.trained_sigma is not None:
            self.sigma_source, self.last_sigma = "trained", self.trained_sigma * 255.0
            return [self.trained_sigma] * x.shape[0]
        if sigma is not None:
            if not math.isfinite(float(sigma)) or float(sigma) < 0:
                raise ValueError(f"sigma must be a noise level >= 0 in 0-255 units, got {sigma}")
            self.sigma_source, self.last_sigma = "given", float(sigma)
            return [float(sigma) / 255.0] * x.shape[0]
        from restorelab.baselines import estimate_sigma

        estimates = [
            estimate_sigma(image.permute(1, 2, 0).double().cpu().numpy()) for image in x
        ]
        self.sigma_source = "estimated"
        self.last_sigma = float(np.mean(estimates)) * 255.0
        return estimates

    # ------------------------------------------------------------------ tiles
    def _probe_restore(self, x: Tensor) -> Tensor:
        sigma = torch.full((x.shape[0], 1, 1, 1), 25 / 255, device=x.device)
        return restore(self.net, x, sigma if self.takes_noise_level else None)

    def _budget_tile(self, budget: int | None) -> int:
        """The tile side that `budget` (or the default budget) allows, from the activations a
        64 x 64 probe keeps alive per pixel."""
        multiple = max(pad_multiple(self.net), 8)
        probe = multiple * math.ceil(64 / multiple)
        x = torch.rand((1, self.channels, probe, probe), device=self.device)
        per_pixel = tiling.activation_bytes_per_pixel(self._probe_restore, self.net, x)
        budget = budget if budget is not None else tiling.default_budget(self.device)
        return tiling.tile_side_for_budget(per_pixel, budget, self.batch_size, multiple)

    def _probe_radius(self, tile_size: int) -> int:
        """The net's effective receptive-field radius, probed on a tile-sized (at most 257)
        image: how much overlap the tiles need."""
        field = getattr(self.net, "receptive_field", None)
        side = min(tile_size, 257, 2 * field + 1 if field else 257)
        multiple = pad_multiple(self.net)
        side = max(multiple, multiple * (side // multiple)) if multiple > 1 else side
        return tiling.effective_radius(self._probe_restore, self.channels, side, self.device)

    def _run(self, tiles: Tensor, level: float | None = None) -> Tensor:
        x = tiles.to(self.device, torch.float32)
        sigma = None if level is None else torch.full((x.shape[0], 1, 1, 1), level, device=x.device)
        if not self.ensemble:
            return restore(self.net, x, sigma).float().clamp(0.0, 1.0)
        total = torch.zeros_like(x)
        for turns in range(4):
            for flip in (False, True):
                view = torch.rot90(x, turns, dims=(2, 3))
                view = view.flip(3) if flip else view
                out = restore(self.net, view, sigma).float()
                out = out.flip(3) if flip else out
                total += torch.rot90(out, -turns, dims=(2, 3))
        return (total / 8).clamp(0.0, 1.0)  # clamp after averaging, not before

    def _restore_one(self, image: Tensor, level: float | None = None) -> Tensor:
        """One `[C, H, W]` image at noise level `level` ([0, 1] units, None for blind nets);
        the accumulators live where the image is."""
        c, h, w = image.shape
        tile = self.tile_size
        if tile is None or (h <= tile and w <= tile):
            return self._run(image[None], level)[0].to(image.device)
        align = grid_multiple(self.net)
        tops, tile_h = tiling.fit_tiles(h, tile, self.overlap, align)
        lefts, tile_w = tiling.fit_tiles(w, tile, self.overlap, align)
        positions = [(top, left) for top in tops for left in lefts]
        accumulated = torch.zeros((c, h, w), device=image.device)
        total_weight = torch.zeros((1, h, w), device=image.device)
        for chunk in _chunks(positions, self.batch_size):
            tiles = torch.stack(
                [image[:, top : top + tile_h, left : left + tile_w] for top, left in chunk]
            )  # (N, C, tile_h, tile_w)
            outputs = self._run(tiles, level).to(image.device)
            for (top, left), output in zip(chunk, outputs):
                weight = torch.outer(
                    tiling.ramp(top, tile_h, h, self.overlap),
                    tiling.ramp(left, tile_w, w, self.overlap),
                ).to(image.device)  # (tile_h, tile_w)
                accumulated[:, top : top + tile_h, left : left + tile_w] += output * weight
                total_weight[:, top : top + tile_h, left : left + tile_w] += weight
        return accumulated / total_weight


T = TypeVar("T")


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
