"""Reconstruction losses beyond torch.nn's, selectable with `loss=<name>`."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


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
