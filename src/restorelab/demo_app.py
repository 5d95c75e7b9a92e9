"""The interactive demo behind `restorelab demo` (Streamlit).

Pick a checkpoint (or a classical method), upload an image or choose a photograph bundled with
scikit-image, choose a corruption and its level, and compare noisy | restored | clean with their
PSNR / SSIM; the restored image can be downloaded as a PNG.

Uploads are checked before they are decoded: files over MAX_UPLOAD_MEGABYTES, images over
MAX_DECODE_PIXELS (a decompression bomb is a small file that decodes to gigabytes) and files that
are not images are refused with a message; images over the working size are downscaled, and the
demo says so.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

CHECKPOINT_ENV = "RESTORELAB_CHECKPOINT"
MAX_UPLOAD_MEGABYTES = 20
MAX_DECODE_PIXELS = 40_000_000  # refused above this, before decoding
WORKING_SIZES = (128, 256, 512, 1024)  # longest side the demo restores at
CORRUPTIONS = {
    # name: (class, level key, (min, max, default, step), label)
    "Gaussian": ("GaussianNoise", "sigma", (0.0, 100.0, 25.0, 1.0), "sigma (0-255)"),
    "salt and pepper": ("SaltPepperNoise", "amount", (0.0, 0.5, 0.1, 0.01), "fraction of pixels"),
    "Poisson": ("PoissonNoise", "peak", (1.0, 200.0, 30.0, 1.0), "photons at white"),
    "speckle": ("SpeckleNoise", "sigma", (0.0, 100.0, 25.0, 1.0), "relative sigma (0-255)"),
}
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
    message = None
    if max(width, height) > max_side:
        image.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale directly
        message = f"downscaled from {width} x {height} to fit {max_side} pixels"
    try:
        image.load()
        if image.mode.startswith("I"):
            array = np.asarray(image, dtype=np.float32) / 65535.0
        else:
            array = np.asarray(image.convert("L" if image.mode in ("1", "L", "LA") else "RGB"))
            array = array.astype(np.float32) / 255.0
    except (OSError, ValueError, SyntaxError) as error:
        raise DemoInputError(f"the image could not be decoded ({error})") from None
    array = array if array.ndim == 3 else array[..., None]
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


def corrupt(clean: np.ndarray, corruption: str, level: float, seed: int) -> np.ndarray:
    """The clean `[H, W, C]` image damaged by `corruption` at `level`, seeded."""
    import restorelab.corruptions as corruptions

    class_name, key, _, _ = CORRUPTIONS[corruption]
    module = getattr(corruptions, class_name)(**{key: level})
    x = torch.from_numpy(np.ascontiguousarray(clean)).permute(2, 0, 1)[None]
    noisy = module(x, torch.Generator().manual_seed(seed))[0]
    return noisy.permute(1, 2, 0).numpy()


def restore_with_baseline(method: str, noisy: np.ndarray, sigma: float | None) -> np.ndarray:
    """The restored image by a classical method (the true sigma for Gaussian noise)."""
    from restorelab.baselines import BASELINES

    return BASELINES[method](noisy, sigma).astype(np.float32)


def _denoiser(checkpoint: str):
    from restorelab.inference import load_denoiser

    return load_denoiser(checkpoint, device="cpu", tile_size=512)


def find_checkpoints(root: Path) -> list[str]:
    """Run folders under `root` that hold checkpoints, newest first."""
    if not root.is_dir():
        return []
    runs = {p.parent.parent for p in root.glob("**/checkpoints/*.ckpt")}
    return [str(p) for p in sorted(runs, key=lambda p: p.stat().st_mtime, reverse=True)]


def png_bytes(array: np.ndarray) -> bytes:
    pixels = np.rint(np.clip(array, 0, 1) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(buffer, "PNG")
    return buffer.getvalue()


def quality(restored: np.ndarray, clean: np.ndarray) -> tuple[float, float]:
    from restorelab.evaluate import score

    to_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a, np.float32)).permute(2, 0, 1)
    return score(to_tensor(restored), to_tensor(clean))


def main() -> None:
    import streamlit as st

    from restorelab.baselines import BASELINES, reference_baseline
    from restorelab.data.natural import COLOR_IMAGES, GRAY_IMAGES

    st.set_page_config(page_title="RestoreLab demo", layout="wide")
    st.title("RestoreLab demo")
    sidebar = st.sidebar

    # ---- the method
    sidebar.header("Model")
    found = find_checkpoints(Path("logs"))
    preset = os.environ.get(CHECKPOINT_ENV, "")
    options = ([preset] if preset else []) + [c for c in found if c != preset]
    picked = sidebar.selectbox("run folder", options or ["(none found under logs/)"], key="run")
    typed = sidebar.text_input("or a path (.ckpt, .safetensors, run folder)", key="checkpoint")
    checkpoint = typed.strip() or (picked if options else None)
    baselines = [name for name, b in BASELINES.items() if b.available and name != "noisy"]
    methods = (["checkpoint"] if checkpoint else []) + baselines
    method = sidebar.selectbox("restore with", methods, key="method")

    # ---- the image
    sidebar.header("Image")
    source = sidebar.radio("source", ["bundled photograph", "upload"], key="source")
    max_side = sidebar.select_slider("working size (longest side)", WORKING_SIZES, 256, key="size")
    channels_choice = sidebar.radio("color", ["as the model", "gray", "RGB"], key="color")

    sidebar.header("Corruption")
    corruption = sidebar.selectbox("corruption", list(CORRUPTIONS), key="corruption")
    _, _, (low, high, default, step), label = CORRUPTIONS[corruption]
    level = sidebar.slider(label, low, high, default, step, key="level")
    seed = int(sidebar.number_input("noise seed", 0, 2**31 - 1, 0, key="seed"))

    try:
        if source == "upload":
            upload = st.file_uploader(
                f"an image (PNG, JPEG, TIFF, BMP; at most {MAX_UPLOAD_MEGABYTES} MB)",
                key="upload",
            )
            if upload is None:
                st.info("Upload an image, or choose a bundled photograph in the sidebar.")
                return
            clean, message = read_upload(upload.getvalue(), max_side)
            if message:
                st.warning(message)
        else:
            name = sidebar.selectbox("photograph", sorted(COLOR_IMAGES + GRAY_IMAGES), key="name")
            clean = bundled_image(name, max_side)
    except DemoInputError as error:
        st.error(str(error))
        return

    try:
        denoiser = _cached_denoiser(st, checkpoint) if method == "checkpoint" else None
    except Exception as error:  # shown, not raised: a wrong path must not end the session
        st.error(f"could not load {checkpoint}: {error}")
        return
    channels = {"gray": 1, "RGB": 3}.get(channels_choice)
    channels = channels or (denoiser.channels if denoiser else clean.shape[-1])
    clean = to_channels(clean, channels)
    noisy = corrupt(clean, corruption, level, seed)
    sigma = level / 255.0 if corruption == "Gaussian" else None
    with st.spinner("restoring..."):
        if denoiser is not None:
            restored = denoiser.denoise(noisy.astype(np.float32))
        else:
            restored = restore_with_baseline(method, noisy, sigma)

    noisy_scores, restored_scores = quality(noisy, clean), quality(restored, clean)
    columns = st.columns(3)
    shown = {"noisy": noisy, f"restored ({method})": restored, "clean": clean}
    for column, (caption, image) in zip(columns, shown.items()):
        column.image(np.clip(image, 0, 1), caption=caption, clamp=True, width="stretch")
    columns[0].metric("PSNR (dB)", f"{noisy_scores[0]:.2f}")
    columns[0].metric("SSIM", f"{noisy_scores[1]:.4f}")
    columns[1].metric("PSNR (dB)", f"{restored_scores[0]:.2f}",
                      f"{restored_scores[0] - noisy_scores[0]:+.2f}")
    columns[1].metric("SSIM", f"{restored_scores[1]:.4f}",
                      f"{restored_scores[1] - noisy_scores[1]:+.4f}")
    columns[1].download_button(
        "Download restored PNG", png_bytes(restored), file_name="restored.png",
        mime="image/png", key="download",
    )
    color = "gray" if channels == 1 else "RGB"
    reference = reference_baseline(CORRUPTIONS[corruption][0])
    st.caption(
        f"{color}, {clean.shape[1]} x {clean.shape[0]} pixels. PSNR / SSIM with data_range 1 on "
        "outputs clamped to [0, 1]. Noise seeded, so every method sees the same noisy image; "
        f"baselines get the true sigma for Gaussian noise. The classical reference for this "
        f"corruption is {reference}."
    )


def _cached_denoiser(st, checkpoint: str):
    @st.cache_resource(show_spinner="loading the checkpoint...")
    def load(path: str):
        return _denoiser(path)

    return load(checkpoint)


if __name__ == "__main__":
    main()
