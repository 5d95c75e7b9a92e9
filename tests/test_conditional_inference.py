"""Noise-conditional nets after training: the level reaches the net through the Denoiser (given
in 0-255 units, or estimated), `restorelab denoise --sigma`, the evaluation harness and ONNX."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from restorelab.inference import Denoiser
from restorelab.models.dncnn import DnCNN
from restorelab.models.ffdnet import FFDNet


@pytest.fixture(scope="module")
def ffdnet() -> FFDNet:
    torch.manual_seed(0)
    return FFDNet(in_channels=1, depth=4, base_channels=8).eval()


def _noisy(sigma: float, shape: tuple[int, int] = (96, 80)) -> np.ndarray:
    rng = np.random.default_rng(0)
    clean = np.full(shape, 0.5, dtype=np.float32)
    return (clean + rng.normal(0, sigma / 255, shape)).astype(np.float32)


def test_the_given_sigma_reaches_the_net_in_0_255_units(ffdnet: FFDNet) -> None:
    image = _noisy(25)
    denoiser = Denoiser(ffdnet, tile_size=None, device="cpu")
    restored = denoiser.denoise(image, sigma=25)
    with torch.no_grad():
        x = torch.from_numpy(image)[None, None]
        expected = ffdnet(x, torch.full((1, 1, 1, 1), 25 / 255)).clamp(0, 1)[0, 0].numpy()
    np.testing.assert_allclose(restored, expected, atol=1e-6)
    assert denoiser.sigma_source == "given" and denoiser.last_sigma == 25
    other = denoiser.denoise(image, sigma=60)
    assert np.abs(other - restored).max() > 1e-4  # the level changes the output


def test_without_sigma_the_level_is_estimated_and_said(ffdnet: FFDNet) -> None:
    denoiser = Denoiser(ffdnet, tile_size=None, device="cpu")
    denoiser.denoise(_noisy(30))
    assert denoiser.sigma_source == "estimated"
    assert 27 < denoiser.last_sigma < 33  # a flat image: the estimate is close to the truth


def test_a_net_trained_at_one_level_takes_it_without_sigma(ffdnet: FFDNet) -> None:
    from omegaconf import OmegaConf

    def noise(sigma: object) -> object:
        return OmegaConf.create({"noise": {"_target_": "restorelab.corruptions.GaussianNoise",
                                           "sigma": sigma}})

    image = _noisy(30)
    fixed = Denoiser(ffdnet, tile_size=None, device="cpu", config=noise(25))
    np.testing.assert_array_equal(fixed.denoise(image), fixed.denoise(image, sigma=25))
    fixed.denoise(image)
    assert fixed.sigma_source == "trained" and fixed.last_sigma == pytest.approx(25)
    fixed.denoise(image, sigma=40)  # the caller's level still wins
    assert fixed.sigma_source == "given" and fixed.last_sigma == 40
    for other in (noise([0, 75]), OmegaConf.create({"noise": {
            "_target_": "restorelab.corruptions.SpeckleNoise", "sigma": 25}})):
        ranged = Denoiser(ffdnet, tile_size=None, device="cpu", config=other)
        ranged.denoise(image)
        assert ranged.sigma_source == "estimated"  # a range, or not Gaussian noise


def test_tiles_get_the_same_level(ffdnet: FFDNet) -> None:
    image = _noisy(20, (150, 130))
    whole = Denoiser(ffdnet, tile_size=None, device="cpu").denoise(image, sigma=20)
    tiled = Denoiser(ffdnet, tile_size=64, overlap=16, device="cpu").denoise(image, sigma=20)
    assert np.abs(whole - tiled).max() < 0.02


def test_blind_nets_ignore_sigma_and_say_nothing() -> None:
    denoiser = Denoiser(DnCNN(in_channels=1, depth=3), tile_size=None, device="cpu")
    image = _noisy(25)
    np.testing.assert_array_equal(denoiser.denoise(image, sigma=25), denoiser.denoise(image))
    assert denoiser.sigma_source is None and not denoiser.takes_noise_level


def test_a_negative_sigma_is_refused(ffdnet: FFDNet) -> None:
    with pytest.raises(ValueError, match="sigma must be a noise level"):
        Denoiser(ffdnet, tile_size=None, device="cpu").denoise(_noisy(5), sigma=-3)


def test_evaluation_gives_conditional_nets_the_true_sigma(ffdnet: FFDNet) -> None:
    from restorelab.evaluate import model_method

    denoiser = Denoiser(ffdnet, tile_size=None, device="cpu")
    noisy = torch.from_numpy(_noisy(15))[None]
    model_method(denoiser).restore(noisy, 15 / 255)
    assert denoiser.sigma_source == "given" and abs(denoiser.last_sigma - 15) < 1e-9


def test_onnx_export_takes_sigma_as_a_second_input(ffdnet: FFDNet, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    from restorelab.export import export_onnx

    path = tmp_path / "ffdnet.onnx"
    export_onnx(ffdnet, 1, path)
    session = ort.InferenceSession(str(path))
    assert [i.name for i in session.get_inputs()] == ["image", "sigma"]
    images = np.random.default_rng(1).random((2, 1, 37, 29), dtype=np.float32)
    levels = np.array([10.0, 50.0], dtype=np.float32)
    out = session.run(None, {"image": images, "sigma": levels})[0]
    for i in range(2):
        expected = Denoiser(ffdnet, tile_size=None, device="cpu").denoise(
            images[i, 0], sigma=float(levels[i]))
        np.testing.assert_allclose(out[i, 0], expected, atol=1e-4)


# Small versions of the newer families: the export path is under test, not the quality. Two
# levels (one down, one up) keep every kind of layer; the ONNX translation's time grows with the
# number of blocks (restormer's three levels took 40 s on 2 cores, two take about half).
SMALL = {
    "ffdnet": {"depth": 4, "base_channels": 8},
    "drunet": {"base_channels": 8, "num_blocks": 1},
    "nafnet": {"base_channels": 8, "noise_map": True, "encoder_blocks": [1],
               "middle_blocks": 1, "decoder_blocks": [1]},
    "restormer": {"base_channels": 8, "num_blocks": [1, 1], "num_heads": [1, 2]},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMALL))
def test_new_families_export_to_onnx_with_their_sigma_input(name: str, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    import hydra
    from conftest import CONF
    from omegaconf import OmegaConf

    from restorelab.export import ExportWrapper, export_onnx
    from restorelab.inference import pad_multiple
    from restorelab.models.conditioning import takes_noise_level

    config = OmegaConf.load(CONF / "model" / f"{name}.yaml")
    config.in_channels = 1
    for key, value in SMALL[name].items():
        config[key] = value
    torch.manual_seed(0)
    net = hydra.utils.instantiate(config).eval()
    export_onnx(net, 1, tmp_path / "model.onnx")
    session = ort.InferenceSession(str(tmp_path / "model.onnx"))
    image = np.random.default_rng(0).random((1, 1, 37, 29), dtype=np.float32)  # odd sizes
    feed = {"image": image}
    extra = []
    if takes_noise_level(net):
        feed["sigma"] = np.array([25.0], dtype=np.float32)
        extra = [torch.tensor([25.0])]
    assert [i.name for i in session.get_inputs()] == list(feed)
    out = session.run(None, feed)[0]
    with torch.no_grad():
        expected = ExportWrapper(net, pad_multiple(net))(torch.from_numpy(image), *extra).numpy()
    np.testing.assert_allclose(out, expected, atol=1e-4)
