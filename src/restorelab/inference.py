"""Denoising real images of any size with a trained net: safe loading, tiled inference, files.

    from restorelab.inference import load_denoiser
    denoiser = load_denoiser("logs/train/runs/<run>")   # a run folder, a .ckpt or a .safetensors
    restored = denoiser.denoise(image)                   # H x W or H x W x C float in [0, 1]

Weights are read without executing pickled code (`torch.load(weights_only=True)` or
safetensors). Large images are cut into overlapping tiles whose outputs are blended with a
raised-cosine ramp, so the memory the net needs depends on the tile size, not the image size.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from restorelab.checkpoints import CheckpointError, is_complete_archive, safe_load
from restorelab.errors import RestoreLabError
from restorelab.models.conditioning import restore, takes_noise_level

# safetensors exports keep the run's config here, as JSON (see export.py).
SAFETENSORS_METADATA_KEY = "restorelab"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")

ImageLike = TypeVar("ImageLike", np.ndarray, Tensor)


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------
def resolve_checkpoint(path: str | Path) -> Path:
    """The weights file `path` names: itself for a file; for a run folder its best checkpoint
    (from `metrics.json`), else `checkpoints/last.ckpt`."""
    path = Path(path).expanduser()
    if path.is_file():
        return path
    if not path.is_dir():
        raise CheckpointError(
            f"{path} does not exist: give a run folder (logs/train/runs/<run>), a .ckpt inside "
            "one, or a .safetensors export"
        )
    checkpoints = path / "checkpoints"
    metrics_path = path / "metrics.json"
    if metrics_path.is_file():
        metrics = json.loads(metrics_path.read_text())
        for key in ("best_checkpoint", "tested_checkpoint", "last_checkpoint"):
            if metrics.get(key):
                saved = Path(metrics[key])
                # The run folder may have been moved since: look for the file by name in it.
                for candidate in (saved, checkpoints / saved.name):
                    if candidate.is_file() and is_complete_archive(candidate):
                        return candidate
    if (checkpoints / "last.ckpt").is_file() and is_complete_archive(checkpoints / "last.ckpt"):
        return checkpoints / "last.ckpt"
    found = sorted(checkpoints.glob("*.ckpt")) if checkpoints.is_dir() else []
    # A truncated file (a crash mid-write before writes were atomic) is passed over.
    complete = [candidate for candidate in found if is_complete_archive(candidate)]
    if complete:
        return complete[-1]
    if found:
        raise CheckpointError(
            f"{path}: every checkpoint in {checkpoints} is truncated or unreadable "
            f"({', '.join(c.name for c in found)}); the run cannot be restored from them"
        )
    raise CheckpointError(
        f"{path} holds no checkpoint: expected {checkpoints}/*.ckpt (and metrics.json naming the "
        "best one), as `python train.py` writes them"
    )


def _read_lightning_checkpoint(path: Path) -> dict[str, Tensor]:
    """The net's weights from a Lightning .ckpt, read with `weights_only=True`."""
    content = safe_load(path)
    state = content.get("state_dict") if isinstance(content, dict) else None
    weights = {
        key[len("net.") :]: value
        for key, value in (state or {}).items()
        if isinstance(key, str) and key.startswith("net.") and isinstance(value, Tensor)
    }
    if not weights:
        raise CheckpointError(
            f"{path} is not a RestoreLab checkpoint: it holds no 'state_dict' with 'net.' "
            "weights (train one with `python train.py`, or give its run folder)"
        )
    return weights


def _run_config(checkpoint: Path) -> DictConfig:
    """The composed config saved by Hydra beside a run's checkpoints."""
    import restorelab  # noqa: F401  (registers the `restorelab.cwd` resolver the config uses)

    for run_dir in (checkpoint.parent.parent, checkpoint.parent):
        config_path = run_dir / ".hydra" / "config.yaml"
        if config_path.is_file():
            return OmegaConf.load(config_path)  # type: ignore[return-value]
    raise CheckpointError(
        f"no config for {checkpoint}: expected {checkpoint.parent.parent}/.hydra/config.yaml "
        "(a checkpoint must stay inside its run folder, or be exported with "
        "`restorelab export --format safetensors`, which embeds the config)"
    )


