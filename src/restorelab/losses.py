"""Reconstruction losses beyond torch.nn's, selectable with `loss=<name>`."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics.functional.image import structural_similarity_index_measure


class CharbonnierLoss(nn.Module):
    """Mean of sqrt((x - y)^2 + eps^2): a smooth L1 that keeps a gradient near zero error."""

    def __init__(self, eps: float = 1e-3) -> None:
        super().__init__()
        if eps <= 0:
            raise ValueError(f"eps must be positive, got {eps}")
        self.eps = eps

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return torch.sqrt((input - target).square() + self.eps**2).mean()


class BinaryCrossEntropyLoss(nn.Module):
    """Binary cross-entropy between intensities in [0, 1], treating each pixel as a probability.

    The prediction is clamped to [eps, 1 - eps] so a saturated sigmoid never yields log(0), and the
    loss runs in float32 outside autocast, where half-precision BCE is unsafe.
    """

    def __init__(self, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        with torch.autocast(device_type=input.device.type, enabled=False):
            prediction = input.float().clamp(self.eps, 1.0 - self.eps)
            return F.binary_cross_entropy(prediction, target.float().clamp(0.0, 1.0))


class MaskedMSELoss(nn.Module):
    """MSE with the damaged pixels (the corruption's mask) weighted `damaged_weight` times.

    For occlusions and flipped pixels, where the intact pixels are easy and the damaged ones are
    the task. The weights are normalized so the loss keeps the scale of a plain MSE; without a
    mask (Gaussian noise, paired data) it is exactly the MSE.
    """

    def __init__(self, damaged_weight: float = 5.0) -> None:
        super().__init__()
        if damaged_weight <= 0:
            raise ValueError(f"damaged_weight must be positive, got {damaged_weight}")
        self.damaged_weight = damaged_weight

    def forward(self, input: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        squared = (input - target).square()
        if mask is None:
            return squared.mean()
        weights = 1.0 + (self.damaged_weight - 1.0) * mask.expand_as(squared).to(squared.dtype)
        return (weights * squared).sum() / weights.sum()


class SSIMLoss(nn.Module):
    """1 - SSIM (torchmetrics' functional SSIM, data_range 1, Gaussian window), optionally mixed
    with L1 as `(1 - l1_weight) * (1 - SSIM) + l1_weight * L1`.

    SSIM compares local means, contrasts and structure rather than single pixels, so it cares
    about edges (text strokes) more than about flat areas. It is blind to a uniform shift of dark
    regions, which is why Zhao et al. (2017, "Loss Functions for Image Restoration with Neural
    Networks") mix it with L1 (their best mix: 0.84 MS-SSIM + 0.16 Gaussian-weighted L1; this is
    single-scale SSIM with a plain L1). The loss runs in float32 outside autocast: the variances
    inside SSIM lose too much in half precision.
    """

    def __init__(self, l1_weight: float = 0.0, kernel_size: int = 11, sigma: float = 1.5) -> None:
        super().__init__()
        if not 0.0 <= l1_weight <= 1.0:
            raise ValueError(f"l1_weight must be in [0, 1], got {l1_weight}")
        if kernel_size < 3 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be an odd integer >= 3, got {kernel_size}")
        if sigma <= 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        self.l1_weight = l1_weight
        self.kernel_size = kernel_size
        self.sigma = sigma

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        if input.shape != target.shape or input.ndim != 4:
            raise ValueError(
                f"SSIMLoss needs two [B, C, H, W] batches of one shape, got {tuple(input.shape)} "
                f"and {tuple(target.shape)}"
            )
        # The window is reflect-padded by half its size, which needs more pixels than that.
        if min(input.shape[-2:]) <= self.kernel_size // 2:
            raise ValueError(
                f"images of {input.shape[-2]}x{input.shape[-1]} are too small for an SSIM window "
                f"of {self.kernel_size}: lower loss.kernel_size"
            )
        with torch.autocast(device_type=input.device.type, enabled=False):
            prediction, reference = input.float(), target.float()
            ssim = structural_similarity_index_measure(
                prediction, reference, gaussian_kernel=True, sigma=self.sigma,
                kernel_size=self.kernel_size, data_range=1.0,
            )
            loss = 1.0 - ssim
            if self.l1_weight > 0:
                loss = (1.0 - self.l1_weight) * loss + self.l1_weight * F.l1_loss(
                    prediction, reference
                )
            return loss
