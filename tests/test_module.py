"""DenoisingModule's contract, checked with nets whose output is known exactly."""

from __future__ import annotations

import math
from functools import partial

import lightning as L
import pytest
import torch
from conftest import CleanImages, eval_trainer
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from restorelab.corruptions import GaussianNoise, Identity, Occlusion
from restorelab.losses import BinaryCrossEntropyLoss, CharbonnierLoss, MaskedMSELoss, SSIMLoss
from restorelab.module import DenoisingModule


class PassThrough(nn.Module):
    """Returns its input: the 'noisy input' method, with one parameter for the optimizer."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


def _module(corruption: nn.Module) -> DenoisingModule:
    return DenoisingModule(
        net=PassThrough(), corruption=corruption, loss=nn.MSELoss(),
        optimizer=partial(torch.optim.SGD, lr=0.0),
    )




def _expected_psnr(sigma: float) -> float:
    # Mid-gray images, clamping barely matters: PSNR of AWGN is -10 log10((sigma/255)^2).
    return -10 * math.log10((sigma / 255) ** 2)


def test_validation_scores_the_same_noise_every_epoch() -> None:
    images = torch.full((16, 1, 48, 48), 0.5)
    module = _module(GaussianNoise(sigma=25))
    first = eval_trainer().validate(module, datamodule=CleanImages(images), verbose=False)[0]
    second = eval_trainer().validate(module, datamodule=CleanImages(images), verbose=False)[0]
    assert first == second
    # The pass-through net's PSNR is the noisy input's, at the requested sigma.
    assert first["val/psnr"] == pytest.approx(first["val/psnr_noisy"], abs=1e-4)
    assert first["val/psnr"] == pytest.approx(_expected_psnr(25), abs=0.1)


def test_blind_noise_is_also_scored_at_fixed_levels() -> None:
    images = torch.full((16, 1, 48, 48), 0.5)
    module = _module(GaussianNoise(sigma=[5, 55]))
    metrics = eval_trainer().validate(module, datamodule=CleanImages(images), verbose=False)[0]
    for sigma in (15, 25, 50):
        assert metrics[f"val/psnr_sigma{sigma}"] == pytest.approx(_expected_psnr(sigma), abs=0.1)
    # A blind recipe selects on the mean over the fixed levels.
    mean = sum(metrics[f"val/psnr_sigma{sigma}"] for sigma in (15, 25, 50)) / 3
    assert metrics["val/psnr_levels"] == pytest.approx(mean, abs=1e-4)


def test_fixed_noise_has_no_level_mean() -> None:
    images = torch.full((8, 1, 32, 32), 0.5)
    metrics = eval_trainer().validate(_module(GaussianNoise(sigma=25)),
                                  datamodule=CleanImages(images), verbose=False)[0]
    assert "val/psnr_levels" not in metrics


def test_test_metrics_include_the_noisy_baseline() -> None:
    images = torch.rand(8, 3, 32, 32) * 0.6 + 0.2
    module = _module(GaussianNoise(sigma=15))
    metrics = eval_trainer().test(module, datamodule=CleanImages(images), verbose=False)[0]
    assert set(metrics) >= {"test/psnr", "test/ssim", "test/psnr_noisy", "test/ssim_noisy"}
    assert metrics["test/psnr"] == pytest.approx(metrics["test/psnr_noisy"], abs=1e-4)
    assert 0 < metrics["test/ssim"] < 1


def test_paired_batches_skip_the_corruption() -> None:
    clean = torch.rand(4, 1, 16, 16)
    noisy = clean + 0.1
    module = _module(GaussianNoise(sigma=50))
    pair = module._pair((noisy, clean), module.corruption, None)
    assert pair[0] is noisy and pair[1] is clean and pair[2] is None
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        module._pair(torch.rand(1, 16, 16), module.corruption, None)


def test_training_noise_is_fresh_and_input_untouched() -> None:
    clean = torch.full((2, 1, 16, 16), 0.5)
    module = _module(GaussianNoise(sigma=25))
    first, _, _, _ = module._pair(clean, module.corruption, None)
    second, _, _, _ = module._pair(clean, module.corruption, None)
    assert not torch.equal(first, second)
    assert torch.equal(clean, torch.full((2, 1, 16, 16), 0.5))


def test_identity_corruption_gives_infinite_noisy_psnr() -> None:
    images = torch.rand(8, 1, 32, 32)
    module = _module(Identity())
    metrics = eval_trainer().validate(module, datamodule=CleanImages(images), verbose=False)[0]
    assert math.isinf(metrics["val/psnr_noisy"])


def test_losses() -> None:
    x, y = torch.full((2, 1, 4, 4), 0.3), torch.full((2, 1, 4, 4), 0.7)
    assert CharbonnierLoss(eps=1e-6)(x, y).item() == pytest.approx(0.4, abs=1e-5)
    expected = -(0.7 * math.log(0.3) + 0.3 * math.log(0.7))
    assert BinaryCrossEntropyLoss()(x, y).item() == pytest.approx(expected, rel=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert BinaryCrossEntropyLoss()(x.bfloat16(), y.bfloat16()).dtype == torch.float32
    with pytest.raises(ValueError, match="eps"):
        CharbonnierLoss(eps=0)


def test_ssim_loss_is_zero_for_identical_images_and_grows_with_damage() -> None:
    generator = torch.Generator().manual_seed(0)
    clean = torch.rand(2, 1, 32, 32, generator=generator)
    noise = torch.randn(2, 1, 32, 32, generator=generator)
    loss = SSIMLoss()
    assert loss(clean, clean).item() == pytest.approx(0.0, abs=1e-6)
    values = [loss((clean + s * noise).clamp(0, 1), clean).item() for s in (0.02, 0.1, 0.3)]
    assert 0 < values[0] < values[1] < values[2] <= 2
    # The L1 mix: exactly (1 - w) * (1 - SSIM) + w * L1.
    noisy = (clean + 0.1 * noise).clamp(0, 1)
    l1 = (noisy - clean).abs().mean().item()
    mixed = SSIMLoss(l1_weight=0.16)(noisy, clean).item()
    assert mixed == pytest.approx(0.84 * values[1] + 0.16 * l1, rel=1e-5)
    # SSIM weighs structure over intensity: a uniform brightening costs it far less than noise
    # with the same mean absolute error (L1 would score the two alike).
    dim = 0.8 * clean  # room above, so the brightening is not clipped
    noisy_dim = (dim + 0.1 * noise).clamp(0, 1)
    brightened = dim + (noisy_dim - dim).abs().mean()
    assert loss(brightened, dim).item() < 0.5 * loss(noisy_dim, dim).item()


def test_ssim_loss_trains_through_the_module_and_checks_its_inputs() -> None:
    image = torch.rand(1, 1, 24, 24, requires_grad=True)
    loss = SSIMLoss(l1_weight=0.5)(image, torch.rand(1, 1, 24, 24))
    loss.backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert SSIMLoss()(image.bfloat16(), image.detach().bfloat16()).dtype == torch.float32
    # The module calls it as loss(restored, clean), without the corruption's mask.
    module = DenoisingModule(
        net=PassThrough(), corruption=Occlusion(count=1, size=6, fill="zeros"), loss=SSIMLoss(),
        optimizer=partial(torch.optim.SGD, lr=0.0),
    )
    assert not module._loss_takes_mask
    noisy, clean, mask, _ = module._pair(torch.rand(4, 1, 16, 16), module.corruption, None)
    assert mask is not None
    module._loss(module(noisy), clean, mask).backward()
    assert module.net.scale.grad is not None and module.net.scale.grad.abs() > 0
    with pytest.raises(ValueError, match="too small"):
        SSIMLoss()(torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 4))
    with pytest.raises(ValueError, match="l1_weight"):
        SSIMLoss(l1_weight=1.5)
    with pytest.raises(ValueError, match="kernel_size"):
        SSIMLoss(kernel_size=4)


def test_damaged_pixels_are_scored_and_weighted_through_the_mask() -> None:
    images = torch.full((8, 1, 32, 32), 0.5)
    module = _module(Occlusion(count=1, size=8, fill="zeros"))
    metrics = eval_trainer().validate(module, datamodule=CleanImages(images), verbose=False)[0]
    # The pass-through net leaves the zero-filled squares: error 0.5 on every damaged pixel.
    assert metrics["val/psnr_damaged"] == pytest.approx(-10 * math.log10(0.25), abs=1e-3)
    assert metrics["val/psnr_damaged"] < metrics["val/psnr"]

    loss = MaskedMSELoss(damaged_weight=3.0)
    x, y = torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)
    x[..., 0, 0] = 1.0  # one intact pixel right, three wrong
    mask = torch.zeros(1, 1, 2, 2, dtype=torch.bool)
    mask[..., 1, 1] = True  # one of the wrong pixels is marked damaged
    assert loss(x, y).item() == pytest.approx(0.75)
    assert loss(x, y, mask=mask).item() == pytest.approx((1 + 1 + 3) / (1 + 1 + 1 + 3))
