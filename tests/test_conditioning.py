"""Noise-level conditioning: corruptions that report their level, the sigma contract of
conditional nets, the module handing the level over, the new model families, bias-free
homogeneity, the published key layouts, and the cost counters."""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import lightning as L
import pytest
import torch
from conftest import CleanImages, eval_trainer, CONF, compose_train, run_train
from hydra.utils import instantiate
from lightning.pytorch.utilities.model_summary import ModelSummary
from omegaconf import OmegaConf
from torch import nn
from torch.utils.data import DataLoader

from restorelab.corruptions import (
    Compose,
    GaussianNoise,
    Identity,
    Occlusion,
    PoissonNoise,
    SaltPepperNoise,
)
from restorelab.corruptions.base import draw_level
from restorelab.errors import ConfigError
from restorelab.models.conditioning import noise_level_map, restore, takes_noise_level
from restorelab.models.dncnn import DnCNN
from restorelab.models.drunet import DRUNet, from_kair_drunet, to_kair_drunet
from restorelab.models.ffdnet import FFDNet, from_kair_ffdnet, to_kair_ffdnet
from restorelab.models.layers import BiasFreeBatchNorm2d
from restorelab.models.nafnet import NAFNet
from restorelab.models.restormer import Restormer
from restorelab.models.stats import example_input, macs_per_pixel
from restorelab.module import DenoisingModule
from restorelab.train import build_module

NEW_MODELS = ["ffdnet", "drunet", "nafnet", "restormer"]


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def sigma_of(x: torch.Tensor, value: float = 25.0) -> torch.Tensor:
    return torch.full((x.shape[0], 1, 1, 1), value / 255, dtype=x.dtype)


# ---------------------------------------------------------------- corruptions and their levels
def test_gaussian_reports_the_level_it_drew() -> None:
    clean = torch.full((64, 1, 64, 64), 0.5)
    noise = GaussianNoise(sigma=[5, 50])
    corrupted = noise.apply_with_level(clean, seeded(3))
    # The same random numbers as apply(): callers of either see the same noisy images.
    assert torch.equal(corrupted.noisy, noise.apply(clean, seeded(3))[0])
    assert corrupted.mask is None and noise.knows_noise_level()
    assert corrupted.sigma.shape == (64, 1, 1, 1) and corrupted.sigma.dtype == torch.float32
    sigma = corrupted.sigma.flatten()
    assert sigma.min() >= 5 / 255 and sigma.max() <= 50 / 255 and sigma.std() > 0
    # Each image's noise has the reported std: 4096 samples estimate it within ~1.1 %.
    measured = (corrupted.noisy - clean).flatten(1).std(dim=1)
    torch.testing.assert_close(measured, sigma, rtol=0.05, atol=0.0)


@pytest.mark.parametrize(
    "corruption",
    [
        SaltPepperNoise(amount=0.1),
        PoissonNoise(peak=30),
        Occlusion(),
        Identity(),
        Compose([GaussianNoise(25), Occlusion()]),
    ],
    ids=["salt_pepper", "poisson", "occlusion", "identity", "compose"],
)
def test_other_corruptions_do_not_claim_a_level(corruption: nn.Module) -> None:
    clean = torch.rand(4, 1, 16, 16)
    corrupted = corruption.apply_with_level(clean, seeded(1))
    noisy, mask = corruption.apply(clean, seeded(1))
    assert not corruption.knows_noise_level() and corrupted.sigma is None
    assert torch.equal(corrupted.noisy, noisy)
    assert (corrupted.mask is None) == (mask is None)


def test_log_uniform_weights_low_levels() -> None:
    x = torch.zeros(40_000, 1, 1, 1)
    uniform = draw_level((1.0, 55.0), x, seeded(0)).flatten()
    log_uniform = draw_level((1.0, 55.0), x, seeded(0), "log_uniform").flatten()
    for draws in (uniform, log_uniform):
        assert draws.min() >= 1.0 and draws.max() <= 55.0
    # Medians: (1 + 55) / 2 = 28 and sqrt(1 * 55) = 7.42; 40k draws pin them within ~1 %.
    assert uniform.median().item() == pytest.approx(28.0, rel=0.03)
    assert log_uniform.median().item() == pytest.approx(math.sqrt(55.0), rel=0.03)
    # Uniform in log sigma: P(sigma < 15) = ln 15 / ln 55, against 14 / 54 for uniform.
    below = (log_uniform < 15).float().mean().item()
    assert below == pytest.approx(math.log(15) / math.log(55), abs=0.01)
    assert (uniform < 15).float().mean().item() == pytest.approx(14 / 54, abs=0.01)
    # Same seed, same draws; the corruption uses them.
    again = draw_level((1.0, 55.0), x, seeded(0), "log_uniform").flatten()
    assert torch.equal(again, log_uniform)
    clean = torch.zeros(4000, 1, 2, 2)
    drawn = GaussianNoise([1, 55], distribution="log_uniform").apply_with_level(clean, seeded(5))
    assert (drawn.sigma * 255).median().item() == pytest.approx(math.sqrt(55.0), rel=0.1)


