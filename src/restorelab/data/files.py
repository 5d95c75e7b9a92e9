"""Image files on disk for data modules: finding them, reading them (through `restorelab.codec`)
at `channels`, and reporting unreadable ones once instead of failing on the first."""

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

from restorelab.codec import DECODE_ERRORS, decode_image
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


def read_image(path: Path, channels: int, data: bytes | None = None) -> Tensor:
    """One image file as a `[channels, H, W]` uint8 or uint16 tensor (gray, RGB, RGBA, palette);
    `data`: its bytes, when already read."""
    return to_channels(decode_image(path, data), channels)


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) of an image file, read from its header without decoding the pixels."""
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        with tifffile.TiffFile(path) as tiff:
            shape = tiff.series[0].shape if tiff.series else tiff.pages[0].shape
        if len(shape) == 3 and shape[0] in (1, 3, 4) and shape[-1] > 4:
            return int(shape[1]), int(shape[2])  # planar
        return int(shape[0]), int(shape[1])
    with Image.open(path) as image:
        width, height = image.size
    return height, width


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
        except DECODE_ERRORS as error:
            return f"{path} ({reason(error)})"

    if len(paths) > 1000:
        log.info("%s: decoding %d image files", what, len(paths))
    with ThreadPoolExecutor(_READ_THREADS) as pool:
        results = list(pool.map(read, paths))
    images = {p: r for p, r in zip(paths, results) if not isinstance(r, str)}
    report_bad(what, [r for r in results if isinstance(r, str)], strict, "unreadable")
    return images


def reason(error: BaseException) -> str:
    """The first line of a decoding error, or its type when it says nothing."""
    return str(error).splitlines()[0] if str(error) else type(error).__name__


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
