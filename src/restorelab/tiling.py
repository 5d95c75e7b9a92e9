"""How a `Denoiser` cuts an image into tiles: their size from a memory budget, their overlap from
the net's effective receptive field, and a grid fitted to the image.

The cost of tiling is the pixels restored twice. Three choices keep it small:

- The overlap is what the net actually looks at, not its theoretical receptive field: the
  radius holding 99.9 % of the input gradient of a centre output pixel (`effective_radius`).
  For a U-Net the theoretical field (194 pixels for a 4-scale DRUNet) is several times wider
  than where its weights have any weight.
- The tile side is the largest that fits the memory budget (`tile_side_for_budget`), from the
  activations a forward pass keeps alive per pixel (`activation_bytes_per_pixel`).
- The grid is fitted to the image (`fit_tiles`): the fewest tiles per axis that cover it with
  that overlap, each shrunk to share the length evenly, instead of full-size tiles with the
  last one pushed back over its neighbour (a 1024 image in 512 tiles then needs 3 x 3 tiles of
  512, 2.25x the pixels, where 3 x 3 tiles of 368 cover it with 1.16x).
"""

from __future__ import annotations

import itertools
import math
import os
import weakref
from collections.abc import Callable

import torch
from torch import Tensor, nn

GRADIENT_MASS = 0.999  # the share of the input gradient the overlap must hold
MIN_OVERLAP = 8
DEFAULT_CPU_BUDGET = 2 * 2**30  # bytes of activations per tile batch on the CPU, at most
TILE_LIMITS = (64, 4096)  # the side a budget-derived tile is kept within


def fit_tiles(length: int, tile: int, overlap: int, align: int = 1) -> tuple[list[int], int]:
    """Start offsets and the side of the fewest tiles of at most about `tile` that cover
    `length` with neighbours sharing at least `overlap` pixels, shrunk evenly so the overlaps
    are all about the same. Every start is a multiple of `align` (the net's downsampling
    factor, so each tile sees the same pixel phase as the whole image does); the side may then
    exceed `tile` by less than `align`. One tile (the whole length) when it fits."""
    if length <= tile:
        return [0], length
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, tile), got {overlap} for tile {tile}")
    count = math.ceil((length - overlap) / (tile - overlap))
    while True:
        side = min(tile, math.ceil((length + (count - 1) * overlap) / count))
        side += (length - side) % align  # so that the last tile, ending at the border, is aligned
        if side >= length:
            return [0], length
        spacing = (length - side) / (count - 1)
        starts = [align * int(i * spacing // align) for i in range(count - 1)] + [length - side]
        if all(b - a <= side - overlap for a, b in itertools.pairwise(starts)):
            return starts, side
        count += 1  # alignment widened a gap past the overlap: one more tile


def ramp(start: int, size: int, length: int, overlap: int) -> Tensor:
    """Blending weight along one axis of a tile: 1 inside, a raised-cosine (Hann) ramp over
    `overlap` pixels on each side that meets another tile, never 0. Two ramps of adjacent tiles
    overlapping by exactly `overlap` sum to 1 (cos^2 + sin^2); the caller divides by the summed
    weights, so larger overlaps blend correctly too."""
    weight = torch.ones(size)
    ramp_length = min(overlap, size // 2)
    if ramp_length == 0:
        return weight
    i = torch.arange(ramp_length, dtype=torch.float32)
    rising = 0.5 - 0.5 * torch.cos(math.pi * (i + 0.5) / ramp_length)  # (0, 1), increasing
    if start > 0:
        weight[:ramp_length] = rising
    if start + size < length:
        weight[size - ramp_length :] = torch.minimum(weight[size - ramp_length :], rising.flip(0))
    return weight


Restore = Callable[[Tensor], Tensor]


def effective_radius(
    restore: Restore, channels: int, probe: int, device: torch.device, mass: float = GRADIENT_MASS
) -> int:
    """The Chebyshev radius around a centre pixel that holds `mass` of the gradient of its
    output with respect to the input, on a noisy mid-gray `probe` x `probe` image: how far the
    net really looks. `restore` maps `[1, C, H, W]` to the output."""
    generator = torch.Generator().manual_seed(0)
    x = 0.5 + 0.1 * torch.randn((1, channels, probe, probe), generator=generator)
    x = x.to(device).requires_grad_(True)
    centre = probe // 2
    with torch.enable_grad():
        restore(x)[0, :, centre, centre].sum().backward()
    weight = x.grad.abs().sum(dim=(0, 1))  # (probe, probe)
    rows = torch.arange(probe, device=device).view(-1, 1)
    cols = torch.arange(probe, device=device).view(1, -1)
    distance = torch.maximum((rows - centre).abs(), (cols - centre).abs())
    per_ring = torch.zeros(centre + 1, device=device).index_add_(
        0, distance.flatten(), weight.flatten().float()
    )
    total = float(per_ring.sum())
    if total == 0:
        return 0
    cumulative = torch.cumsum(per_ring, 0) / total
    return int(torch.searchsorted(cumulative, torch.tensor(mass, device=device)).clamp(max=centre))


def activation_bytes_per_pixel(restore: Restore, net: nn.Module, x: Tensor) -> float:
    """The peak bytes of activations alive at once during `restore(x)` under no_grad, per input
    pixel: every module's output is followed until it is freed. Temporaries inside a module's
    own forward are not seen, so callers keep a safety factor."""
    live: dict[int, tuple[weakref.ref, int]] = {}
    peak = 0

    def hook(_module: nn.Module, _inputs: object, output: object) -> None:
        nonlocal peak
        outputs = output if isinstance(output, (tuple, list)) else (output,)
        for tensor in outputs:
            if isinstance(tensor, Tensor):
                storage = tensor.untyped_storage()
                live[storage.data_ptr()] = (weakref.ref(tensor), storage.nbytes())
        for key in [key for key, (ref, _) in live.items() if ref() is None]:
            del live[key]
        peak = max(peak, sum(nbytes for _, nbytes in live.values()))

    handles = [m.register_forward_hook(hook) for m in net.modules() if m is not net]
    try:
        with torch.no_grad():
            restore(x)
    finally:
        for handle in handles:
            handle.remove()
    return (peak + 2 * x.numel() * x.element_size()) / (x.shape[-2] * x.shape[-1])


def default_budget(device: torch.device) -> int:
    """Bytes of activations a tile batch may take: half the free GPU memory on CUDA; on the CPU
    a quarter of the available memory, at most `DEFAULT_CPU_BUDGET`."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free // 2
    available = _available_memory()
    return min(DEFAULT_CPU_BUDGET, available // 4) if available else DEFAULT_CPU_BUDGET


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def tile_side_for_budget(
    bytes_per_pixel: float, budget: int, batch_size: int, multiple: int, safety: float = 2.0
) -> int:
    """The largest square tile side (a multiple of `multiple`, within `TILE_LIMITS`) whose
    batch of `batch_size` fits `budget` bytes at `bytes_per_pixel` times `safety`."""
    pixels = budget / (bytes_per_pixel * safety * batch_size)
    step = max(multiple, 8)
    side = step * int(math.sqrt(pixels) // step)
    low, high = TILE_LIMITS
    return max(step * math.ceil(low / step), min(side, high))
