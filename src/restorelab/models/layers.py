"""Building blocks shared by the model families: layer factories, the output head, padding to a
multiple of the downsampling factor, and receptive-field arithmetic."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

NORMS = ("none", "batch", "group", "instance", "bias_free_batch")
ACTIVATIONS = ("relu", "leaky_relu", "gelu", "silu")
OUTPUTS = ("sigmoid", "identity", "clamp")
KERNEL_SIZES = (3, 5, 7)

# An inclusive range of pixel positions along one axis.
Span = tuple[int, int]


def check_choice(name: str, value: object, allowed: Sequence[object]) -> None:
    """Raise ValueError naming the allowed values when `value` is not one of them."""
    if value not in allowed:
        choices = ", ".join(repr(choice) for choice in allowed)
        raise ValueError(f"{name}={value!r} is not supported; allowed: {choices}")


def check_residual(residual: bool, output: str) -> None:
    """Reject residual learning under a sigmoid head, which would squash the input passed on."""
    # sigmoid(x + 0) != x, so the zero correction no longer means "keep the input": the net would
    # have to learn a logit instead of a correction, which defeats residual learning.
    if residual and output == "sigmoid":
        raise ValueError("residual=True needs output 'identity' or 'clamp', not 'sigmoid'")


def make_norm(norm: str, channels: int, eps: float = 1e-5) -> nn.Module:
    """Normalization layer: 'none', 'batch', 'group', 'instance' or 'bias_free_batch'
    (`BiasFreeBatchNorm2d`); `eps` is added to the variance (PyTorch's default 1e-5; published
    weights may need theirs, e.g. DnCNN's 1e-4)."""
    check_choice("norm", norm, NORMS)
    if norm == "batch":
        return nn.BatchNorm2d(channels, eps=eps)
    if norm == "bias_free_batch":
        return BiasFreeBatchNorm2d(channels, eps=eps)
    if norm == "group":
        # Up to 8 groups: the widths here are small (4 to 256), and 32 groups (Wu & He) would
        # degenerate into instance norm below 64 channels. Odd widths get one group.
        return nn.GroupNorm(math.gcd(channels, 8), channels, eps=eps)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, eps=eps, affine=True)
    return nn.Identity()


class BiasFreeBatchNorm2d(nn.Module):
    """Batch norm without additive terms, as in BF-CNN (Mohan et al., ICLR 2020): each channel is
    divided by its standard deviation (the batch's in training, a running estimate in eval) and
    multiplied by a learned gain. No mean is subtracted and no bias added, so in eval mode it is
    linear, and a net without biases built from it is scale-equivariant: net(a x) = a net(x)."""

    def __init__(self, channels: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            # The spread about the mean, as BF-CNN's code computes it: only subtracting the mean
            # from the output is dropped. float32: bf16 sums of squares lose the small channels.
            var = x.float().var(dim=(0, 2, 3), unbiased=False)  # (C,)
            with torch.no_grad():
                count = x.numel() // x.shape[1]
                unbiased = var * count / max(count - 1, 1)  # as nn.BatchNorm2d tracks it
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), self.momentum)
        else:
            var = self.running_var
        scale = self.weight * torch.rsqrt(var + self.eps)  # (C,)
        return x * scale.view(1, -1, 1, 1).to(x.dtype)  # (B, C, H, W)


