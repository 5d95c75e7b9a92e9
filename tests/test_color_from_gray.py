"""A gray noise-conditional net as a color denoiser (`ColorFromGray`, `restorelab export --color`):
the transform keeps white noise white at the levels it states, inverts exactly, hands the gray
net each channel at its own level, and the export rebuilds itself wherever a model loads."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torch import Tensor, nn

from restorelab.cli import main
from restorelab.export import export_safetensors
from restorelab.inference import load_denoiser, load_network
from restorelab.models.drunet import DRUNet
from restorelab.models.color_from_gray import ColorFromGray


class Recorder(nn.Module):
    """A gray 'net' that returns its input and keeps the levels it was given."""

    takes_noise_level = True
    in_channels = 1

    def __init__(self) -> None:
        super().__init__()
        self.levels: list[Tensor] = []

    def forward(self, x: Tensor, sigma: Tensor) -> Tensor:
        self.levels.append(sigma)
        return x


def test_white_rgb_noise_stays_white_at_the_stated_levels() -> None:
    net = ColorFromGray(Recorder())
    noise = torch.randn(3, 512 * 512, generator=torch.Generator().manual_seed(0)) * 0.1
    opponent = net.forward_matrix @ noise  # (3, N)
    # sqrt(1/3), sqrt(1/2), sqrt(6)/4 of the RGB level, the three channels uncorrelated
    stated = net.level_scale.flatten() * 0.1
    np.testing.assert_allclose(stated, [0.1 / math.sqrt(3), 0.1 / math.sqrt(2),
                                        0.1 * math.sqrt(6) / 4], rtol=1e-6)
    np.testing.assert_allclose(opponent.std(dim=1), stated, rtol=0.02)  # 262k samples: ~0.2%
    correlation = torch.corrcoef(opponent)
    assert (correlation - torch.eye(3)).abs().max() < 0.02  # sampling error ~0.002


@pytest.mark.parametrize("space", ["opponent", "rgb"])
def test_the_transform_inverts_and_each_channel_gets_its_level(space: str) -> None:
    recorder = Recorder()
    net = ColorFromGray(recorder, space)
    x = torch.rand(2, 3, 19, 23, generator=torch.Generator().manual_seed(1))
    sigma = torch.tensor([10.0, 40.0]).view(2, 1, 1, 1) / 255
    torch.testing.assert_close(net(x, sigma), x, atol=1e-6, rtol=0)
    (levels,) = recorder.levels  # one call: the 2 x 3 channels as a batch of 6 gray images
    assert levels.shape == (6, 1, 19, 23)
    per_channel = levels[:, 0, 0, 0].view(2, 3) * 255
    expected = torch.tensor([10.0, 40.0])[:, None] * net.level_scale.flatten()[None]
    torch.testing.assert_close(per_channel, expected)
    if space == "rgb":
        torch.testing.assert_close(net.level_scale.flatten(), torch.ones(3))
    # The channels the gray net sees lie in [0, 1] like a gray image.
    corners = torch.tensor([[[[a]], [[b]], [[c]]] for a in (0, 1) for b in (0, 1) for c in (0, 1)])
    opponent = torch.einsum("oc,bchw->bohw", net.forward_matrix, corners.float()) + net.offset
    assert opponent.min() >= -1e-6 and opponent.max() <= 1 + 1e-6


def test_only_gray_conditional_nets_and_known_spaces_are_taken() -> None:
    with pytest.raises(ValueError, match="opponent, rgb"):
        ColorFromGray(Recorder(), "lab")
    with pytest.raises(ValueError, match="takes the noise level"):
        ColorFromGray(DRUNet(in_channels=1, base_channels=4, noise_map=False))
    with pytest.raises(ValueError, match="in_channels 1"):
        ColorFromGray(DRUNet(in_channels=3, base_channels=4))
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        ColorFromGray(Recorder())(torch.rand(1, 1, 8, 8), torch.full((1, 1, 1, 1), 0.1))


@pytest.fixture(scope="module")
def gray_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = {"_target_": "restorelab.models.drunet.DRUNet", "in_channels": 1,
             "base_channels": 4, "num_blocks": 1}
    config = OmegaConf.create({
        "model": model,
        "noise": {"_target_": "restorelab.corruptions.GaussianNoise", "sigma": [0, 75]},
        "source": "a test net",
    })
    path = tmp_path_factory.mktemp("gray") / "gray.safetensors"
    export_safetensors(DRUNet(**{k: v for k, v in model.items() if k != "_target_"}).eval(),
                       config, path)
    return path


def test_a_color_export_loads_as_a_color_denoiser(gray_export: Path, tmp_path: Path) -> None:
    color = tmp_path / "color.safetensors"
    main(["export", "-c", str(gray_export), "-f", "safetensors", "--color", "opponent",
          "-o", str(color)])
    denoiser = load_denoiser(color, device="cpu")
    assert denoiser.channels == 3 and isinstance(denoiser.net, ColorFromGray)
    gray, _ = load_network(gray_export)
    image = np.random.default_rng(2).random((29, 37, 3), dtype=np.float32)
    with torch.no_grad():
        x = torch.from_numpy(image).permute(2, 0, 1)[None]
        expected = ColorFromGray(gray)(x, torch.full((1, 1, 1, 1), 25 / 255)).clamp(0, 1)
    np.testing.assert_allclose(denoiser.denoise(image, sigma=25),
                               expected[0].permute(1, 2, 0).numpy(), atol=1e-5)
    # Without -o it lands beside its source, named after the space (the source is never hit).
    main(["export", "-c", str(gray_export), "-f", "safetensors", "--color", "opponent"])
    beside = gray_export.with_name("gray_opponent.safetensors")
    assert beside.is_file() and load_denoiser(beside, device="cpu").channels == 3
    beside.unlink()
    # The gray weights are the color net's, unchanged, and the config nests the gray model.
    net, config = load_network(color)
    assert config.model.gray.base_channels == 4
    for key, value in gray.state_dict().items():
        torch.testing.assert_close(net.state_dict()[f"gray.{key}"], value, rtol=0, atol=0)


def test_a_color_export_traces_with_its_sigma_input(gray_export: Path, tmp_path: Path) -> None:
    path = tmp_path / "color.pt"
    main(["export", "-c", str(gray_export), "-f", "torchscript", "--color", "opponent",
          "-o", str(path)])
    scripted = torch.jit.load(str(path))
    gray, _ = load_network(gray_export)
    x = torch.rand(1, 3, 21, 30, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = ColorFromGray(gray)(x, torch.full((1, 1, 1, 1), 30 / 255)).clamp(0, 1)
        torch.testing.assert_close(scripted(x, torch.tensor([30.0])), expected,
                                   atol=1e-5, rtol=0)


def test_color_refuses_a_color_net_in_one_line(gray_export: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    color = tmp_path / "color.safetensors"
    main(["export", "-c", str(gray_export), "-f", "safetensors", "--color", "opponent",
          "-o", str(color)])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "-c", str(color), "-f", "safetensors", "--color", "opponent",
              "-o", str(tmp_path / "again.safetensors")])
    assert exit_info.value.code == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "wraps a gray net (in_channels 1)" in error
    assert not (tmp_path / "again.safetensors").exists()


def test_the_denoiser_takes_rgb_through_the_opponent_space_by_default(gray_export: Path) -> None:
    """A gray conditional net given an RGB image: the opponent space unless told otherwise,
    with tiles (each tile at the image's level) and the level's source reported."""
    image = np.random.default_rng(4).random((40, 52, 3), dtype=np.float32)
    gray, _ = load_network(gray_export)
    with torch.no_grad():
        x = torch.from_numpy(image).permute(2, 0, 1)[None]
        level = torch.full((1, 1, 1, 1), 20 / 255)
        by_space = {space: ColorFromGray(gray, space)(x, level).clamp(0, 1)[0]
                    .permute(1, 2, 0).numpy() for space in ("opponent", "rgb")}
    assert np.abs(by_space["opponent"] - by_space["rgb"]).max() > 1e-3
    default = load_denoiser(gray_export, device="cpu", tile_size=None)
    assert default.color == "opponent" and "color=opponent" in repr(default)
    np.testing.assert_allclose(default.denoise(image, sigma=20), by_space["opponent"], atol=1e-5)
    assert default.sigma_source == "given" and default.last_sigma == 20
    rgb = load_denoiser(gray_export, device="cpu", tile_size=None, color="rgb")
    np.testing.assert_allclose(rgb.denoise(image, sigma=20), by_space["rgb"], atol=1e-5)
    gray_image = image[..., 0]  # a gray image still goes straight to the gray net
    with torch.no_grad():
        direct = gray(torch.from_numpy(gray_image)[None, None], level).clamp(0, 1)[0, 0].numpy()
    np.testing.assert_allclose(default.denoise(gray_image, sigma=20), direct, atol=1e-5)
    tiled = load_denoiser(gray_export, device="cpu", tile_size=16, overlap=4)
    assert np.abs(tiled.denoise(image, sigma=20) - by_space["opponent"]).max() < 0.05
    tiled.denoise(image)  # estimated from the RGB image, once
    assert tiled.sigma_source == "estimated" and tiled.last_sigma is not None


def test_opponent_is_refused_for_nets_it_cannot_serve() -> None:
    from restorelab.inference import Denoiser

    with pytest.raises(ValueError, match="blind net"):
        Denoiser(DRUNet(1, base_channels=4, noise_map=False), tile_size=None, device="cpu",
                 color="opponent")
    with pytest.raises(ValueError, match="3-channel conditional net"):
        Denoiser(DRUNet(3, base_channels=4), tile_size=None, device="cpu", color="opponent")
    with pytest.raises(ValueError, match="auto, opponent, rgb"):
        Denoiser(DRUNet(1, base_channels=4), tile_size=None, device="cpu", color="lab")
    blind = Denoiser(DRUNet(1, base_channels=4, noise_map=False), tile_size=None, device="cpu")
    assert blind.color == "rgb"  # a blind gray net keeps restoring R, G, B one by one
    assert Denoiser(DRUNet(3, base_channels=4), tile_size=None, device="cpu").color is None


def test_denoise_command_takes_the_color_mode(gray_export: Path, tmp_path: Path) -> None:
    from PIL import Image

    photo = (np.random.default_rng(5).random((30, 34, 3)) * 255).astype(np.uint8)
    (tmp_path / "in").mkdir()
    Image.fromarray(photo).save(tmp_path / "in" / "photo.png")
    outputs = {}
    for mode in ("auto", "rgb"):
        main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / mode), "-c",
              str(gray_export), "--sigma", "25", "--color", mode, "--tile-size", "none"])
        outputs[mode] = np.asarray(Image.open(tmp_path / mode / "photo.png"))
    expected = load_denoiser(gray_export, device="cpu", tile_size=None).denoise(
        photo.astype(np.float32) / 255, sigma=25)
    assert np.abs(outputs["auto"].astype(int) - np.round(expected * 255)).max() <= 1
    assert np.abs(outputs["auto"].astype(int) - outputs["rgb"].astype(int)).max() > 1
