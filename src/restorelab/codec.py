"""The one image codec of the project: every file RestoreLab reads or writes goes through it, so
training data, `restorelab denoise`, evaluation folders and the demo agree on every format and
bit depth.

- `decode_image(path)` / `decode_bytes(data)`: PNG, JPEG, TIFF, BMP, WebP; 8 or 16 bits; gray,
  gray + alpha, RGB, RGBA, palette; float TIFF. Pillow decodes what it reads at full depth;
  16-bit colour PNGs go to libpng (imagecodecs), which Pillow would cut to 8 bits; TIFFs to
  tifffile.
- `read_image_file` / `write_image_file`: an `ImageFile` (float pixels in [0, 1], the alpha as
  stored, the bit depth) and back, in the format of the file's suffix, written atomically.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

TIFF_MAGIC = (b"II*\x00", b"MM\x00*")


# What decoding a damaged or foreign file raises, from Pillow, tifffile or imagecodecs.
DECODE_ERRORS = (OSError, ValueError, SyntaxError, RuntimeError, IndexError,
                 Image.DecompressionBombError)


def _png_is_16bit_color(header: bytes) -> bool:
    # Pillow decodes 16-bit PNGs with color or alpha to 8 bits; the IHDR chunk tells beforehand,
    # and those go to libpng instead.
    return header[:8] == b"\x89PNG\r\n\x1a\n" and header[24] == 16 and header[25] in (2, 4, 6)


def _decode_png16(data: bytes) -> np.ndarray:
    """A 16-bit gray+alpha, RGB or RGBA PNG at its full depth, decoded by libpng (imagecodecs)."""
    import imagecodecs

    try:
        return imagecodecs.png_decode(data)
    except imagecodecs.PngError as error:  # truncated or corrupt: an OSError, as from Pillow
        raise OSError(f"broken PNG file ({error})") from None


def decode_image(path: Path, data: bytes | None = None) -> np.ndarray:
    """`[H, W]` or `[H, W, C]` uint8 / uint16 array, alpha still attached (float32 for float
    TIFFs). The one decoder of the project: training data, `restorelab denoise` and evaluation
    folders all read files through it, so they agree on every format and bit depth.

    `data`: the file's bytes, already read (from a shard); `path` then only names the format.
    """
    suffix = path.suffix.lower()
    source = io.BytesIO(data) if data is not None else path
    if suffix in (".tif", ".tiff"):
        import tifffile  # a dependency of scikit-image; reads every bit depth Pillow truncates

        array = tifffile.imread(source, key=0)
        if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] > 4:
            array = array.transpose(1, 2, 0)  # planar TIFFs come channels first
        return array
    if suffix == ".png":
        if data is None:
            with open(path, "rb") as file:
                header = file.read(26)
        else:
            header = data[:26]
        if _png_is_16bit_color(header):
            return _decode_png16(path.read_bytes() if data is None else data)
    with Image.open(source) as image:
        image.load()  # `open` read the header only: a truncated file must fail here
        if image.mode.startswith("I;16") or image.mode == "I":  # 16-bit (or 32-bit) gray
            return np.clip(np.asarray(image, dtype=np.int64), 0, 65535).astype(np.uint16)
        if image.mode == "F":
            raise ValueError("floating-point images are not supported (save 8- or 16-bit)")
        if image.mode in ("1", "L", "LA", "La"):
            return np.asarray(image.convert("LA" if "A" in image.mode else "L"))
        has_alpha = "A" in image.mode or "transparency" in image.info
        return np.asarray(image.convert("RGBA" if has_alpha else "RGB"))  # P, CMYK, YCbCr, ...


def decode_bytes(data: bytes) -> np.ndarray:
    """`decode_image` for a file's bytes whose name is unknown (an upload): TIFF is told by its
    magic number, everything else by its own header."""
    suffix = ".tif" if data[:4] in TIFF_MAGIC else ".png" if data[:8] == b"\x89PNG\r\n\x1a\n" else ""
    return decode_image(Path(f"upload{suffix}"), data)


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
    return image_from_array(decode_image(path), str(path))


def image_from_array(array: np.ndarray, name: str) -> ImageFile:
    """A decoded array (`decode_image`) as an `ImageFile`; `name` is what errors call it."""
    path = name
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


def _float_image(path: str, array: np.ndarray) -> ImageFile:
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
        elif image.bit_depth == 16 and array.shape[-1] > 1:  # Pillow writes 16-bit gray only
            import imagecodecs

            # libpng takes rows in C order; a restored image may be a transposed view
            Path(tmp).write_bytes(imagecodecs.png_encode(np.ascontiguousarray(array)))
        else:
            Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(
                tmp, format="PNG"
            )


def _alpha_as(alpha: np.ndarray | None, maximum: int) -> np.ndarray | None:
    """A float alpha in [0, 1] at an integer depth, for formats without float pixels."""
    if alpha is None:
        return None
    return np.rint(np.clip(alpha, 0.0, 1.0) * maximum).astype(np.uint16)
