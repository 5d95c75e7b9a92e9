"""FFDNet: a fast, flexible denoiser fed the noise level (Zhang, Zuo and Zhang, IEEE TIP 2018)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restorelab.models.conditioning import noise_level_map
from restorelab.models.layers import (
    check_choice,
    check_kernel_size,
    conv_span,
    make_norm,
    pad_bottom_right,
    rename_prefixes,
    span_width,
)

FFDNET_NORMS = ("none", "batch", "bias_free_batch")
# KAIR (cszn/KAIR, models/network_ffdnet.py) keeps the conv stack in one nn.Sequential `model`.
KAIR_FFDNET_PREFIXES = {"model.": "layers."}


class FFDNet(nn.Module):
    """FFDNet: pixel-unshuffle the image by 2 (C -> 4C channels at half resolution), append the
    noise-level map (pooled to that resolution) as one more channel, run `depth` convolutions
    with ReLU there (norm in the middle ones), and pixel-shuffle back. Called `net(x, sigma)`,
    see `restorelab.models.conditioning`.

    Working at half resolution makes it about 4x cheaper per pixel than DnCNN of the same width
    and depth, with twice its receptive field. The paper predicts the clean image (residual
    False); `bias=False` with norm 'none' or 'bias_free_batch' is the bias-free variant of Mohan
    et al. (2020): then net(a x, a sigma) = a net(x, sigma) for a > 0 in eval mode.
    """

    takes_noise_level = True

    def __init__(
        self,
        in_channels: int,
        depth: int = 15,
        base_channels: int = 64,
        kernel_size: int = 3,
        norm: str = "batch",
        bias: bool = True,
        residual: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels  # the image channels (not the noise map)
        if in_channels < 1 or base_channels < 1:
            raise ValueError("in_channels and base_channels must be >= 1")
        if depth < 2:
            raise ValueError(f"depth={depth} is not supported; allowed: an integer >= 2")
        check_kernel_size(kernel_size)
        check_choice("norm", norm, FFDNET_NORMS)
        if not bias and norm == "batch":
            raise ValueError(
                "bias=False needs norm 'none' or 'bias_free_batch': batch norm subtracts a mean "
                "and adds a bias"
            )
        self.depth = depth
        self.kernel_size = kernel_size
        self.residual = residual
        padding = kernel_size // 2
        # The layer indices follow KAIR's `model` Sequential (conv, ReLU, [conv, norm, ReLU]...,
        # conv), which is what `from_kair_ffdnet` relies on; norm 'none' adds no layer.
        layers: list[nn.Module] = [
            nn.Conv2d(4 * in_channels + 1, base_channels, kernel_size, padding=padding, bias=bias),
            nn.ReLU(),
        ]
        for _ in range(depth - 2):
            # A bias right before batch norm is cancelled by its mean subtraction.
            layers.append(
                nn.Conv2d(
                    base_channels,
                    base_channels,
                    kernel_size,
                    padding=padding,
                    bias=bias and norm != "batch",
                )
            )
            if norm != "none":
                layers.append(make_norm(norm, base_channels))
            layers.append(nn.ReLU())
        layers.append(
            nn.Conv2d(base_channels, 4 * in_channels, kernel_size, padding=padding, bias=bias)
        )
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor, sigma: Tensor | None = None) -> Tensor:
        height, width = x.shape[-2:]
        level = noise_level_map(x, sigma, "FFDNet")  # (B, 1, H, W)
        padded = pad_bottom_right(torch.cat([x, level], dim=1), 2)  # (B, C + 1, H', W'), even
        image, level = padded[:, :-1], padded[:, -1:]
        h = F.pixel_unshuffle(image, 2)  # (B, 4C, H'/2, W'/2)
        # The mean over each 2x2 block: a constant map stays itself, a varying one is averaged.
        level = F.avg_pool2d(level, 2)  # (B, 1, H'/2, W'/2)
        h = self.layers(torch.cat([h, level], dim=1))  # (B, 4C, H'/2, W'/2)
        h = F.pixel_shuffle(h, 2)[..., :height, :width]  # (B, C, H, W)
        if self.residual:
            h = x - h  # the layers predicted the noise
        return h

    @property
    def receptive_field(self) -> int:
        """Input pixels along one axis that one output pixel depends on: its 2x2 block's field at
        half resolution, depth * (k - 1) + 1 positions, each reading 2 input pixels."""
        span = (0, 0)  # the half-resolution position the output pixel is shuffled out of
        for _ in range(self.depth):
            span = conv_span(span, self.kernel_size, padding=self.kernel_size // 2)
        span = conv_span(span, kernel_size=2, stride=2)  # the pixel-unshuffle's 2x2 blocks
        return span_width(span)


def from_kair_ffdnet(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """KAIR's FFDNet state dict (`model.<i>.weight` / `.bias`) as this class's (`layers.<i>`).

    KAIR's released files (ffdnet_gray.pth: depth 15, width 64; ffdnet_color.pth: depth 12,
    width 96) were built with act_mode 'R', no batch norm, biases on: load them into
    `FFDNet(in_channels, depth, base_channels, norm='none', bias=True, residual=False)`. The
    inputs match: KAIR unshuffles in the same channel order, appends sigma / 255 as the last
    channel and pads odd sides with one replicated row or column at the bottom or right, as
    here. Tested against a copy of KAIR's published module layout and
    forward, not against the released files, which this project does not have.
    """
    return rename_prefixes(state, KAIR_FFDNET_PREFIXES)


def to_kair_ffdnet(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The inverse of `from_kair_ffdnet`: this class's state dict under KAIR's key names."""
    return rename_prefixes(state, {ours: kair for kair, ours in KAIR_FFDNET_PREFIXES.items()})
