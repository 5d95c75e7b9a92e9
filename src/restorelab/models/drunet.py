"""DRUNet: DPIR's bias-free residual U-Net, fed a noise-level map (Zhang et al., TPAMI 2021)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from restorelab.models.conditioning import noise_level_map
from restorelab.models.layers import (
    Span,
    conv_span,
    pad_bottom_right,
    rename_prefixes,
    span_width,
    transposed_conv_span,
    union,
)


def kair_drunet_prefixes(num_scales: int) -> dict[str, str]:
    """KAIR's names (cszn/KAIR, models/network_unet.py `UNetRes`) -> ours, for `num_scales`
    scales: m_head, m_down1.., m_body, m_up1.. (m_up1 is the shallowest), m_tail."""
    prefixes = {"m_head.": "head.", "m_body.": "body.", "m_tail.": "tail."}
    for level in range(num_scales - 1):
        prefixes[f"m_down{level + 1}."] = f"downs.{level}."
        prefixes[f"m_up{level + 1}."] = f"ups.{level}."
    return prefixes


class ResBlock(nn.Module):
    """x + conv(ReLU(conv(x))), 3x3 convolutions; `res` has KAIR's layout (res.0, res.2)."""

    def __init__(self, channels: int, bias: bool) -> None:
        super().__init__()
        self.res = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=bias),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1, bias=bias),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.res(x)  # (B, C, H, W)


def _blocks_span(span: Span, num_blocks: int) -> Span:
    # A residual block reads its input directly and through two 3x3 convs: the wider one wins.
    for _ in range(2 * num_blocks):
        span = conv_span(span, 3, padding=1)
    return span


