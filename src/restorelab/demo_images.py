"""The images of the demo: an upload read safely (size, pixel count and format checked before it
is decoded), the photographs bundled with scikit-image and how a model used each, gray or RGB,
the restored image as a PNG, and the PSNR / SSIM of an image against the clean one.

Uploads over MAX_UPLOAD_MEGABYTES, images over MAX_DECODE_PIXELS (a decompression bomb is a small
file that decodes to gigabytes) and files that are not images are refused with a message;
images over the working size are downscaled, and the message says so.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

MAX_UPLOAD_MEGABYTES = 20
MAX_DECODE_PIXELS = 40_000_000  # refused above this, before decoding
# Smallest side the demo takes: SSIM's 11 x 11 Gaussian window (and a net's padding) need room.
MIN_SIDE = 16
# Pillow's own guard, so no other code path in this process decodes a bomb either.
Image.MAX_IMAGE_PIXELS = MAX_DECODE_PIXELS


class DemoInputError(ValueError):
    """An upload the demo refuses; the message is shown to the user."""


def read_upload(data: bytes, max_side: int) -> tuple[np.ndarray, str | None]:
    """An uploaded file as float32 `[H, W, C]` in [0, 1] (C = 1 or 3, alpha dropped), at most
    `max_side` pixels on its longest side, and a message when it was downscaled."""
    if len(data) > MAX_UPLOAD_MEGABYTES * 1024 * 1024:
        raise DemoInputError(f"the file is over {MAX_UPLOAD_MEGABYTES} MB: choose a smaller one")
    too_large = (
        f"over the demo's limit of {MAX_DECODE_PIXELS / 1e6:.0f} MP: it is not decoded (a small "
        "file can decode to gigabytes). Use `restorelab denoise`, which tiles images of any size"
    )
    try:
        image = Image.open(io.BytesIO(data))  # reads the header only
    except Image.DecompressionBombError:  # Pillow's own check, at twice MAX_IMAGE_PIXELS
        raise DemoInputError(f"the image is {too_large}") from None
    except (UnidentifiedImageError, OSError):
        raise DemoInputError(
            "this file is not an image the demo can read (PNG, JPEG, TIFF, BMP or WebP)"
        ) from None
    width, height = image.size
    if width * height > MAX_DECODE_PIXELS:
        raise DemoInputError(f"the image is {width} x {height} pixels, {too_large}")
    if min(width, height) < MIN_SIDE:
        raise DemoInputError(
            f"the image is {width} x {height} pixels: the demo needs at least {MIN_SIDE} pixels "
            "on each side to restore and score it; upload a larger image"
        )
    message = None
    if max(width, height) > max_side:
        message = f"downscaled from {width} x {height} to fit {max_side} pixels"
    from restorelab.codec import DECODE_ERRORS, decode_bytes, image_from_array

    try:  # the project's one decoder: the demo reads a file as `restorelab denoise` does
        decoded = image_from_array(decode_bytes(data), "the upload")
    except ValueError as error:  # float pixels outside [0, 1], NaN, too many channels
        raise DemoInputError(f"{error}".replace("the upload: ", "")) from None
    except DECODE_ERRORS as error:
        raise DemoInputError(f"the image could not be decoded ({error})") from None
    array = decoded.pixels  # float32 (H, W, 1 or 3) in [0, 1]; the alpha is not restored
    if max(array.shape[:2]) > max_side:
        array = _downscale(array, max_side)
    return np.clip(array, 0.0, 1.0), message


def _downscale(array: np.ndarray, max_side: int) -> np.ndarray:
    from skimage.transform import resize

    height, width = array.shape[:2]
    scale = max_side / max(height, width)
    shape = (max(1, round(height * scale)), max(1, round(width * scale)), array.shape[2])
    return resize(array, shape, anti_aliasing=True, preserve_range=True).astype(np.float32)


def bundled_image(name: str, max_side: int) -> np.ndarray:
    """A photograph shipped with scikit-image as float32 `[H, W, C]` in [0, 1]."""
    from restorelab.data.natural import load_skimage_image

    array = load_skimage_image(name).astype(np.float32) / 255.0
    array = array if array.ndim == 3 else array[..., None]
    array = array[..., :3]
    return _downscale(array, max_side) if max(array.shape[:2]) > max_side else array


def to_channels(array: np.ndarray, channels: int) -> np.ndarray:
    """`[H, W, C]` to gray (BT.601 luma) or RGB (three equal channels)."""
    if array.shape[-1] == channels:
        return array
    if channels == 1:
        return (array[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., None]
    return np.repeat(array, 3, axis=-1)


def photograph_roles(data: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Which bundled photographs a model was trained ("train"), selected ("val") and tested
    ("test") on, from its `data` config; None: the shipped models' (gray `data=natural`, the
    default split). Empty when the model was trained on other data."""
    from restorelab.data.natural import COLOR_IMAGES, GRAY_IMAGES, NaturalImagesDataModule
    from restorelab.data.patches import split_by_item

    data = dict(data or {"_target_": "NaturalImagesDataModule", "channels": 1})
    target = str(data.get("_target_", ""))
    if target.endswith("DeadLeavesDataModule") and data.get("mix_natural", 0) > 0:
        data = {"channels": data.get("channels", 1)}  # it mixes in the default split's crops
    elif not target.endswith("NaturalImagesDataModule"):
        return {}
    keys = ("channels", "val_fraction", "test_fraction", "split_seed")
    # The data module's own defaults for the keys a config leaves out (its __init__ loads nothing).
    hp = NaturalImagesDataModule(**{k: data[k] for k in keys if k in data}).hparams
    names = COLOR_IMAGES + (GRAY_IMAGES if hp.channels == 1 else ())
    splits = split_by_item(names, hp.val_fraction, hp.test_fraction, hp.split_seed)
    return {name: role for role, part in zip(("train", "val", "test"), splits) for name in part}


def photograph_options(roles: Mapping[str, str]) -> list[str]:
    """The bundled photographs, held-out ones first (the default is one a model never saw),
    then validation, training and unused ones, by name within each."""
    from restorelab.data.natural import COLOR_IMAGES, GRAY_IMAGES

    order = {"test": 0, "val": 1, "train": 2}
    return sorted(COLOR_IMAGES + GRAY_IMAGES, key=lambda n: (order.get(roles.get(n), 3), n))


def png_bytes(array: np.ndarray) -> bytes:
    pixels = np.rint(np.clip(array, 0, 1) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(buffer, "PNG")
    return buffer.getvalue()


def quality(restored: np.ndarray, clean: np.ndarray) -> tuple[float, float]:
    from restorelab.evaluate import score

    def to_tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, np.float32)).permute(2, 0, 1)

    return score(to_tensor(restored), to_tensor(clean))
