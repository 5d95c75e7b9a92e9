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
import pickle
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from restorelab.errors import RestoreLabError

# safetensors exports keep the run's config here, as JSON (see export.py).
SAFETENSORS_METADATA_KEY = "restorelab"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")

ImageLike = TypeVar("ImageLike", np.ndarray, Tensor)


class CheckpointError(RestoreLabError):
    """A file that is missing, unsafe, or not a RestoreLab checkpoint; the message says which."""


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
                    if candidate.is_file():
                        return candidate
    if (checkpoints / "last.ckpt").is_file():
        return checkpoints / "last.ckpt"
    found = sorted(checkpoints.glob("*.ckpt")) if checkpoints.is_dir() else []
    if found:
        return found[-1]
    raise CheckpointError(
        f"{path} holds no checkpoint: expected {checkpoints}/*.ckpt (and metrics.json naming the "
        "best one), as `python train.py` writes them"
    )


def _read_lightning_checkpoint(path: Path) -> dict[str, Tensor]:
    """The net's weights from a Lightning .ckpt, read with `weights_only=True`."""
    with open(path, "rb") as file:
        is_zip = file.read(4) == b"PK\x03\x04"
    if not is_zip:  # torch.save has written zip archives since PyTorch 1.6
        raise CheckpointError(f"{path} is not a PyTorch checkpoint (not a torch.save archive)")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # weights_only refuses any pickle that would import or call something other than
        # tensors and plain containers: a file crafted to run code ends here, unexecuted.
        lines = [line.strip() for line in str(error).splitlines()]
        reason = next((line for line in lines if "global" in line.lower()), "")
        raise CheckpointError(
            f"refused to load {path}: its pickle asks for code or objects other than tensors"
            f"{f' ({reason})' if reason else ''}. A RestoreLab checkpoint holds weights only; "
            "do not load files from sources you do not trust"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise CheckpointError(
            f"{path} is not a PyTorch checkpoint ({type(error).__name__}: "
            f"{str(error).strip().splitlines()[0] if str(error).strip() else 'unreadable'})"
        ) from None
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
        raise CheckpointError(
            f"{path} is a safetensors file without RestoreLab's config in its metadata; "
            "export one with `restorelab export --format safetensors`"
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
    first = next((m for m in net.modules() if isinstance(m, nn.Conv2d)), None)
    if first is None:
        raise ValueError("cannot tell the number of input channels of a net without Conv2d")
    return first.in_channels


def pad_multiple(net: nn.Module) -> int:
    """The multiple of H and W the net pads its input to inside (2**depth for the autoencoders)."""
    from restorelab.models.autoencoder import ConvAutoencoder

    return 2**net.depth if isinstance(net, ConvAutoencoder) else 1


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

    def __repr__(self) -> str:
        return (
            f"Denoiser({type(self.net).__name__}, channels={self.channels}, "
            f"tile_size={self.tile_size}, overlap={self.overlap}, device={self.device}"
            f"{', ensemble=x8' if self.ensemble else ''})"
        )

    # ------------------------------------------------------------------ public
    @torch.no_grad()
    def denoise(self, image: ImageLike) -> ImageLike:
        """Restores one image; returns the same shape and type, in [0, 1].

        `image`: a float NumPy array in [0, 1], `[H, W]` or `[H, W, C]`, or a float tensor
        `[H, W]`, `[C, H, W]` or `[B, C, H, W]` (on any device). A gray net restores each channel
        of an RGB image on its own; an RGB net sees a gray image as three equal channels.
        """
        if isinstance(image, np.ndarray):
            if image.ndim not in (2, 3) or not np.issubdtype(image.dtype, np.floating):
                raise ValueError(
                    "denoise takes a float array in [0, 1] of shape [H, W] or [H, W, C], got "
                    f"{image.dtype} {image.shape} (divide 8-bit images by 255)"
                )
            x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
            x = x[None, None] if image.ndim == 2 else x.permute(2, 0, 1)[None]
            y = self.denoise_batch(x)[0]
            out = y[0] if image.ndim == 2 else y.permute(1, 2, 0)
            return out.numpy().astype(image.dtype, copy=False)
        if isinstance(image, Tensor):
            if image.ndim not in (2, 3, 4) or not image.is_floating_point():
                raise ValueError(
                    "denoise takes a float tensor in [0, 1] of shape [H, W], [C, H, W] or "
                    f"[B, C, H, W], got {image.dtype} {tuple(image.shape)}"
                )
            x = image.reshape((1,) * (4 - image.ndim) + tuple(image.shape))
            return self.denoise_batch(x).reshape(image.shape)
        raise TypeError(f"denoise takes a NumPy array or a torch tensor, got {type(image)}")

    @torch.no_grad()
    def denoise_batch(self, x: Tensor) -> Tensor:
        """`[B, C, H, W]` float in [0, 1] (any device, dtype) to the restored batch, clamped to
        [0, 1], on the same device and dtype."""
        b, c, h, w = x.shape
        if c == self.channels:
            batch = x
        elif self.channels == 1:
            batch = x.reshape(b * c, 1, h, w)  # each channel as its own gray image
        elif c == 1:
            batch = x.expand(b, self.channels, h, w)
        else:
            raise ValueError(f"a {self.channels}-channel net cannot restore {c}-channel images")
        restored = torch.stack([self._restore_one(image) for image in batch])
        if c == self.channels:
            out = restored
        elif self.channels == 1:
            out = restored.reshape(b, c, h, w)
        else:
            out = restored.mean(dim=1, keepdim=True)
        return out.to(device=x.device, dtype=x.dtype)

    # ------------------------------------------------------------------ tiles
    def _run(self, tiles: Tensor) -> Tensor:
        x = tiles.to(self.device, torch.float32)
        if not self.ensemble:
            return self.net(x).float().clamp(0.0, 1.0)
        total = torch.zeros_like(x)
        for turns in range(4):
            for flip in (False, True):
                view = torch.rot90(x, turns, dims=(2, 3))
                view = view.flip(3) if flip else view
                out = self.net(view).float()
                out = out.flip(3) if flip else out
                total += torch.rot90(out, -turns, dims=(2, 3))
        return (total / 8).clamp(0.0, 1.0)  # clamp after averaging, not before

    def _restore_one(self, image: Tensor) -> Tensor:
        """One `[C, H, W]` image; the accumulators live where the image is."""
        c, h, w = image.shape
        tile = self.tile_size
        if tile is None or (h <= tile and w <= tile):
            return self._run(image[None])[0].to(image.device)
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
            outputs = self._run(tiles).to(image.device)
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


def _png_header(path: Path) -> tuple[int, int] | None:
    """(bit depth, color type) from a PNG's IHDR, read before decoding; None for non-PNG."""
    with open(path, "rb") as file:
        header = file.read(26)
    if header[:8] != b"\x89PNG\r\n\x1a\n" or len(header) < 26:
        return None
    return header[24], header[25]


def _decode(path: Path) -> np.ndarray:
    """`[H, W]` or `[H, W, C]` uint8 / uint16 array with its alpha channel, if any."""
    from PIL import Image

    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        import tifffile  # comes with scikit-image; reads the 16-bit color TIFFs Pillow cannot

        return np.asarray(tifffile.imread(path, key=0))
    header = _png_header(path) if suffix == ".png" else None
    if header is not None and header[0] == 16 and header[1] in (2, 6):
        # Pillow decodes 16-bit color PNGs to 8 bits; torchvision keeps all 16.
        from torchvision.io import decode_png, read_file

        return decode_png(read_file(str(path))).permute(1, 2, 0).numpy()
    with Image.open(path) as image:
        image.load()
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            return np.clip(np.asarray(image, dtype=np.int64), 0, 65535).astype(np.uint16)
        if image.mode in ("1", "L", "LA", "La"):
            return np.asarray(image.convert("LA" if "A" in image.mode else "L"))
        has_alpha = "A" in image.mode or "transparency" in image.info
        return np.asarray(image.convert("RGBA" if has_alpha else "RGB"))


def read_image_file(path: str | Path) -> ImageFile:
    """Reads a PNG, JPEG or TIFF file (8- or 16-bit, gray, gray+alpha, RGB, RGBA, palette)."""
    path = Path(path)
    array = _decode(path)
    if array.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"{path}: unsupported pixel type {array.dtype} (8- or 16-bit only)")
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

    path = Path(path)
    suffix = path.suffix.lower()
    maximum = 65535 if image.bit_depth == 16 else 255
    dtype = np.uint16 if image.bit_depth == 16 else np.uint8
    array = np.rint(np.clip(image.pixels, 0.0, 1.0) * maximum).astype(dtype)
    if image.alpha is not None:
        array = np.concatenate([array, image.alpha.astype(dtype)[..., None]], axis=-1)
    if suffix in (".tif", ".tiff"):
        import tifffile

        tifffile.imwrite(path, array[..., 0] if array.shape[-1] == 1 else array)
    elif suffix in (".jpg", ".jpeg"):
        colors = np.rint(np.clip(image.pixels, 0.0, 1.0) * 255).astype(np.uint8)
        Image.fromarray(colors[..., 0] if colors.shape[-1] == 1 else colors).save(path, quality=95)
    elif image.bit_depth == 16 and array.shape[-1] > 1:
        _write_png16(path, array)
    else:
        Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(path)


def find_image_files(inputs: Iterable[str | Path]) -> list[tuple[Path, Path]]:
    """`(file, its path relative to the input it came from)` for files and folders (recursive)."""
    found = []
    for item in map(Path, inputs):
        if item.is_dir():
            for path in sorted(item.rglob("*")):
                if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                    found.append((path, path.relative_to(item)))
        elif item.is_file():
            found.append((item, Path(item.name)))
        else:
            raise FileNotFoundError(f"{item} does not exist")
    return found


def denoise_files(
    denoiser: Denoiser, inputs: Iterable[str | Path], output: str | Path, progress: bool = True
) -> list[Path]:
    """Restores every image file under `inputs` into the folder `output`, keeping relative
    paths, formats, bit depths and alpha channels; returns the written paths."""
    files = find_image_files(inputs)
    if not files:
        raise FileNotFoundError(f"no PNG, JPEG or TIFF files in {list(map(str, inputs))}")
    output = Path(output)
    written = []
    iterator: Iterable[tuple[Path, Path]] = files
    if progress:
        from rich.progress import track

        iterator = track(files, description="denoising", transient=True)
    for path, relative in iterator:
        image = read_image_file(path)
        restored = ImageFile(denoiser.denoise(image.pixels), image.alpha, image.bit_depth)
        target = output / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        write_image_file(target, restored)
        written.append(target)
    return written