def test_distribution_is_checked_and_configurable(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"log_uniform.*min > 0.*sigma=\[1,55\]"):
        GaussianNoise(sigma=[0, 55], distribution="log_uniform")
    with pytest.raises(ValueError, match="distribution='beta' .* 'uniform', 'log_uniform'"):
        GaussianNoise(sigma=[5, 55], distribution="beta")
    GaussianNoise(sigma=0, distribution="log_uniform")  # a fixed level draws nothing
    cfg = compose_train(tmp_path, ["noise.sigma=[1,55]", "noise.distribution=log_uniform"])
    noise = instantiate(cfg.noise)
    assert noise.distribution == "log_uniform" and noise.sigma == (1.0, 55.0)
    assert instantiate(compose_train(tmp_path).noise).distribution == "uniform"  # unchanged


# ---------------------------------------------------------------- the sigma contract of nets
CONDITIONAL = {
    "ffdnet": lambda: FFDNet(1, depth=3, base_channels=4),
    "drunet": lambda: DRUNet(1, base_channels=4, num_blocks=1),
    "nafnet_noise_map": lambda: NAFNet(1, base_channels=4, noise_map=True),
}


@pytest.mark.parametrize("name", CONDITIONAL)
def test_conditional_nets_refuse_a_missing_or_misshapen_sigma(name: str) -> None:
    net = CONDITIONAL[name]()
    assert takes_noise_level(net)
    x = torch.rand(2, 1, 12, 10)
    with pytest.raises(ValueError, match=r"takes the noise level: call it as net\(x, sigma\)"):
        net(x)
    for shape in [(2, 1, 12, 11), (2, 3, 1, 1), (3, 1, 1, 1), (2, 1), (2,)]:
        with pytest.raises(ValueError, match=r"sigma must have shape \[B, 1, H, W\] = \[2, 1, 12"):
            net(x, torch.full(shape, 0.1))
    with pytest.raises(ValueError, match="must be a tensor"):
        net(x, 0.1)
    # Accepted: one value per image, a per-pixel map, one value for the whole batch.
    for shape in [(2, 1, 1, 1), (2, 1, 12, 10), (1, 1, 1, 1)]:
        assert net(x, torch.full(shape, 0.1)).shape == x.shape


def test_the_level_changes_the_output_of_a_conditional_net() -> None:
    torch.manual_seed(0)
    net = FFDNet(1, depth=3, base_channels=4, norm="none").eval()
    x = torch.rand(1, 1, 16, 16)
    low, high = net(x, sigma_of(x, 5)), net(x, sigma_of(x, 50))
    assert not torch.allclose(low, high)
    # A per-image value and the constant map it stands for are the same input.
    torch.testing.assert_close(net(x, sigma_of(x).expand(1, 1, 16, 16)), net(x, sigma_of(x)))


def test_noise_level_map_and_restore() -> None:
    x = torch.rand(3, 2, 5, 7, dtype=torch.float64)
    level = noise_level_map(x, torch.full((3, 1, 1, 1), 0.2), "Net")
    assert level.shape == (3, 1, 5, 7) and level.dtype == torch.float64
    blind = DnCNN(2, depth=3, base_channels=4)
    assert not takes_noise_level(blind)
    torch.testing.assert_close(restore(blind, x.float(), torch.zeros(3, 1, 1, 1)), blind(x.float()))


@pytest.mark.parametrize("net", [DRUNet(1, base_channels=4, noise_map=False), NAFNet(1, 4)])
def test_blind_variants_take_no_sigma(net: nn.Module) -> None:
    x = torch.rand(1, 1, 8, 8)
    assert not takes_noise_level(net) and net(x).shape == x.shape
    with pytest.raises(ValueError, match="noise_map=False: call it as net\\(x\\)"):
        net(x, sigma_of(x))