def _read_safetensors(path: Path) -> tuple[dict[str, Tensor], DictConfig]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as file:
            metadata = file.metadata() or {}
            weights = {key: file.get_tensor(key) for key in file.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path} is not a readable safetensors file ({error})") from None
    if SAFETENSORS_METADATA_KEY not in metadata:
        from restorelab.published_weights import recognize

        published = recognize(weights, metadata)  # e.g. the published DnCNN's dncnn.N keys
        if published is not None:
            return published
        raise CheckpointError(
            f"{path} is a safetensors file without RestoreLab's config in its metadata (nor "
            "a published layout RestoreLab reads, such as DnCNN's dncnn.N keys); export one "
            "with `restorelab export --format safetensors`"
        )
    config = OmegaConf.create(json.loads(metadata[SAFETENSORS_METADATA_KEY]))
    return weights, config  # type: ignore[return-value]


def load_network(path: str | Path) -> tuple[nn.Module, DictConfig]:
    """The restoration net (in eval mode, on the CPU) and the run config it was trained with.

    `path`: a run folder, a Lightning `.ckpt` inside one, or a `.safetensors` export. The model is
    rebuilt from the config's `model` node with Hydra, then the weights are loaded strictly.
    """
    checkpoint = resolve_checkpoint(path)
    if checkpoint.suffix == ".safetensors":
        weights, config = _read_safetensors(checkpoint)
    else:
        weights = _read_lightning_checkpoint(checkpoint)
        config = _run_config(checkpoint)
    try:
        model_config = OmegaConf.to_container(config.model, resolve=True)
        net: nn.Module = hydra.utils.instantiate(model_config)
    except Exception as error:  # a config from another version: say where it came from
        raise CheckpointError(f"could not rebuild the model of {checkpoint}: {error}") from None
    try:
        net.load_state_dict(weights, strict=True)
    except RuntimeError as error:
        raise CheckpointError(
            f"the weights in {checkpoint} do not fit the model in its config: {error}"
        ) from None
    with_source = OmegaConf.merge(config, {"source": str(checkpoint)})
    return net.eval(), with_source  # type: ignore[return-value]


def load_denoiser(
    path: str | Path,
    device: str | torch.device | None = None,
    tile_size: int | None = 512,
    overlap: int | None = None,
    batch_size: int = 4,
    ensemble: bool = False,
) -> Denoiser:
    """A `Denoiser` for a run folder, a `.ckpt` in one, or a `.safetensors` export.

    `device`: None picks CUDA when available, else the CPU. `tile_size` / `overlap` /
    `batch_size` / `ensemble`: see `Denoiser` (`tile_size=None` restores whole images in one pass).
    """
    net, config = load_network(path)
    return Denoiser(
        net, tile_size=tile_size, overlap=overlap, batch_size=batch_size, device=device,
        config=config, ensemble=ensemble,
    )


# ---------------------------------------------------------------------------------------------
# Tiled inference
# ---------------------------------------------------------------------------------------------
def model_channels(net: nn.Module) -> int:
    """The image channels `net` restores: its `in_channels`, else its first convolution's
    (which for a conditional net also counts the noise map, so it is the fallback only)."""
    declared = getattr(net, "in_channels", None)
    if isinstance(declared, int):
        return declared
    first = next((m for m in net.modules() if isinstance(m, nn.Conv2d)), None)
    if first is None:
        raise ValueError("cannot tell the number of input channels of a net without Conv2d")
    return first.in_channels


