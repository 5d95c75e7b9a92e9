"""The reference denoisers shipped in experiments/ load with `restorelab.load_denoiser` and denoise
held-out photographs about as well as their model card says.

The crops below come from the test photographs of `data=natural` (never trained on). The floors
sit about 1 dB under what the card's weights score on these same crops, so the tests catch weights
that are missing, corrupt, from another recipe or from an untrained net, without pinning a result
to the last digit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from restorelab.data.natural import load_skimage_image, to_channels
from restorelab.denoiser import Denoiser
from restorelab.inference import load_denoiser
from restorelab.report import psnr

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"

# (weights, sigma, floor on the mean PSNR gain over the noisy crops, in dB)
CASES = [
    ("natural_gray_sigma25/model.safetensors", 25, 9.8),  # measured +10.85
    ("natural_gray_blind/model.safetensors", 15, 6.4),    # measured +7.41
    ("natural_gray_blind/model.safetensors", 25, 8.8),    # measured +9.79
    ("natural_gray_blind/model.safetensors", 50, 11.4),   # measured +12.39
]


def heldout_crops() -> list[np.ndarray]:
    """Three 128x128 gray crops of the held-out test photographs, as float32 in [0, 1]."""
    crops = []
    for name, (top, left) in {"moon": (192, 192), "gravel": (0, 0),
                              "hubble_deep_field": (300, 400)}.items():
        gray = to_channels(load_skimage_image(name), 1)[0].numpy().astype(np.float32) / 255
        crops.append(gray[top:top + 128, left:left + 128])
    return crops


@pytest.mark.parametrize(("weights", "sigma", "floor"), CASES)
def test_shipped_weights_denoise_heldout_photographs(weights: str, sigma: int,
                                                     floor: float) -> None:
    path = EXPERIMENTS / weights
    assert path.is_file(), f"{path} is missing: the reference weights ship with the repository"
    assert path.stat().st_size < 10 * 2**20, "reference weights must stay a few MB"
    denoiser = load_denoiser(path, device="cpu", tile_size=None)
    gains = []
    for index, clean in enumerate(heldout_crops()):
        rng = np.random.default_rng(index)
        noisy = (clean + rng.normal(0, sigma / 255, clean.shape)).astype(np.float32)
        restored = denoiser.denoise(noisy)
        assert restored.shape == clean.shape and restored.dtype == np.float32
        gains.append(psnr(restored, clean) - psnr(noisy, clean))
    assert np.mean(gains) > floor, f"mean gain {np.mean(gains):.2f} dB at sigma={sigma}"


def test_the_model_cards_name_their_weights_command_and_baseline() -> None:
    for name in ("natural_gray_sigma25", "natural_gray_blind", "train400_drunet",
                 "train400_drunet_sigma25"):
        card = (EXPERIMENTS / name / "README.md").read_text()
        assert "model.safetensors" in card and "load_denoiser" in card
        assert f"experiment={name}" in card and "BM3D" in card
    color = (EXPERIMENTS / "train400_drunet_color" / "README.md").read_text()
    assert "--color opponent" in color and "load_denoiser" in color and "CBM3D" in color
    assert "train400_drunet/model.safetensors" in color


# The Train400 DRUNet on the first three BSD68 images, literature protocol, the true sigma given:
# (sigma, floor) with the floor 0.3 dB under the card's measured mean of these three images.
SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
DRUNET_BSD68_FLOORS = [
    (15, 30.6),  # measured 30.90 (28.21, 32.36, 32.11), stage 12 (stage 11: 30.87)
    (25, 28.15),  # measured 28.45 (25.78, 29.94, 29.64) (stage 11: 28.43)
    (50, 25.3),  # measured 25.60 (23.11, 27.11, 26.58) (stage 11: 25.59)
]


def bsd68_mean_psnr(weights: str, sigma: int, give_sigma: bool) -> tuple[float, Denoiser]:
    """The mean PSNR of `weights` on the first three BSD68 images at `sigma`, literature
    protocol, telling the net the level or not; and the denoiser, to ask what level it used."""
    if not (SHARED / "bsd68").is_dir():
        pytest.skip(f"{SHARED / 'bsd68'} is absent (shared/ beside the repository)")
    from restorelab.benchmarks.protocol import LiteratureProtocol
    from restorelab.benchmarks.sets import get_set

    path = EXPERIMENTS / weights
    assert path.is_file(), f"{path} is missing: the reference weights ship with the repository"
    denoiser = load_denoiser(path, device="cpu", tile_size=None)
    assert denoiser.takes_noise_level
    protocol = LiteratureProtocol()
    scores = []
    for index, (_, clean) in enumerate(get_set("bsd68").load(SHARED / "bsd68")[:3]):
        noisy = protocol.noisy(clean, index, sigma)
        restored = denoiser.denoise(noisy, sigma) if give_sigma else denoiser.denoise(noisy)
        scores.append(protocol.score(protocol.finish(restored), clean)[0])
    return float(np.mean(scores)), denoiser


@pytest.mark.parametrize(("sigma", "floor"), DRUNET_BSD68_FLOORS)
def test_train400_drunet_on_bsd68_images(sigma: int, floor: float) -> None:
    mean, denoiser = bsd68_mean_psnr("train400_drunet/model.safetensors", sigma, True)
    assert denoiser.sigma_source == "given"
    assert mean > floor, f"mean PSNR {mean:.2f} dB at sigma={sigma}"


def test_train400_drunet_sigma25_on_bsd68_images() -> None:
    """The sigma=25 fine-tune at sigma 25, sigma not passed: the weights take the level they were
    trained at. Floor 0.3 dB under the card's measured mean, 28.37 (25.73, 29.85, 29.53)."""
    mean, denoiser = bsd68_mean_psnr("train400_drunet_sigma25/model.safetensors", 25, False)
    assert denoiser.sigma_source == "trained" and denoiser.last_sigma == pytest.approx(25)
    assert mean > 28.0, f"mean PSNR {mean:.2f} dB at sigma=25"


