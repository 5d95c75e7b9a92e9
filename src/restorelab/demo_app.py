"""The interactive demo behind `restorelab demo` (Streamlit).

Pick a checkpoint (the shipped `experiments/*/model.safetensors`, a run under `logs/`, or any
path) or a classical method, upload an image or choose a photograph bundled with scikit-image
(each marked by how the model used it: training, validation or held out), choose a corruption
and its level, and compare noisy | restored | clean with their PSNR / SSIM; the restored image can
be downloaded as a PNG. A corruption other than the one the model was trained on is flagged.

Uploads are checked before they are decoded: files over MAX_UPLOAD_MEGABYTES, images over
MAX_DECODE_PIXELS (a decompression bomb is a small file that decodes to gigabytes) and files that
are not images are refused with a message; images over the working size are downscaled, and the
demo says so.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from restorelab.corruptions import (
    Corruption,
    GaussianNoise,
    Identity,
    PoissonNoise,
    SaltPepperNoise,
    SpeckleNoise,
)

CHECKPOINT_ENV = "RESTORELAB_CHECKPOINT"
# Folders (os.pathsep-separated) searched for `*/model.safetensors`; unset: the repository's
# `experiments/` and the working directory's; empty: none.
MODELS_ENV = "RESTORELAB_MODELS"
# How a model used a bundled photograph, as the picker shows it.
ROLE_MARKS = {"test": "held out", "val": "validation", "train": "training"}
MAX_UPLOAD_MEGABYTES = 20
MAX_DECODE_PIXELS = 40_000_000  # refused above this, before decoding
WORKING_SIZES = (128, 256, 512, 1024)  # longest side the demo restores at
# Smallest side the demo takes: SSIM's 11 x 11 Gaussian window (and a net's padding) need room.
MIN_SIDE = 16
# The corruptions offered, by name; each brings its own level control (`Corruption.level`).
CORRUPTIONS: dict[str, type[Corruption]] = {
    cls.name(): cls for cls in (GaussianNoise, SaltPepperNoise, PoissonNoise, SpeckleNoise)
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


def corrupt(clean: np.ndarray, corruption: str, level: float, seed: int) -> np.ndarray:
    """The clean `[H, W, C]` image damaged by `corruption` at `level`, seeded."""
    module = _as_corruption(corruption, level)
    x = torch.from_numpy(np.ascontiguousarray(clean)).permute(2, 0, 1)[None]
    noisy = module(x, torch.Generator().manual_seed(seed))[0]
    return noisy.permute(1, 2, 0).numpy()


def _as_corruption(corruption: str, level: float) -> Corruption:
    """The demo's corruption `corruption` at `level` (in its control's units)."""
    cls = CORRUPTIONS[corruption]
    return cls(**{cls.level.key: level})


def restore_with_baseline(method: str, noisy: np.ndarray, sigma: float | None) -> np.ndarray:
    """The restored image by a classical method (the true sigma for Gaussian noise)."""
    from restorelab.baselines import BASELINES

    return BASELINES[method](noisy, sigma).astype(np.float32)


def _denoiser(checkpoint: str):
    from restorelab.inference import load_denoiser

    return load_denoiser(checkpoint, device="cpu")


def find_checkpoints(root: Path) -> list[str]:
    """Run folders under `root` that hold checkpoints, newest first."""
    if not root.is_dir():
        return []
    runs = {p.parent.parent for p in root.glob("**/checkpoints/*.ckpt")}
    return [str(p) for p in sorted(runs, key=lambda p: p.stat().st_mtime, reverse=True)]


def model_folders() -> list[Path]:
    """Where shipped models are looked for: MODELS_ENV's folders when it is set, else the
    `experiments/` of the repository this package runs from and of the working directory."""
    import restorelab

    listed = os.environ.get(MODELS_ENV)
    if listed is not None:
        return [Path(folder) for folder in listed.split(os.pathsep) if folder]
    repository = Path(restorelab.__file__).resolve().parents[2]  # src/restorelab/ -> the repo
    return [repository / "experiments", Path.cwd() / "experiments"]


def find_shipped_models(folders: list[Path]) -> list[str]:
    """The `<folder>/*/model.safetensors` files, each once (by resolved path), by name."""
    found: dict[Path, None] = {}
    for folder in folders:
        for path in sorted(folder.glob("*/model.safetensors")):
            found.setdefault(path.resolve(), None)
    return [str(path) for path in found]


def model_label(path: str, shipped: set[str]) -> str:
    """How the model picker names a checkpoint: a shipped model by its folder."""
    return f"{Path(path).parent.name} (shipped)" if path in shipped else path


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


def trained_corruptions(noise: Mapping[str, Any] | None) -> list[type[Corruption] | str]:
    """The corruption classes a model was trained on, from its `noise` config (the parts of a
    composition such as `Mixed`); a class that cannot be imported here stays its name; empty
    when unknown."""
    from hydra.utils import get_class

    if not noise or "_target_" not in noise:
        return []
    parts = [value for value in noise.values()
             if isinstance(value, Mapping) and "_target_" in value]
    found: list[type[Corruption] | str] = []
    for node in parts or [noise]:
        target = str(node["_target_"])
        try:
            found.append(get_class(target))
        except (ImportError, ValueError):  # a user's own corruption, not importable here
            found.append(target.rsplit(".", 1)[-1])
    return found


def _corruption_name(kind: type[Corruption] | str) -> str:
    return kind if isinstance(kind, str) else kind.name()


def corruption_warning(noise: Mapping[str, Any] | None, corruption: str) -> str | None:
    """A sentence when the chosen demo `corruption` is not one the model was trained on."""
    trained = trained_corruptions(noise)
    if not trained or CORRUPTIONS[corruption] in trained:
        return None
    said = " + ".join(_corruption_name(t) for t in trained)
    said = "no synthetic noise (real noisy / clean pairs)" if trained == [Identity] else (
        f"{said} noise")
    return (
        f"This model was trained on {said}, not on {corruption} noise: a gain here shows how "
        "far it carries over, not what a model trained for this corruption would do."
    )


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

    st.set_page_config(page_title="RestoreLab demo", layout="wide")
    st.title("RestoreLab demo")
    sidebar = st.sidebar

    # ---- the method
    sidebar.header("Model")
    shipped = find_shipped_models(model_folders())
    found = shipped + find_checkpoints(Path("logs"))
    preset = os.environ.get(CHECKPOINT_ENV, "")
    options = ([preset] if preset else []) + [c for c in found if c != preset]
    picked = sidebar.selectbox(
        "model", options or ["(none: no experiments/*/model.safetensors, nothing under logs/)"],
        format_func=lambda path: model_label(path, set(shipped)), key="run",
    )
    typed = sidebar.text_input("or a path (.ckpt, .safetensors, run folder)", key="checkpoint")
    checkpoint = typed.strip() or (picked if options else None)
    baselines = [name for name, b in BASELINES.items() if b.available and name != "noisy"]
    methods = (["checkpoint"] if checkpoint else []) + baselines
    method = sidebar.selectbox("restore with", methods, key="method")
    try:
        denoiser = _cached_denoiser(st, checkpoint) if method == "checkpoint" else None
    except Exception as error:  # shown, not raised: a wrong path must not end the session
        st.error(f"could not load {checkpoint}: {error}")
        return
    config = denoiser.config if denoiser is not None and denoiser.config is not None else {}
    if denoiser is not None and config.get("noise"):
        sidebar.caption(f"trained on: {describe_noise(config['noise'])}")

    # ---- the image
    sidebar.header("Image")
    source = sidebar.radio("source", ["bundled photograph", "upload"], key="source")
    name = None
    if source != "upload":
        # A run's own config says which photographs it saw; an export keeps no data config, and
        # the shipped models' split is the one the marks then show.
        own = denoiser is not None and config.get("data") is not None
        try:
            roles = photograph_roles(config["data"] if own else None)
        except Exception:  # noqa: BLE001  a config from another version must not end the session
            own, roles = False, photograph_roles(None)
        name = sidebar.selectbox(
            "photograph", photograph_options(roles), key="name",
            format_func=lambda n: f"{n} · {ROLE_MARKS[roles[n]]}" if n in roles else n,
        )
        whose = "this model" if own else "the shipped models (experiments/natural_gray_*)"
        sidebar.caption(
            f"Marks: how {whose} used each photograph. Held-out ones show what a model does "
            "on images it never saw." if roles else "This model saw none of these photographs."
        )
    max_side = sidebar.select_slider("working size (longest side)", WORKING_SIZES, 256, key="size")
    channels_choice = sidebar.radio("color", ["as the model", "gray", "RGB"], key="color")

    sidebar.header("Corruption")
    corruption = sidebar.selectbox("corruption", list(CORRUPTIONS), key="corruption")
    control = CORRUPTIONS[corruption].level
    level = sidebar.slider(control.label, control.low, control.high, control.default,
                           control.step, key="level")
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
            clean = bundled_image(name, max_side)
    except DemoInputError as error:
        st.error(str(error))
        return

    warning = corruption_warning(config.get("noise"), corruption) if denoiser else None
    if warning:
        st.warning(warning)
    channels = {"gray": 1, "RGB": 3}.get(channels_choice)
    channels = channels or (denoiser.channels if denoiser else clean.shape[-1])
    clean = to_channels(clean, channels)
    noisy = corrupt(clean, corruption, level, seed)
    sigma = _as_corruption(corruption, level).true_sigma()
    model_sigma = _model_sigma_control(sidebar, denoiser, level if sigma is not None else None)
    with st.spinner("restoring..."):
        if denoiser is not None:
            restored = denoiser.denoise(noisy.astype(np.float32), model_sigma)
            if denoiser.takes_noise_level:
                st.caption(f"noise level given to the model: sigma {denoiser.last_sigma:.1f} "
                           f"({denoiser.sigma_source})")
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
    reference = reference_baseline(CORRUPTIONS[corruption])
    st.caption(
        f"{color}, {clean.shape[1]} x {clean.shape[0]} pixels. PSNR / SSIM with data_range 1 on "
        "outputs clamped to [0, 1]. Noise seeded, so every method sees the same noisy image; "
        f"baselines get the true sigma for Gaussian noise. The classical reference for this "
        f"corruption is {reference}."
    )


def describe_noise(noise: Mapping[str, Any]) -> str:
    """A model's training corruption in words: "Gaussian, sigma 25" or "Gaussian, sigma 0-55"."""
    from omegaconf import OmegaConf

    trained = trained_corruptions(noise)
    described = []
    for kind in trained:
        name = _corruption_name(kind)
        key = kind.level.key if not isinstance(kind, str) and kind.level else None
        level = noise.get(key) if key and len(trained) == 1 else None  # a part's own level: no
        if OmegaConf.is_list(level) or isinstance(level, (list, tuple)):
            level = "-".join(str(value) for value in level)  # blind: a range, e.g. 0-55
        described.append(f"{name}, {key} {level}" if level is not None else name)
    return " + ".join(described) or "unknown"


def _model_sigma_control(sidebar, denoiser, true_sigma: float | None) -> float | None:
    """For a net that takes the noise level: its own control, "estimate" or a set value
    (0-255), defaulting to the corruption's true sigma. None: estimate (or a blind net)."""
    if denoiser is None or not denoiser.takes_noise_level:
        return None
    sidebar.header("Noise level given to the model")
    how = sidebar.radio("sigma", ["estimate from the image", "set"], key="sigma_mode")
    if how != "set":
        return None
    default = float(true_sigma) if true_sigma is not None else 25.0
    return float(sidebar.slider("sigma (0-255)", 0.0, 100.0, min(default, 100.0), 1.0,
                                key="model_sigma"))


def _cached_denoiser(st, checkpoint: str):
    @st.cache_resource(show_spinner="loading the checkpoint...")
    def load(path: str):
        return _denoiser(path)

    return load(checkpoint)


if __name__ == "__main__":
    main()