def pad_multiple(net: nn.Module) -> int:
    """The multiple of H and W the net pads its input to inside, splitting the extra between
    both sides with `pad_to_multiple` (2**depth for the autoencoders, NAFNet and Restormer); 1
    for nets that need none or pad otherwise (DRUNet and FFDNet pad bottom-right, traceably)."""
    from restorelab.models.autoencoder import ConvAutoencoder
    from restorelab.models.nafnet import NAFNet
    from restorelab.models.restormer import Restormer

    return 2**net.depth if isinstance(net, (ConvAutoencoder, NAFNet, Restormer)) else 1


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size `tile` covering `length`, adjacent ones overlapping by at
    least `overlap`; the last tile is moved back to end at the border."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    return starts + [length - tile]


def _ramp(start: int, size: int, length: int, overlap: int) -> Tensor:
    """Blending weight along one axis of a tile: 1 inside, a raised-cosine (Hann) ramp over
    `overlap` pixels on each side that meets another tile, never 0.

    Two ramps of adjacent tiles overlapping by exactly `overlap` sum to 1 (cos^2 + sin^2)."""
    weight = torch.ones(size)
    ramp_length = min(overlap, size // 2)
    if ramp_length == 0:
        return weight
    i = torch.arange(ramp_length, dtype=torch.float32)
    ramp = 0.5 - 0.5 * torch.cos(math.pi * (i + 0.5) / ramp_length)  # (0, 1), increasing
    if start > 0:
        weight[:ramp_length] = ramp
    if start + size < length:
        weight[size - ramp_length :] = torch.minimum(weight[size - ramp_length :], ramp.flip(0))
    return weight


class Denoiser:
    """Restores images of any size with a trained net, tile by tile.

    Tiles of `tile_size` x `tile_size` pixels overlap by `overlap` pixels and are blended with a
    raised-cosine ramp, which hides the seams; memory for the net's activations is bounded by
    `batch_size` tiles, whatever the image size (the output itself is one image-sized buffer).

    Args:
        net: a restoration net, `forward(x) -> x_hat` on `[B, C, H, W]` in [0, 1].
        tile_size: side of the square tiles; None restores the whole image in one pass.
        overlap: pixels shared by neighbouring tiles; None uses the net's receptive field
            (rounded up to a multiple of 8, at most a quarter of the tile), else 32.
        batch_size: tiles restored together.
        device: where the net runs; None picks CUDA when available.
        config: the run config the net comes from (kept for reports; `noise` says what it was
            trained on).
        ensemble: self-ensemble ("x8"): restore the 8 flips and rotations of every tile and
            average them, back in place. Eight times slower; usually a little better. Reports
            must say when it was used.
    """

    def __init__(
        self,
        net: nn.Module,
        tile_size: int | None = 512,
        overlap: int | None = None,
        batch_size: int = 4,
        device: str | torch.device | None = None,
        config: DictConfig | None = None,
        ensemble: bool = False,
    ) -> None:
        if tile_size is not None and tile_size < 8:
            raise ValueError(f"tile_size must be >= 8 or None (no tiling), got {tile_size}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.net = net.eval().to(self.device)
        self.channels = model_channels(net)
        self.tile_size = tile_size
        if overlap is None:
            receptive_field = getattr(net, "receptive_field", None)
            overlap = 32 if receptive_field is None else 8 * math.ceil(receptive_field / 8)
            if tile_size is not None:
                overlap = min(overlap, tile_size // 4)
        if tile_size is not None and not 0 <= overlap < tile_size:
            raise ValueError(f"overlap must be in [0, tile_size), got {overlap}")
        self.overlap = overlap
        self.batch_size = batch_size
        self.config = config
        self.ensemble = ensemble
        self.takes_noise_level = takes_noise_level(net)
        # Where the level of the latest image came from: "given" (the caller's sigma),
        # "estimated" (from the image itself) or None (a net that does not take it).
        self.sigma_source: str | None = None
        self.last_sigma: float | None = None

    def __repr__(self) -> str:
        return (
            f"Denoiser({type(self.net).__name__}, channels={self.channels}, "
            f"tile_size={self.tile_size}, overlap={self.overlap}, device={self.device}"
            f"{', ensemble=x8' if self.ensemble else ''})"
        )

    # ------------------------------------------------------------------ public
    @torch.no_grad()
    def denoise(self, image: ImageLike, sigma: float | None = None) -> ImageLike:
        """Restores one image; returns the same shape and type, in [0, 1].

        `image`: a float NumPy array in [0, 1], `[H, W]` or `[H, W, C]`, or a float tensor
        `[H, W]`, `[C, H, W]` or `[B, C, H, W]` (on any device). A gray net restores each channel
        of an RGB image on its own; an RGB net sees a gray image as three equal channels.

        `sigma`: the Gaussian noise level in 0-255 units, as `noise.sigma` is given, for a net
        that takes it (FFDNet, DRUNet); None estimates it from the image (`sigma_source` then
        says "estimated", and `last_sigma` holds the value). Other nets ignore it.
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
        levels = self._levels(x, sigma)
        b, c, h, w = x.shape
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

    def _levels(self, x: Tensor, sigma: float | None) -> list[float | None]:
        """The noise level of each image of `x` in [0, 1] units (None for blind nets)."""
        if not self.takes_noise_level:
            self.sigma_source, self.last_sigma = None, None
            return [None] * x.shape[0]
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
        tile_h, tile_w = min(tile, h), min(tile, w)
        positions = [
            (top, left)
            for top in tile_starts(h, tile_h, self.overlap)
            for left in tile_starts(w, tile_w, self.overlap)
        ]
        accumulated = torch.zeros((c, h, w), device=image.device)
        total_weight = torch.zeros((1, h, w), device=image.device)
        for chunk in _chunks(positions, self.batch_size):
            tiles = torch.stack(
                [image[:, top : top + tile_h, left : left + tile_w] for top, left in chunk]
            )  # (N, C, tile_h, tile_w)
            outputs = self._run(tiles, level).to(image.device)
            for (top, left), output in zip(chunk, outputs):
                weight = torch.outer(
                    _ramp(top, tile_h, h, self.overlap), _ramp(left, tile_w, w, self.overlap)
                ).to(image.device)  # (tile_h, tile_w)
                accumulated[:, top : top + tile_h, left : left + tile_w] += output * weight
                total_weight[:, top : top + tile_h, left : left + tile_w] += weight
        return accumulated / total_weight


T = TypeVar("T")


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ---------------------------------------------------------------------------------------------
# Image files: PNG / JPEG / TIFF, 8- or 16-bit, gray or RGB, alpha kept
# ---------------------------------------------------------------------------------------------
@dataclass
class ImageFile:
    """A decoded image file: `pixels` float32 `[H, W, C]` in [0, 1] (C = 1 or 3), the `alpha`
    channel as stored (or None), and the `bit_depth` (8 or 16) to write it back with."""

    pixels: np.ndarray
    alpha: np.ndarray | None
    bit_depth: int


def read_image_file(path: str | Path) -> ImageFile:
    """Reads a PNG, JPEG or TIFF file (8- or 16-bit, gray, gray+alpha, RGB, RGBA, palette)."""
    path = Path(path)
    from restorelab.data.files import decode_image

    array = decode_image(path)
    if np.issubdtype(array.dtype, np.floating):
        return _float_image(path, array)
    if array.dtype not in (np.uint8, np.uint16):
        raise ValueError(
            f"{path}: unsupported pixel type {array.dtype} (8- or 16-bit, or float in [0, 1])"
        )
    bit_depth = 16 if array.dtype == np.uint16 else 8
    if array.ndim == 2:
        array = array[..., None]
    alpha = None
    if array.shape[-1] in (2, 4):
        array, alpha = array[..., :-1], array[..., -1]
    if array.shape[-1] not in (1, 3):
        raise ValueError(f"{path}: {array.shape[-1]} channels (gray or RGB, with alpha, only)")
    pixels = array.astype(np.float32) / np.float32(np.iinfo(array.dtype).max)
    return ImageFile(pixels, alpha, bit_depth)


def _float_image(path: Path, array: np.ndarray) -> ImageFile:
    """A float TIFF as intensities in [0, 1], written back as float (`bit_depth` 32). Values
    outside [0, 1] are refused: an 8-bit conversion would silently turn them black or white."""
    if array.ndim == 3 and array.shape[-1] in (2, 4):
        array, alpha = array[..., :-1], array[..., -1]
    else:
        alpha = None
    if array.ndim == 2:
        array = array[..., None]
    if array.shape[-1] not in (1, 3):
        raise ValueError(f"{path}: {array.shape[-1]} channels (gray or RGB, with alpha, only)")
    if not np.isfinite(array).all():
        raise ValueError(f"{path}: the float image holds NaN or infinite values")
    low, high = float(array.min()), float(array.max())
    if low < 0.0 or high > 1.0:
        raise ValueError(
            f"{path}: float pixels in [{low:.4g}, {high:.4g}]; RestoreLab reads float images as "
            "intensities in [0, 1]: rescale the file (e.g. divide by its maximum)"
        )
    return ImageFile(array.astype(np.float32), alpha, 32)


def _write_png16(path: Path, array: np.ndarray) -> None:
    """A 16-bit PNG (gray, gray+alpha, RGB or RGBA): Pillow writes 16-bit gray only."""
    height, width, channels = array.shape
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    rows = array.astype(">u2").reshape(height, width * channels).view(np.uint8)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1)  # filter 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    with open(path, "wb") as file:
        file.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr))
        file.write(chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + chunk(b"IEND", b""))


def write_image_file(path: str | Path, image: ImageFile) -> None:
    """Writes `image` in the format of `path`'s suffix at its bit depth, alpha included (JPEG
    has neither alpha nor 16 bits: the colors are written at 8 bits)."""
    from PIL import Image

    from restorelab.atomic import atomic_path

    path = Path(path)
    suffix = path.suffix.lower()
    if image.bit_depth == 32:  # float in [0, 1]: kept float in TIFF, 16 bits elsewhere
        if suffix not in (".tif", ".tiff"):
            image = ImageFile(image.pixels, _alpha_as(image.alpha, 65535), 16)
        array = np.clip(image.pixels, 0.0, 1.0).astype(np.float32)
        dtype = np.float32
    else:
        maximum = 65535 if image.bit_depth == 16 else 255
        dtype = np.uint16 if image.bit_depth == 16 else np.uint8
        array = np.rint(np.clip(image.pixels, 0.0, 1.0) * maximum).astype(dtype)
    if image.alpha is not None:
        array = np.concatenate([array, image.alpha.astype(dtype)[..., None]], axis=-1)
    with atomic_path(path) as tmp:  # a crash or a full disk never leaves half an image
        if suffix in (".tif", ".tiff"):
            import tifffile

            tifffile.imwrite(tmp, array[..., 0] if array.shape[-1] == 1 else array)
        elif suffix in (".jpg", ".jpeg"):
            colors = np.rint(np.clip(image.pixels, 0.0, 1.0) * 255).astype(np.uint8)
            Image.fromarray(colors[..., 0] if colors.shape[-1] == 1 else colors).save(
                tmp, format="JPEG", quality=95
            )
        elif image.bit_depth == 16 and array.shape[-1] > 1:
            _write_png16(tmp, array)
        else:
            Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(
                tmp, format="PNG"
            )


def _alpha_as(alpha: np.ndarray | None, maximum: int) -> np.ndarray | None:
    """A float alpha in [0, 1] at an integer depth, for formats without float pixels."""
    if alpha is None:
        return None
    return np.rint(np.clip(alpha, 0.0, 1.0) * maximum).astype(np.uint16)


def find_image_files(
    inputs: Iterable[str | Path], exclude: Path | None = None
) -> list[tuple[Path, Path]]:
    """`(file, its path relative to the input it came from)` for files and folders (recursive).

    Files under `exclude` (the output folder, when it lies inside an input folder) are left out,
    so a second run never takes the first run's results for inputs."""
    found = []
    excluded = exclude.resolve() if exclude is not None else None
    for item in map(Path, inputs):
        if item.is_dir():
            # Only an output folder strictly inside this input is skipped; an output that is
            # the input folder itself is refused later, file by file (see plan_outputs).
            inside = excluded is not None and item.resolve() in excluded.parents
            for path in sorted(item.rglob("*")):
                if not (path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES):
                    continue
                if inside and excluded in path.resolve().parents:
                    continue
                found.append((path, path.relative_to(item)))
        elif item.is_file():
            found.append((item, Path(item.name)))
        else:
            raise FileNotFoundError(f"{item} does not exist")
    return found


class OutputConflict(RestoreLabError):
    """Restoring would replace a file the user has: an input, or an earlier output."""


@dataclass
class DenoiseResult:
    """What `denoise_files` did: the files written, and the inputs that could not be restored
    with the reason for each."""

    written: list[Path]
    failed: list[tuple[Path, str]]
    # The noise level each image was restored at (0-255), for nets that take it; "given" or
    # "estimated" says where the levels came from.
    levels: dict[Path, float] = field(default_factory=dict)
    sigma_source: str | None = None


def plan_outputs(
    files: list[tuple[Path, Path]], output: Path, overwrite: bool = False, in_place: bool = False
) -> list[tuple[Path, Path]]:
    """`(input, target)` pairs, refused up front (before any file is written) when a target is
    one of the inputs (unless `in_place`) or an existing file (unless `overwrite`)."""
    plan = [(path, output / relative) for path, relative in files]
    inputs = {path.resolve() for path, _ in plan}
    targets: dict[Path, Path] = {}
    for path, target in plan:
        resolved = target.resolve()
        if resolved in targets:
            raise OutputConflict(
                f"{targets[resolved]} and {path} would both be written to {target}: give them "
                "separate runs or rename one"
            )
        targets[resolved] = path
        if resolved in inputs and not in_place:
            raise OutputConflict(
                f"--output {output} would replace the input {path} with its restored version: "
                "choose another output folder, or pass --in-place to replace the originals"
            )
        if resolved not in inputs and target.exists() and not overwrite:
            raise OutputConflict(
                f"{target} already exists: pass --overwrite to replace it, or choose another "
                "output folder"
            )
    return plan


def denoise_files(
    denoiser: Denoiser,
    inputs: Iterable[str | Path],
    output: str | Path,
    progress: bool = True,
    overwrite: bool = False,
    in_place: bool = False,
    sigma: float | None = None,
) -> DenoiseResult:
    """Restores every image file under `inputs` into the folder `output`, keeping relative
    paths, formats, bit depths and alpha channels.

    Nothing the user has is replaced unless asked: an output that is one of the inputs needs
    `in_place`, an existing output needs `overwrite` (both checked before anything is written).
    A file that cannot be read or restored is listed in the result's `failed` and the others are
    still restored; every file is written atomically. `sigma` (0-255) is the noise level for a
    net that takes it; None estimates it per image.
    """
    inputs = list(inputs)
    output = Path(output)
    files = find_image_files(inputs, exclude=output)
    if not files:
        raise FileNotFoundError(f"no PNG, JPEG or TIFF files in {list(map(str, inputs))}")
    plan = plan_outputs(files, output, overwrite=overwrite, in_place=in_place)
    result = DenoiseResult([], [])
    iterator: Iterable[tuple[Path, Path]] = plan
    if progress:
        from rich.progress import track

        iterator = track(plan, description="denoising", transient=True)
    for path, target in iterator:
        try:
            image = read_image_file(path)
        except (OSError, ValueError, SyntaxError) as error:  # truncated, corrupt, unsupported
            result.failed.append((path, _reason(error)))
            continue
        restored = ImageFile(
            denoiser.denoise(image.pixels, sigma), image.alpha, image.bit_depth
        )
        write_image_file(target, restored)
        result.written.append(target)
        if denoiser.last_sigma is not None:
            result.levels[target] = denoiser.last_sigma
            result.sigma_source = denoiser.sigma_source
    return result


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split()) or "unreadable"
    return f"{type(error).__name__}: {text}"