class DRUNet(nn.Module):
    """DRUNet: a U-Net of residual blocks over `len(channel_multipliers)` scales, a 2x2
    stride-2 conv down and a 2x2 stride-2 transposed conv up between them, skips added (not
    concatenated), no normalization. Called `net(x, sigma)` (see
    `restorelab.models.conditioning`): the noise map is concatenated to the image as one more
    input channel. `noise_map=False` drops it: a blind DRUNet, called `net(x)`, for ablations.
    Any H, W: padded inside to a multiple of 2**(scales - 1) as DPIR pads, cropped back.

    The paper's net: base_channels 64, multipliers [1, 2, 4, 8], num_blocks 4, bias False
    (32.6M parameters at 1 channel). Without biases it is scale-equivariant:
    net(a x, a sigma) = a net(x, sigma) for a > 0.
    """

    def __init__(
        self,
        in_channels: int,
        base_channels: int = 32,
        channel_multipliers: Sequence[int] = (1, 2, 4, 8),
        num_blocks: int = 2,
        bias: bool = False,
        noise_map: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels  # the image channels (not the noise map)
        multipliers = list(channel_multipliers)  # Hydra passes a ListConfig
        if in_channels < 1 or base_channels < 1:
            raise ValueError("in_channels and base_channels must be >= 1")
        if not multipliers or any(m < 1 for m in multipliers):
            raise ValueError(
                f"channel_multipliers={multipliers} is not supported; allowed: one integer >= 1 "
                "per scale, e.g. [1, 2, 4, 8]"
            )
        if num_blocks < 1:
            raise ValueError(f"num_blocks={num_blocks} is not supported; allowed: an integer >= 1")
        self.takes_noise_level = noise_map
        self.num_blocks = num_blocks
        self.num_scales = len(multipliers)
        widths = [base_channels * m for m in multipliers]
        # Layout and order as KAIR's UNetRes, so `from_kair_drunet` is a renaming.
        self.head = nn.Conv2d(in_channels + int(noise_map), widths[0], 3, padding=1, bias=bias)
        self.downs = nn.ModuleList(
            nn.Sequential(
                *(ResBlock(width, bias) for _ in range(num_blocks)),
                nn.Conv2d(width, deeper, 2, stride=2, bias=bias),
            )
            for width, deeper in zip(widths[:-1], widths[1:])
        )
        self.body = nn.Sequential(*(ResBlock(widths[-1], bias) for _ in range(num_blocks)))
        # ups[level] maps scale level + 1 back to scale level.
        self.ups = nn.ModuleList(
            nn.Sequential(
                nn.ConvTranspose2d(deeper, width, 2, stride=2, bias=bias),
                *(ResBlock(width, bias) for _ in range(num_blocks)),
            )
            for width, deeper in zip(widths[:-1], widths[1:])
        )
        self.tail = nn.Conv2d(widths[0], in_channels, 3, padding=1, bias=bias)

    def forward(self, x: Tensor, sigma: Tensor | None = None) -> Tensor:
        height, width = x.shape[-2:]
        h = x
        if self.takes_noise_level:
            h = torch.cat([x, noise_level_map(x, sigma, "DRUNet")], dim=1)  # (B, C + 1, H, W)
        elif sigma is not None:
            raise ValueError("this DRUNet was built with noise_map=False: call it as net(x)")
        # Replicated at the bottom and right, as DPIR pads: the published weights compute the same.
        h = pad_bottom_right(h, 2 ** (self.num_scales - 1))  # (B, C (+ 1), H', W')
        skips = [self.head(h)]  # (B, widths[0], H', W')
        for down in self.downs:
            skips.append(down(skips[-1]))  # (B, widths[level + 1], H' / 2**(level + 1), ...)
        h = self.body(skips[-1])  # (B, widths[-1], H' / 2**(scales - 1), ...)
        for level in reversed(range(self.num_scales - 1)):
            h = self.ups[level](h + skips[level + 1])  # (B, widths[level], H' / 2**level, ...)
        h = self.tail(h + skips[0])  # (B, C, H', W')
        return h[..., :height, :width]  # (B, C, H, W)

    @property
    def receptive_field(self) -> int:
        """Input pixels along one axis that one output pixel depends on, the largest over the
        2**(scales - 1) output positions of a period and over the paths (skips, U)."""
        return max(
            span_width(self._sum_span(0, conv_span((position, position), 3, padding=1)))
            for position in range(2 ** (self.num_scales - 1))
        )

    def _sum_span(self, level: int, span: Span) -> Span:
        """Input span read by positions `span` of the sum entering scale `level` from below:
        the decoder's output there plus the skip (the tail's input at level 0)."""
        if level == self.num_scales - 1:
            decoded = _blocks_span(span, self.num_blocks)  # the body
            return self._skip_span(level, decoded)
        up = _blocks_span(span, self.num_blocks)
        up = transposed_conv_span(up, kernel_size=2, stride=2)
        return union(self._sum_span(level + 1, up), self._skip_span(level, span))

    def _skip_span(self, level: int, span: Span) -> Span:
        """Input span read by positions `span` of the encoder's output at scale `level`."""
        if level == 0:
            return conv_span(span, 3, padding=1)  # the head
        span = conv_span(span, kernel_size=2, stride=2)
        return self._skip_span(level - 1, _blocks_span(span, self.num_blocks))


def from_kair_drunet(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """KAIR's / DPIR's DRUNet state dict (`UNetRes`: m_head, m_down1..3, m_body, m_up3..1,
    m_tail) as this class's. The released drunet_gray.pth / drunet_color.pth were built with
    nc [64, 128, 256, 512], nb 4, no biases, in_nc = C + 1 (the map sigma / 255 appended after the
    image channels, as here): load them into `DRUNet(C, 64, [1, 2, 4, 8], 4, bias=False)`.
    DPIR pads to a multiple of 8 by replicating the bottom and right border, as this class does.
    Tested against a
    copy of KAIR's published module layout and forward, not against the released files, which
    this project does not have.
    """
    num_scales = 1 + len({key.split(".")[0] for key in state if key.startswith("m_down")})
    return rename_prefixes(state, kair_drunet_prefixes(num_scales))


def to_kair_drunet(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The inverse of `from_kair_drunet`: this class's state dict under KAIR's key names."""
    num_scales = 1 + len({key.split(".")[1] for key in state if key.startswith("downs.")})
    ours = {o: k for k, o in kair_drunet_prefixes(num_scales).items()}
    return rename_prefixes(state, ours)
