"""Image files on disk: finding them, decoding any common format and bit depth to `channels`,
and reporting unreadable ones once instead of failing on the first."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from restorelab.errors import DataError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"})

# ITU-R BT.601 luma, as in natural.py: the usual definition of "gray" for denoising benchmarks.
_LUMA = np.array([0.299, 0.587, 0.114])

# Decoding (zlib, libjpeg) releases the GIL, so threads read files in parallel.
_READ_THREADS = min(8, os.cpu_count() or 1)

# Names shown in one warning; the count is always complete.
_MAX_NAMES = 10


def find_images(root: Path, recursive: bool = True) -> list[Path]:
    """The image files under `root` (any case of PNG/JPEG/TIFF/BMP suffix), sorted."""
    pattern = "**/*" if recursive else "*"
    paths = root.glob(pattern)
    return sorted(p for p in paths if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _png_is_16bit_color(path: Path) -> bool:
    # Pillow decodes 16-bit PNGs with color or alpha to 8 bits; the IHDR chunk tells beforehand.
    with open(path, "rb") as file:
        header = file.read(26)
    return header[:8] == b"\x89PNG\r\n\x1a\n" and header[24] == 16 and header[25] in (2, 4, 6)


def decode_image(path: Path) -> np.ndarray:
    """`[H, W]` or `[H, W, C]` uint8 / uint16 array, alpha still attached (float32 for float
    TIFFs). The one decoder of the project: training data, `restorelab denoise` and evaluation
    folders all read files through it, so they agree on every format and bit depth."""
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        import tifffile  # a dependency of scikit-image; reads every bit depth Pillow truncates

        array = tifffile.imread(path, key=0)
        if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] > 4:
            array = array.transpose(1, 2, 0)  # planar TIFFs come channels first
        return array
    if suffix == ".png" and _png_is_16bit_color(path):
        from torchvision.io import decode_png, read_file

        return decode_png(read_file(str(path))).permute(1, 2, 0).numpy()
    with Image.open(path) as image:
        image.load()  # `open` read the header only: a truncated file must fail here
        if image.mode.startswith("I;16") or image.mode == "I":  # 16-bit (or 32-bit) gray
            return np.clip(np.asarray(image, dtype=np.int64), 0, 65535).astype(np.uint16)
        if image.mode == "F":
            raise ValueError("floating-point images are not supported (save 8- or 16-bit)")
        if image.mode in ("1", "L", "LA", "La"):
            return np.asarray(image.convert("LA" if "A" in image.mode else "L"))
        has_alpha = "A" in image.mode or "transparency" in image.info
        return np.asarray(image.convert("RGBA" if has_alpha else "RGB"))  # P, CMYK, YCbCr, ...


def to_channels(array: np.ndarray, channels: int) -> Tensor:
    """`[H, W]` / `[H, W, C]` uint8 or uint16 array to a `[channels, H, W]` tensor of its dtype."""
    if array.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"unsupported pixel type {array.dtype} (8- or 16-bit integers only)")
    if array.ndim == 2:
        array = array[..., None]
    if array.shape[-1] in (2, 4):
        # Transparency is display information, not signal: the stored colors are the image.
        array = array[..., :-1]
    if channels == 1 and array.shape[-1] == 3:
        luma = np.rint(array @ _LUMA)
        array = np.clip(luma, 0, np.iinfo(array.dtype).max).astype(array.dtype)[..., None]
    elif channels == 3 and array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    if array.shape[-1] != channels:
        raise ValueError(f"cannot make {channels} channels from {array.shape[-1]}")
    array = np.ascontiguousarray(array.transpose(2, 0, 1))
    # Pillow's buffers are read-only and torch refuses to alias those.
    return torch.from_numpy(array if array.flags.writeable else array.copy())


def read_image(path: Path, channels: int) -> Tensor:
    """One image file as a `[channels, H, W]` uint8 or uint16 tensor (gray, RGB, RGBA, palette)."""
    return to_channels(decode_image(path), channels)


def load_images(
    paths: Sequence[Path],
    channels: int,
    strict: bool,
    what: str,
    transform: Callable[[Tensor], Tensor] | None = None,
) -> dict[Path, Tensor]:
    """Reads `paths` in parallel; the unreadable ones are left out and named in ONE warning.

    With `strict`, any unreadable file raises a `DataError` naming them instead. `transform`
    (a crop, a resize) runs right after decoding, so only its output is kept in memory.
    """

    def read(path: Path) -> Tensor | str:
        try:
            image = read_image(path, channels)
            return transform(image) if transform is not None else image
        except (OSError, ValueError, SyntaxError, RuntimeError, IndexError,
                Image.DecompressionBombError) as error:
            return f"{path} ({str(error).splitlines()[0] if str(error) else type(error).__name__})"

    if len(paths) > 1000:
        log.info("%s: decoding %d image files", what, len(paths))
    with ThreadPoolExecutor(_READ_THREADS) as pool:
        results = list(pool.map(read, paths))
    images = {p: r for p, r in zip(paths, results) if not isinstance(r, str)}
    report_bad(what, [r for r in results if isinstance(r, str)], strict, "unreadable")
    return images


def report_bad(what: str, problems: Sequence[str], strict: bool, kind: str) -> None:
    """One warning that counts and names skipped files, or a DataError when `strict`."""
    if not problems:
        return
    shown = "; ".join(problems[:_MAX_NAMES]) + ("; ..." if len(problems) > _MAX_NAMES else "")
    if strict:
        raise DataError(f"{what}: {len(problems)} {kind} file(s) with strict=true: {shown}")
    log.warning("%s: skipped %d %s file(s) (strict=true makes this an error): %s",
                what, len(problems), kind, shown)


def require_dir(path: Path, what: str, how_to_get: str) -> Path:
    """`path` if it is a directory, else a DataError naming it and how to get the data."""
    if not path.is_dir():
        raise DataError(f"{what} not found: expected {path}. {how_to_get}")
    return path