# ---------------------------------------------------------------- the module hands it over
class RecordsSigma(nn.Module):
    """Returns its input scaled; records each call's input and sigma."""

    takes_noise_level = True

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.calls: list[tuple[torch.Tensor, torch.Tensor | None]] = []

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | None = None) -> torch.Tensor:
        self.calls.append((x.detach().clone(), None if sigma is None else sigma.clone()))
        return x * self.scale


class BlindRecorder(nn.Module):
    """forward(x) only: a module handing it a sigma would be a TypeError."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x * self.scale


def _module(net: nn.Module, corruption: nn.Module) -> DenoisingModule:
    return DenoisingModule(
        net=net, corruption=corruption, loss=nn.MSELoss(),
        optimizer=partial(torch.optim.SGD, lr=0.0),
    )




def _assert_sigma_is_the_noise(calls: list, clean: torch.Tensor) -> None:
    for noisy, sigma in calls:
        assert sigma is not None and sigma.shape == (noisy.shape[0], 1, 1, 1)
        measured = (noisy - clean[: noisy.shape[0]]).flatten(1).std(dim=1)
        torch.testing.assert_close(measured, sigma.flatten(), rtol=0.06, atol=0.0)


def test_module_hands_the_drawn_level_to_a_conditional_net_in_every_stage() -> None:
    clean = torch.full((8, 1, 48, 48), 0.5)
    net = RecordsSigma()
    module = _module(net, GaussianNoise(sigma=[5, 55]))
    # Training: a fresh draw, one level per image.
    module.training_step(clean, 0)
    (train_call,) = net.calls
    assert train_call[1].flatten().std() > 0
    _assert_sigma_is_the_noise(net.calls, clean)
    # Validation: the blind draw, then each fixed level of level_corruptions.
    net.calls.clear()
    metrics = eval_trainer().validate(module, datamodule=CleanImages(clean), verbose=False)[0]
    assert {"val/psnr_sigma15", "val/psnr_sigma25", "val/psnr_sigma50"} <= set(metrics)
    assert len(net.calls) == 1 + 3
    _assert_sigma_is_the_noise(net.calls, clean)
    fixed = [call[1].unique() for call in net.calls[1:]]
    assert [level.numel() for level in fixed] == [1, 1, 1]
    assert torch.cat(fixed).tolist() == pytest.approx([15 / 255, 25 / 255, 50 / 255])
    # Test.
    net.calls.clear()
    eval_trainer().test(module, datamodule=CleanImages(clean), verbose=False)
    assert len(net.calls) == 1
    _assert_sigma_is_the_noise(net.calls, clean)


def test_module_calls_a_blind_net_with_the_image_alone() -> None:
    clean = torch.full((8, 1, 16, 16), 0.5)
    net = BlindRecorder()
    module = _module(net, GaussianNoise(sigma=[5, 55]))
    module.training_step(clean, 0)
    eval_trainer().validate(module, datamodule=CleanImages(clean), verbose=False)
    assert net.calls == 1 + 1 + 3


@pytest.mark.parametrize(
    ("corruption", "name"),
    [
        (SaltPepperNoise(), "SaltPepperNoise"),
        (Identity(), "Identity"),
        (Compose([GaussianNoise(25), Occlusion()]), "Compose"),
    ],
)
def test_a_corruption_without_a_level_is_refused_at_setup(corruption: nn.Module, name: str) -> None:
    message = rf"FFDNet takes the noise level .* corruption {name} cannot say .*noise=gaussian"
    with pytest.raises(ConfigError, match=message):
        _module(FFDNet(1, depth=3, base_channels=4), corruption)
    _module(BlindRecorder(), corruption)  # a blind net does not care


def test_the_refusal_comes_from_the_composed_config(tmp_path: Path) -> None:
    cfg = compose_train(tmp_path, ["model=drunet", "noise=salt_pepper"])
    with pytest.raises(ConfigError, match="DRUNet .* SaltPepperNoise .* model.noise_map=false"):
        build_module(cfg)
    blind = compose_train(tmp_path, ["model=drunet", "noise=salt_pepper", "model.noise_map=false"])
    assert not takes_noise_level(build_module(blind).net)


def test_paired_batches_are_refused_for_a_conditional_net() -> None:
    module = _module(RecordsSigma(), GaussianNoise(25))
    pair = (torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8))
    with pytest.raises(ConfigError, match="pairs of real noise carry none"):
        module.training_step(pair, 0)


# ---------------------------------------------------------------- the new families
def _default(name: str, channels: int) -> nn.Module:
    model = OmegaConf.load(CONF / "model" / f"{name}.yaml")
    cfg = OmegaConf.create({"data": {"channels": channels}, "model": model})
    return instantiate(cfg.model)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", NEW_MODELS)
def test_new_models_at_their_defaults(name: str, channels: int) -> None:
    torch.manual_seed(0)
    net = _default(name, channels)
    x = torch.rand(2, channels, 37, 29, requires_grad=True)
    out = restore(net, x, sigma_of(x))
    assert out.shape == x.shape and torch.isfinite(out).all()
    out.square().mean().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("factory", "arguments", "message"),
    [
        (FFDNet, {"norm": "group"}, "norm='group' .* allowed: 'none', 'batch', 'bias_free_batch'"),
        (FFDNet, {"bias": False}, "bias=False needs norm 'none' or 'bias_free_batch'"),
        (FFDNet, {"depth": 1}, "depth=1 .* allowed"),
        (FFDNet, {"kernel_size": 4}, "kernel_size=4 .* allowed"),
        (DRUNet, {"channel_multipliers": []}, "channel_multipliers=.* allowed"),
        (DRUNet, {"channel_multipliers": [1, 0]}, "channel_multipliers=.* allowed"),
        (DRUNet, {"num_blocks": 0}, "num_blocks=0 .* allowed"),
        (NAFNet, {"encoder_blocks": [1, 1], "decoder_blocks": [1]}, "same length"),
        (NAFNet, {"middle_blocks": -1}, "must be >= 0"),
        (Restormer, {"base_channels": 15}, "base_channels=15 .* allowed: an even integer"),
        (Restormer, {"num_heads": [1, 2]}, "same length"),
        (Restormer, {"num_heads": [1, 3, 4]}, "heads that divide"),
        (DnCNN, {"bias": False}, "bias=False with norm='batch' .* allowed"),
    ],
)
def test_unsupported_arguments_raise(factory: type, arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory(in_channels=1, **arguments)


# ---------------------------------------------------------------- bias-free nets
def _randomize_running_var(net: nn.Module) -> None:
    for module in net.modules():
        if isinstance(module, BiasFreeBatchNorm2d):
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)


@pytest.mark.parametrize(
    "factory",
    [
        lambda: DnCNN(1, depth=5, base_channels=8, norm="bias_free_batch", bias=False),
        lambda: FFDNet(1, depth=4, base_channels=8, norm="bias_free_batch", bias=False),
        lambda: FFDNet(1, depth=4, base_channels=8, norm="none", bias=False, residual=True),
        lambda: DRUNet(1, base_channels=4, num_blocks=1, bias=False),
    ],
    ids=["dncnn", "ffdnet", "ffdnet_residual", "drunet"],
)
def test_bias_free_nets_are_scale_equivariant(factory) -> None:
    torch.manual_seed(0)
    net = factory().double()
    _randomize_running_var(net)
    net.eval()
    x = torch.rand(2, 1, 19, 21, dtype=torch.float64)
    sigma = sigma_of(x)
    out = restore(net, x, sigma)
    for a in (0.3, 3.7):
        torch.testing.assert_close(restore(net, a * x, a * sigma), a * out)
    convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert all(conv.bias is None for conv in convs)


def test_nets_with_biases_are_not_scale_equivariant() -> None:
    # The check above can fail: the same families with their biases break it.
    torch.manual_seed(0)
    x = torch.rand(2, 1, 19, 21, dtype=torch.float64)
    with_biases = (DnCNN(1, depth=5, base_channels=8), DRUNet(1, 4, num_blocks=1, bias=True))
    for net in with_biases:
        net = net.double().eval()
        for module in net.modules():
            if isinstance(module, nn.Conv2d) and module.bias is not None:
                module.bias.data.uniform_(0.05, 0.1)
        sigma = sigma_of(x)
        assert not torch.allclose(restore(net, 3.7 * x, 3.7 * sigma), 3.7 * restore(net, x, sigma))


def test_bias_free_batch_norm_tracks_the_spread_and_keeps_the_mean() -> None:
    norm = BiasFreeBatchNorm2d(2)
    x = torch.randn(64, 2, 8, 8) * torch.tensor([0.5, 3.0]).view(1, 2, 1, 1) + 4.0
    for _ in range(100):
        out = norm(x)
    # In training: divided by the batch's spread about its mean, the mean itself kept.
    torch.testing.assert_close(out.var(dim=(0, 2, 3)), torch.ones(2), rtol=0.01, atol=0.0)
    assert (out.mean(dim=(0, 2, 3)) > 1.0).all()
    torch.testing.assert_close(norm.running_var, x.var(dim=(0, 2, 3)), rtol=0.01, atol=0.0)
    norm.eval()
    torch.testing.assert_close(norm(x), out, rtol=1e-3, atol=1e-4)


# ---------------------------------------------------------------- KAIR's published layouts
# Copies of KAIR's modules (cszn/KAIR models/network_ffdnet.py, network_unet.py with the
# basicblock helpers inlined), built as KAIR builds them, to check the mappings on real layouts.
class KairFFDNet(nn.Module):
    def __init__(self, in_nc: int, nc: int, nb: int) -> None:
        super().__init__()
        layers = [nn.Conv2d(in_nc * 4 + 1, nc, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(nb - 2):
            layers += [nn.Conv2d(nc, nc, 3, padding=1), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(nc, in_nc * 4, 3, padding=1))
        self.m_down = nn.PixelUnshuffle(2)
        self.model = nn.Sequential(*layers)
        self.m_up = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        h, w = x.size()[-2:]
        x = nn.ReplicationPad2d((0, -w % 2, 0, -h % 2))(x)
        x = self.m_down(x)
        m = sigma.repeat(1, 1, x.size()[-2], x.size()[-1])
        x = self.m_up(self.model(torch.cat((x, m), 1)))
        return x[..., :h, :w]


class KairResBlock(nn.Module):
    def __init__(self, nc: int) -> None:
        super().__init__()
        self.res = nn.Sequential(nn.Conv2d(nc, nc, 3, padding=1, bias=False), nn.ReLU(),
                                 nn.Conv2d(nc, nc, 3, padding=1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res(x)


class KairUNetRes(nn.Module):
    def __init__(self, in_nc: int, out_nc: int, nc: list[int], nb: int) -> None:
        super().__init__()
        def blocks(c: int) -> list[nn.Module]:
            return [KairResBlock(c) for _ in range(nb)]
        self.m_head = nn.Conv2d(in_nc, nc[0], 3, padding=1, bias=False)
        self.m_down1 = nn.Sequential(*blocks(nc[0]), nn.Conv2d(nc[0], nc[1], 2, 2, bias=False))
        self.m_down2 = nn.Sequential(*blocks(nc[1]), nn.Conv2d(nc[1], nc[2], 2, 2, bias=False))
        self.m_down3 = nn.Sequential(*blocks(nc[2]), nn.Conv2d(nc[2], nc[3], 2, 2, bias=False))
        self.m_body = nn.Sequential(*blocks(nc[3]))
        def up(deeper: int, c: int) -> nn.Module:
            return nn.Sequential(nn.ConvTranspose2d(deeper, c, 2, 2, bias=False), *blocks(c))
        self.m_up3, self.m_up2, self.m_up1 = up(nc[3], nc[2]), up(nc[2], nc[1]), up(nc[1], nc[0])
        self.m_tail = nn.Conv2d(nc[0], out_nc, 3, padding=1, bias=False)

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x1 = self.m_head(x0)
        x2 = self.m_down1(x1)
        x3 = self.m_down2(x2)
        x4 = self.m_down3(x3)
        x = self.m_body(x4)
        x = self.m_up3(x + x4)
        x = self.m_up2(x + x3)
        x = self.m_up1(x + x2)
        return self.m_tail(x + x1)


def test_kair_ffdnet_state_dict_loads_and_computes_the_same() -> None:
    torch.manual_seed(0)
    kair = KairFFDNet(in_nc=3, nc=8, nb=5).eval()
    ours = FFDNet(3, depth=5, base_channels=8, norm="none", bias=True)
    ours.load_state_dict(from_kair_ffdnet(kair.state_dict()), strict=True)
    ours.eval()
    for size in [(16, 12), (15, 11)]:  # odd sides: both replicate the bottom row / right column
        x = torch.rand(2, 3, *size)
        sigma = torch.tensor([15.0, 50.0]).view(2, 1, 1, 1) / 255
        torch.testing.assert_close(ours(x, sigma), kair(x, sigma))
    # Round trip: ours -> KAIR's names -> a KAIR module -> back, strict both ways.
    kair.load_state_dict(to_kair_ffdnet(ours.state_dict()), strict=True)
    back = from_kair_ffdnet(to_kair_ffdnet(ours.state_dict()))
    assert back.keys() == ours.state_dict().keys()
    assert all(torch.equal(back[k], v) for k, v in ours.state_dict().items())


def test_kair_drunet_state_dict_loads_and_computes_the_same() -> None:
    torch.manual_seed(0)
    kair = KairUNetRes(in_nc=2, out_nc=1, nc=[4, 8, 12, 16], nb=2).eval()
    ours = DRUNet(1, base_channels=4, channel_multipliers=[1, 2, 3, 4], num_blocks=2, bias=False)
    ours.load_state_dict(from_kair_drunet(kair.state_dict()), strict=True)
    ours.eval()
    sigma = torch.tensor([15.0, 50.0]).view(2, 1, 1, 1) / 255
    for height, width in [(24, 16), (21, 13)]:
        x = torch.rand(2, 1, height, width)
        # DPIR: the map after the image channels, replicated to a multiple of 8, cropped back.
        padded = nn.ReplicationPad2d((0, -width % 8, 0, -height % 8))(
            torch.cat([x, sigma.repeat(1, 1, height, width)], dim=1)
        )
        expected = kair(padded)[..., :height, :width]
        torch.testing.assert_close(ours(x, sigma), expected)
    kair.load_state_dict(to_kair_drunet(ours.state_dict()), strict=True)
    back = from_kair_drunet(to_kair_drunet(ours.state_dict()))
    assert back.keys() == ours.state_dict().keys()
    with pytest.raises(ValueError, match="starts with none of"):
        from_kair_drunet({"model.0.weight": torch.zeros(1)})


# ---------------------------------------------------------------- cost
def test_macs_per_pixel_counts_the_convolutions() -> None:
    dncnn = DnCNN(1, depth=5, base_channels=8)
    # Full resolution: sum of k*k*C_in*C_out over the convs.
    assert macs_per_pixel(dncnn, 1) == 9 * (1 * 8 + 3 * 8 * 8 + 8 * 1)
    ffdnet = FFDNet(1, depth=5, base_channels=8, norm="batch")
    # Half resolution, (4C + 1) channels in, 4C out: a quarter of the work per output pixel.
    assert macs_per_pixel(ffdnet, 1) == 9 * (5 * 8 + 3 * 8 * 8 + 8 * 4) / 4
    # Batch-norm statistics and modes are untouched by the counting forward.
    ffdnet.train()
    norm = next(m for m in ffdnet.modules() if isinstance(m, nn.BatchNorm2d))
    before = norm.running_mean.clone()
    macs_per_pixel(ffdnet, 1)
    assert torch.equal(norm.running_mean, before) and ffdnet.training and norm.training
    args = example_input(ffdnet, 3, size=32)
    assert args[0].shape == (1, 3, 32, 32) and args[1].shape == (1, 1, 32, 32)


def test_model_summary_counts_the_flops_of_the_example_input() -> None:
    net = FFDNet(1, depth=5, base_channels=8)
    module = _module(net, GaussianNoise(25))
    assert ModelSummary(module).total_flops == 0  # what "Total FLOPs: 0" was
    module.example_input_array = example_input(net, 1)
    assert ModelSummary(module).total_flops == 2 * macs_per_pixel(net, 1) * 64 * 64


def test_conditional_blind_training_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # Through the real job: a blind range drawn log-uniformly, the per-level validation loop,
    # the statistics in metrics.json and the configured model summary, which counts FLOPs.
    target = OmegaConf.load(CONF / "callbacks" / "model_summary.yaml").model_summary._target_
    summary = f"callbacks.model_summary={{_target_:{target}}}"
    import rich

    # Rich's global console keeps the stdout of the first test that printed through it; a fresh
    # one writes where capsys reads, whatever ran before.
    rich._console = None
    result = run_train(tmp_path, [
            "model=ffdnet", "model.depth=4", "model.base_channels=8", "noise.sigma=[5,55]",
            "noise.distribution=log_uniform", "debug=fdr", summary,
        ])
    assert result["status"] == "completed"
    for level in (15, 25, 50):
        assert 0 < result[f"val/psnr_sigma{level}"] < 100
    expected = macs_per_pixel(FFDNet(1, depth=4, base_channels=8), 1)
    assert result["macs_per_pixel"] == pytest.approx(expected, abs=0.1)
    (flops,) = [line for line in capsys.readouterr().out.splitlines() if "Total FLOPs" in line]
    assert flops.split(":")[-1].strip() not in ("0", "")
