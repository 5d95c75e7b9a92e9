"""NAFNet: a nonlinear-activation-free U-Net of gated blocks (Chen et al., ECCV 2022)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from restorelab.models.conditioning import noise_level_map
from restorelab.models.layers import LayerNorm2d, crop, pad_to_multiple


def simple_gate(x: Tensor) -> Tensor:
    """NAFNet's replacement for an activation: split the channels in two halves, multiply."""
    first, second = x.chunk(2, dim=1)
    return first * second  # (B, C/2, H, W)


class NAFBlock(nn.Module):
    """LayerNorm, 1x1 conv to 2C, 3x3 depthwise conv, simple gate, simplified channel attention
    (a 1x1 conv of the image mean), 1x1 conv back, added with a learned per-channel scale `beta`;
    then a gated feed-forward (LayerNorm, 1x1 to 2C, gate, 1x1) scaled by `gamma`. Both scales
    start at 0, so every block starts as the identity (the paper's initialisation)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = 2 * channels  # the paper's expansion 2 for both halves
        self.norm1 = LayerNorm2d(channels)
        self.conv1 = nn.Conv2d(channels, hidden, 1)
        self.conv2 = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.attention = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(hidden // 2, hidden // 2, 1)
        )
        self.conv3 = nn.Conv2d(hidden // 2, channels, 1)
        self.norm2 = LayerNorm2d(channels)
        self.conv4 = nn.Conv2d(channels, hidden, 1)
        self.conv5 = nn.Conv2d(hidden // 2, channels, 1)
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        h = simple_gate(self.conv2(self.conv1(self.norm1(x))))  # (B, C, H, W)
        h = h * self.attention(h)  # (B, C, H, W): channels weighted by the whole image's mean
        y = x + self.conv3(h) * self.beta  # (B, C, H, W)
        h = simple_gate(self.conv4(self.norm2(y)))  # (B, C, H, W)
        return y + self.conv5(h) * self.gamma  # (B, C, H, W)


class NAFNet(nn.Module):
    """NAFNet: 3x3 conv in, `len(encoder_blocks)` levels of NAF blocks then a 2x2 stride-2 conv
    doubling the width, `middle_blocks` at the bottom, then per level a 1x1 conv + pixel-shuffle
    up, the encoder's output added, NAF blocks; a 3x3 conv out, added to the input.

    Channel attention pools over the whole image, so the receptive field is the whole image.
    `noise_map=True` appends the noise-level map as an input channel and makes it conditional,
    `net(x, sigma)` (see `restorelab.models.conditioning`). The paper's SIDD net: base_channels
    32, encoder_blocks [2, 2, 4, 8], middle_blocks 12, decoder_blocks [2, 2, 2, 2].
    """

    receptive_field = None  # the channel attention's global mean: every pixel reads them all

    def __init__(
        self,
        in_channels: int,
        base_channels: int = 16,
        encoder_blocks: Sequence[int] = (1, 1, 2),
        middle_blocks: int = 2,
        decoder_blocks: Sequence[int] = (1, 1, 1),
        noise_map: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels  # the image channels (not the noise map)
        encoder_blocks, decoder_blocks = list(encoder_blocks), list(decoder_blocks)
        if in_channels < 1 or base_channels < 1:
            raise ValueError("in_channels and base_channels must be >= 1")
        if len(encoder_blocks) != len(decoder_blocks):
            raise ValueError(
                f"encoder_blocks={encoder_blocks} and decoder_blocks={decoder_blocks} are not "
                "supported; allowed: two lists of the same length (one entry per level)"
            )
        if any(n < 0 for n in encoder_blocks + decoder_blocks) or middle_blocks < 0:
            raise ValueError("encoder_blocks, middle_blocks and decoder_blocks must be >= 0")
        self.takes_noise_level = noise_map
        self.depth = len(encoder_blocks)
        self.intro = nn.Conv2d(in_channels + int(noise_map), base_channels, 3, padding=1)
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        width = base_channels
        for count in encoder_blocks:
            self.encoders.append(nn.Sequential(*(NAFBlock(width) for _ in range(count))))
            self.downs.append(nn.Conv2d(width, 2 * width, 2, stride=2))
            width *= 2
        self.middle = nn.Sequential(*(NAFBlock(width) for _ in range(middle_blocks)))
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for count in decoder_blocks:
            self.ups.append(
                nn.Sequential(nn.Conv2d(width, 2 * width, 1, bias=False), nn.PixelShuffle(2))
            )
            width //= 2
            self.decoders.append(nn.Sequential(*(NAFBlock(width) for _ in range(count))))
        self.ending = nn.Conv2d(base_channels, in_channels, 3, padding=1)

    def forward(self, x: Tensor, sigma: Tensor | None = None) -> Tensor:
        h = x
        if self.takes_noise_level:
            h = torch.cat([x, noise_level_map(x, sigma, "NAFNet")], dim=1)  # (B, C + 1, H, W)
        elif sigma is not None:
            raise ValueError("this NAFNet was built with noise_map=False: call it as net(x)")
        h, pads = pad_to_multiple(h, 2**self.depth)  # (B, C (+ 1), H', W')
        h = self.intro(h)  # (B, width, H', W')
        skips = []
        for encoder, down in zip(self.encoders, self.downs):
            h = encoder(h)  # (B, w, H' / 2**level, W' / 2**level)
            skips.append(h)
            h = down(h)  # (B, 2w, H' / 2**(level + 1), ...)
        h = self.middle(h)  # (B, width * 2**depth, H' / 2**depth, W' / 2**depth)
        for up, decoder, skip in zip(self.ups, self.decoders, reversed(skips)):
            h = decoder(up(h) + skip)  # (B, w, 2x H, 2x W)
        h = crop(self.ending(h), pads)  # (B, C, H, W)
        return x + h
