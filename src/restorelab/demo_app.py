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

This module is the Streamlit page; what it offers and shows comes from `restorelab.demo_models`
(the methods), `restorelab.demo_images` (the images and their scores) and
`restorelab.demo_corruptions` (the corruptions).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from restorelab.demo_corruptions import (
    CORRUPTIONS,
    as_corruption,
    corrupt,
    corruption_warning,
    describe_noise,
)
from restorelab.demo_corruptions import trained_corruptions as trained_corruptions  # re-exported
from restorelab.demo_images import MAX_DECODE_PIXELS as MAX_DECODE_PIXELS  # re-exported
from restorelab.demo_images import (
    MAX_UPLOAD_MEGABYTES,
    DemoInputError,
    bundled_image,
    photograph_options,
    photograph_roles,
    png_bytes,
    quality,
    read_upload,
    to_channels,
)
from restorelab.demo_images import MIN_SIDE as MIN_SIDE  # re-exported
from restorelab.demo_models import (
    CHECKPOINT_ENV,
    cpu_denoiser,
    find_checkpoints,
    find_shipped_models,
    model_folders,
    model_label,
    restore_with_baseline,
)
from restorelab.demo_models import MODELS_ENV as MODELS_ENV  # re-exported

# How a model used a bundled photograph, as the picker shows it.
ROLE_MARKS = {"test": "held out", "val": "validation", "train": "training"}
WORKING_SIZES = (128, 256, 512, 1024)  # longest side the demo restores at


def main() -> None:
    import streamlit as st

    st.set_page_config(page_title="RestoreLab demo", layout="wide")
    st.title("RestoreLab demo")
    sidebar = st.sidebar

    chosen = _choose_method(st, sidebar)
    if chosen is None:  # the checkpoint could not be loaded: said so on the page
        return
    method, denoiser, config = chosen
    source, name, max_side, channels_choice = _choose_image(sidebar, denoiser, config)

    sidebar.header("Corruption")
    corruption = sidebar.selectbox("corruption", list(CORRUPTIONS), key="corruption")
    control = CORRUPTIONS[corruption].level
    level = sidebar.slider(control.label, control.low, control.high, control.default,
                           control.step, key="level")
    seed = int(sidebar.number_input("noise seed", 0, 2**31 - 1, 0, key="seed"))

    clean = _clean_image(st, source, name, max_side)
    if clean is None:  # no upload yet, or one refused: said so on the page
        return

    warning = corruption_warning(config.get("noise"), corruption) if denoiser else None
    if warning:
        st.warning(warning)
    channels = {"gray": 1, "RGB": 3}.get(channels_choice)
    channels = channels or (denoiser.channels if denoiser else clean.shape[-1])
    clean = to_channels(clean, channels)
    noisy = corrupt(clean, corruption, level, seed)
    sigma = as_corruption(corruption, level).true_sigma()
    model_sigma = _model_sigma_control(sidebar, denoiser, level if sigma is not None else None)
    with st.spinner("restoring..."):
        if denoiser is not None:
            restored = denoiser.denoise(noisy.astype(np.float32), model_sigma)
            if denoiser.takes_noise_level:
                st.caption(f"noise level given to the model: sigma {denoiser.last_sigma:.1f} "
                           f"({denoiser.sigma_source})")
        else:
            restored = restore_with_baseline(method, noisy, sigma)
    _show_results(st, method, corruption, channels, noisy, restored, clean)


def _choose_method(st: Any, sidebar: Any) -> tuple[str, Any, dict[str, Any]] | None:
    """The sidebar's model section: the method, the loaded denoiser (None for a classical
    method) and its config; None when the checkpoint could not be loaded."""
    from restorelab.baselines import BASELINES

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
        return None
    config = denoiser.config if denoiser is not None and denoiser.config is not None else {}
    if denoiser is not None and config.get("noise"):
        sidebar.caption(f"trained on: {describe_noise(config['noise'])}")
    return method, denoiser, config


def _choose_image(
    sidebar: Any, denoiser: Any, config: dict[str, Any]
) -> tuple[str, str | None, int, str]:
    """The sidebar's image section: the source, the bundled photograph's name (None for an
    upload), the working size and the colour choice."""
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
    return source, name, max_side, channels_choice


def _clean_image(st: Any, source: str, name: str | None, max_side: int) -> np.ndarray | None:
    """The clean image: the upload or the bundled photograph; None (with a message on the
    page) while there is no upload, or when it is refused."""
    try:
        if source == "upload":
            upload = st.file_uploader(
                f"an image (PNG, JPEG, TIFF, BMP; at most {MAX_UPLOAD_MEGABYTES} MB)",
                key="upload",
            )
            if upload is None:
                st.info("Upload an image, or choose a bundled photograph in the sidebar.")
                return None
            clean, message = read_upload(upload.getvalue(), max_side)
            if message:
                st.warning(message)
        else:
            clean = bundled_image(name, max_side)
    except DemoInputError as error:
        st.error(str(error))
        return None
    return clean


def _show_results(
    st: Any, method: str, corruption: str, channels: int, noisy: np.ndarray,
    restored: np.ndarray, clean: np.ndarray,
) -> None:
    """noisy | restored | clean with their PSNR / SSIM, the download, and what was measured."""
    from restorelab.baselines import reference_baseline

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
        return cpu_denoiser(path)

    return load(checkpoint)


if __name__ == "__main__":
    main()
