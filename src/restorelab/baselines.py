"""Classical denoisers run as if they were models: same noisy input, same scoring.

Each baseline maps a noisy `[H, W, C]` float array (C = 1 or 3) to a restored one of the same
shape. Those that take a noise level get the TRUE sigma of the Gaussian noise when the harness
knows it (in [0, 1] units, sigma / 255), and an estimate from the image
(`skimage.restoration.estimate_sigma`) otherwise; the evaluation report says which.

Parameters are fixed rules of sigma chosen once on a few gray crops, not tuned per image:
total variation weight = sigma, non-local means h = 0.8 sigma (5x5 patches, 13x13 search, fast
mode), wavelet BayesShrink with soft thresholds (YCbCr for RGB), BM3D with its own defaults.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from restorelab.corruptions import Corruption

log = logging.getLogger(__name__)

BaselineFunction = Callable[[np.ndarray, float | None], np.ndarray]


@dataclass(frozen=True)
class Baseline:
    """A classical method: `function(noisy, sigma)`; `uses_sigma` says whether the noise level
    matters to it; `package` names the optional package it needs (None: always available)."""

    name: str
    function: BaselineFunction
    uses_sigma: bool
    description: str
    package: str | None = None
    install: str = ""  # how to get `package`, said when it is missing

    def __call__(self, noisy: np.ndarray, sigma: float | None = None) -> np.ndarray:
        if noisy.ndim != 3 or noisy.shape[-1] not in (1, 3):
            raise ValueError(f"baselines take [H, W, 1 or 3] arrays, got shape {noisy.shape}")
        noisy = noisy.astype(np.float64, copy=False)
        if self.uses_sigma and sigma is None:
            sigma = estimate_sigma(noisy)
        restored = self.function(noisy, sigma)
        return np.asarray(restored, dtype=np.float64).reshape(noisy.shape)

    @property
    def available(self) -> bool:
        if self.package is None:
            return True
        import importlib.util

        return importlib.util.find_spec(self.package) is not None


def estimate_sigma(noisy: np.ndarray) -> float:
    """Gaussian noise level of `[H, W, C]` in [0, 1] units (wavelet median estimate)."""
    from skimage.restoration import estimate_sigma as skimage_estimate

    return float(skimage_estimate(noisy, channel_axis=-1, average_sigmas=True))


def _channel_axis(image: np.ndarray) -> int | None:
    return -1 if image.shape[-1] == 3 else None


def _squeeze(image: np.ndarray) -> np.ndarray:
    return image[..., 0] if image.shape[-1] == 1 else image


def _noisy(noisy: np.ndarray, sigma: float | None) -> np.ndarray:
    return noisy  # the "do nothing" method; scoring clamps it to [0, 1] like every output


def _median(noisy: np.ndarray, sigma: float | None) -> np.ndarray:
    from scipy.ndimage import median_filter

    # 3x3 in space, never across channels: the classical remedy for salt-and-pepper noise.
    return median_filter(noisy, size=(3, 3, 1), mode="reflect")


def _total_variation(noisy: np.ndarray, sigma: float | None) -> np.ndarray:
    from skimage.restoration import denoise_tv_chambolle

    return denoise_tv_chambolle(noisy, weight=sigma, channel_axis=-1)


def _non_local_means(noisy: np.ndarray, sigma: float | None) -> np.ndarray:
    from skimage.restoration import denoise_nl_means

    return denoise_nl_means(
        _squeeze(noisy),
        h=0.8 * sigma,
        sigma=sigma,
        patch_size=5,
        patch_distance=6,
        fast_mode=True,
        channel_axis=_channel_axis(noisy),
    )


def _wavelet(noisy: np.ndarray, sigma: float | None) -> np.ndarray:
    from skimage.restoration import denoise_wavelet

    rgb = noisy.shape[-1] == 3
    return denoise_wavelet(
        _squeeze(noisy),
        sigma=sigma,
        method="BayesShrink",
        mode="soft",
        rescale_sigma=True,
        channel_axis=_channel_axis(noisy),
        convert2ycbcr=rgb,
    )


# The `bm3d` package (Tampere University's BM3D) is licensed for non-commercial use only, so
# RestoreLab never installs it by default: it is the opt-in extra `bm3d`.
BM3D_INSTALL = ("it is licensed for non-commercial use only, so it is not installed by default: "
                "pip install 'restorelab[bm3d]'")


def _bm3d(noisy: np.ndarray, sigma: float | None) -> np.ndarray:
    import bm3d

    if noisy.shape[-1] == 3:
        return bm3d.bm3d_rgb(noisy, sigma_psd=sigma)  # CBM3D: in the opponent color space
    return bm3d.bm3d(noisy[..., 0], sigma_psd=sigma)


BASELINES: dict[str, Baseline] = {
    b.name: b
    for b in (
        Baseline("noisy", _noisy, False, "the noisy input itself (clamped to [0, 1])"),
        Baseline("median", _median, False, "3x3 median filter per channel (impulse noise)"),
        Baseline("tv", _total_variation, True, "total variation (Chambolle), weight = sigma"),
        Baseline("nlm", _non_local_means, True, "non-local means, h = 0.8 sigma, fast mode"),
        Baseline("wavelet", _wavelet, True, "wavelet BayesShrink, soft thresholds"),
        Baseline("bm3d", _bm3d, True, "BM3D (the bm3d package; CBM3D for RGB)", "bm3d",
                 BM3D_INSTALL),
    )
}

def reference_baseline(corruption: Corruption | type[Corruption] | None) -> str:
    """The baseline the literature reports beside a model for this corruption (its
    `classical_reference`: the median filter for impulse noise, BM3D otherwise; None is real
    noise), non-local means standing in when bm3d is not installed."""
    reference = corruption.classical_reference if corruption is not None else "bm3d"
    if reference == "bm3d" and not BASELINES["bm3d"].available:
        return "nlm"
    return reference


def select_baselines(
    names: Sequence[str], corruption: Corruption | type[Corruption] | None = None
) -> list[Baseline]:
    """Baselines by name; `auto` is the noisy input plus the reference baseline of `corruption`
    (None: real noise), `all` is every installed one. Unknown names raise ValueError; a missing
    optional package says how to get it."""
    chosen: list[str] = []
    for name in names:
        if name == "none":
            continue
        if name == "auto":
            reference = reference_baseline(corruption)
            if reference == "nlm":
                log.warning("bm3d is not installed: non-local means stands in as the reference "
                            "baseline (%s)", BM3D_INSTALL)
            expanded = ["noisy", reference]
        elif name == "all":
            expanded = [n for n, b in BASELINES.items() if b.available]
        elif name in BASELINES:
            expanded = [name]
        else:
            allowed = ", ".join(["auto", "all", "none", *BASELINES])
            raise ValueError(f"unknown baseline {name!r}; allowed: {allowed}")
        chosen += [n for n in expanded if n not in chosen]
    for name in chosen:
        if not BASELINES[name].available:
            raise ValueError(
                f"baseline {name!r} needs the {BASELINES[name].package!r} package; "
                f"{BASELINES[name].install}"
            )
    return [BASELINES[name] for name in chosen]