# The same gray net as a color denoiser (train400_drunet_color: each channel of the opponent
# color space at its level) on the first three CBSD68 images, literature protocol, sigma given:
# (sigma, floor) with the floor about 0.35 dB under the card's measured mean of these images.
COLOR_CBSD68_FLOORS = [
    (15, 36.4),  # measured 36.74 (41.37, 32.28, 36.57), train400_drunet stage 12 (stage 6: 36.56)
    (25, 34.0),  # measured 34.35 (39.10, 29.65, 34.30) (stage 6: 34.19)
    (50, 30.7),  # measured 31.06 (35.36, 26.31, 31.51) (stage 6: 30.94)
]


@pytest.fixture(scope="module")
def color_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train400_drunet's weights exported as the color model, as the card's run.sh makes it."""
    from restorelab.cli import main

    path = tmp_path_factory.mktemp("color") / "model.safetensors"
    main(["export", "--checkpoint", str(EXPERIMENTS / "train400_drunet" / "model.safetensors"),
          "--format", "safetensors", "--color", "opponent", "-o", str(path)])
    return path


@pytest.mark.parametrize(("sigma", "floor"), COLOR_CBSD68_FLOORS)
def test_train400_drunet_color_on_cbsd68_images(color_export: Path, sigma: int,
                                                floor: float) -> None:
    if not (SHARED / "cbsd68").is_dir():
        pytest.skip(f"{SHARED / 'cbsd68'} is absent (shared/ beside the repository)")
    from restorelab.benchmarks.protocol import LiteratureProtocol
    from restorelab.benchmarks.sets import get_set

    denoiser = load_denoiser(color_export, device="cpu", tile_size=None)
    assert denoiser.channels == 3 and denoiser.takes_noise_level
    protocol = LiteratureProtocol()
    scores = []
    for index, (_, clean) in enumerate(get_set("cbsd68").load(SHARED / "cbsd68")[:3]):
        noisy = protocol.noisy(clean, index, sigma)
        restored = denoiser.denoise(noisy, sigma)
        assert restored.shape == clean.shape
        scores.append(protocol.score(protocol.finish(restored), clean)[0])
    assert np.mean(scores) > floor, f"mean PSNR {np.mean(scores):.2f} dB at sigma={sigma}"