class LayerNorm2d(nn.Module):
    """Layer norm over the channels of each pixel of a `[B, C, H, W]` map (NAFNet, Restormer),
    with a learned gain per channel. bias=False is Restormer's 'BiasFree' variant: it divides by
    the standard deviation but neither subtracts the mean nor adds a bias."""

    def __init__(self, channels: int, bias: bool = True, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        h = x.float()  # statistics in float32 under autocast
        mean = h.mean(dim=1, keepdim=True)  # (B, 1, H, W)
        var = (h - mean).square().mean(dim=1, keepdim=True)  # (B, 1, H, W)
        if self.bias is not None:
            h = h - mean
        h = h * torch.rsqrt(var + self.eps) * self.weight.view(1, -1, 1, 1)
        if self.bias is not None:
            h = h + self.bias.view(1, -1, 1, 1)
        return h.to(x.dtype)  # (B, C, H, W)


def make_activation(activation: str) -> nn.Module:
    """Activation layer: 'relu', 'leaky_relu' (slope 0.2), 'gelu' or 'silu'."""
    check_choice("activation", activation, ACTIVATIONS)
    if activation == "relu":
        return nn.ReLU()
    if activation == "leaky_relu":
        # 0.2 as in the autoencoder write-ups (Keras); PyTorch's 0.01 is barely not a ReLU.
        return nn.LeakyReLU(0.2)
    if activation == "gelu":
        return nn.GELU()
    return nn.SiLU()


class Clamp(nn.Module):
    """Clamp to the image range [0, 1] (zero gradient outside it)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.clamp(0.0, 1.0)


def make_output(output: str) -> nn.Module:
    """Output head: 'sigmoid', 'identity' or 'clamp' to [0, 1]."""
    check_choice("output", output, OUTPUTS)
    if output == "sigmoid":
        return nn.Sigmoid()
    if output == "clamp":
        return Clamp()
    return nn.Identity()


def check_kernel_size(kernel_size: int) -> None:
    """Odd kernels only, so that 'same' padding keeps every feature map centred on its input."""
    check_choice("kernel_size", kernel_size, KERNEL_SIZES)


def pad_to_multiple(x: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int, int, int]]:
    """Pad H and W up to a multiple, splitting the extra pixels between both sides.

    Returns the padded tensor and the (left, right, top, bottom) pads that `crop` undoes.
    """
    height, width = x.shape[-2:]
    extra_h, extra_w = -height % multiple, -width % multiple
    pads = (extra_w // 2, extra_w - extra_w // 2, extra_h // 2, extra_h - extra_h // 2)
    if not any(pads):
        return x, pads
    # Reflect keeps the border's statistics; it needs each pad shorter than the side it mirrors,
    # so tiny images (a 5x7 crop under depth 4) fall back to replicate.
    fits = max(pads[:2]) < width and max(pads[2:]) < height
    return F.pad(x, pads, mode="reflect" if fits else "replicate"), pads


def pad_bottom_right(x: Tensor, multiple: int) -> Tensor:
    """Pad H and W up to a multiple by replicating the bottom rows and right columns, as KAIR and
    DPIR do before FFDNet and DRUNet; `x[..., :H, :W]` undoes it. Nets that load KAIR's weights
    pad this way so that they compute exactly what the published code computes."""
    height, width = x.shape[-2:]
    return F.pad(x, (0, -width % multiple, 0, -height % multiple), mode="replicate")


def crop(x: Tensor, pads: tuple[int, int, int, int]) -> Tensor:
    """Undo `pad_to_multiple`."""
    left, right, top, bottom = pads
    return x[..., top : x.shape[-2] - bottom, left : x.shape[-1] - right]


# Receptive-field arithmetic. Each function maps a span of output positions of one layer to the
# span of its input positions they read, on an unbounded axis (borders ignored). Folding a span
# back through a network, taking the union where paths merge, gives the exact set of input pixels
# an output pixel depends on: its receptive field.


def conv_span(span: Span, kernel_size: int, stride: int = 1, padding: int = 0) -> Span:
    """Input span read by a convolution (or pooling) window."""
    low, high = span
    return low * stride - padding, high * stride - padding + kernel_size - 1


def transposed_conv_span(span: Span, kernel_size: int, stride: int = 1, padding: int = 0) -> Span:
    """Input span read by a transposed convolution."""
    low, high = span
    # Input i writes to outputs i * stride - padding + t for taps t in [0, kernel_size).
    return -(-(low + padding - kernel_size + 1) // stride), (high + padding) // stride


def bilinear_upsample_span(span: Span) -> Span:
    """Input span read by a 2x bilinear upsampling with align_corners=False."""
    low, high = span
    # Output o samples input (o - 1) / 2 + 1/4, between pixels floor((o - 1) / 2) and the next.
    return (low - 1) // 2, (high - 1) // 2 + 1


def union(*spans: Span) -> Span:
    """Smallest span covering all; the paths of a network overlap, so this is their union."""
    return min(low for low, _ in spans), max(high for _, high in spans)


def span_width(span: Span) -> int:
    """Number of pixels in a span."""
    return span[1] - span[0] + 1


def rename_prefixes(state: Mapping[str, Tensor], prefixes: Mapping[str, str]) -> dict[str, Tensor]:
    """A state dict with each key's leading `old` prefix replaced by `prefixes[old]`: how a
    published layout's names map onto ours. A key that matches no prefix is a ValueError, so a
    file of another layout fails here rather than half-loading."""
    renamed = {}
    for key, value in state.items():
        old = next((p for p in prefixes if key.startswith(p)), None)
        if old is None:
            raise ValueError(f"key {key!r} starts with none of {sorted(prefixes)}")
        renamed[prefixes[old] + key[len(old) :]] = value
    return renamed
