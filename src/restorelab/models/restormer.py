"""Restormer-lite: the transformer of Zamir et al. (CVPR 2022), attention across channels."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restorelab.models.layers import LayerNorm2d, crop, pad_to_multiple


class TransposedAttention(nn.Module):
    """MDTA: multi-Dconv-head transposed attention. Queries, keys and values come from a 1x1 then
    a 3x3 depthwise conv; attention is between channels (a C/heads x C/heads map per head, from
    L2-normalised rows over all pixels, scaled by a learned temperature), so its cost grows
    linearly with the number of pixels, not quadratically."""

    def __init__(self, channels: int, num_heads: int, bias: bool) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qkv = nn.Conv2d(channels, 3 * channels, 1, bias=bias)
        self.qkv_dwconv = nn.Conv2d(
            3 * channels, 3 * channels, 3, padding=1, groups=3 * channels, bias=bias
        )
        self.project_out = nn.Conv2d(channels, channels, 1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1)  # each (B, C, H, W)
        shape = (b, self.num_heads, c // self.num_heads, h * w)
        q, k, v = (t.reshape(shape) for t in (q, k, v))  # (B, heads, C/heads, HW)
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        attention = (q @ k.transpose(-2, -1)) * self.temperature  # (B, heads, C/heads, C/heads)
        out = attention.softmax(dim=-1) @ v  # (B, heads, C/heads, HW)
        return self.project_out(out.reshape(b, c, h, w))  # (B, C, H, W)


class GatedFeedForward(nn.Module):
    """GDFN: 1x1 conv to 2 x hidden channels, 3x3 depthwise conv, GELU(one half) * other half,
    1x1 conv back."""

    def __init__(self, channels: int, expansion: float, bias: bool) -> None:
        super().__init__()
        hidden = int(channels * expansion)
        self.project_in = nn.Conv2d(channels, 2 * hidden, 1, bias=bias)
        self.dwconv = nn.Conv2d(2 * hidden, 2 * hidden, 3, padding=1, groups=2 * hidden, bias=bias)
        self.project_out = nn.Conv2d(hidden, channels, 1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        gate, value = self.dwconv(self.project_in(x)).chunk(2, dim=1)  # each (B, hidden, H, W)
        return self.project_out(F.gelu(gate) * value)  # (B, C, H, W)


class TransformerBlock(nn.Module):
    """x + MDTA(LayerNorm(x)), then + GDFN(LayerNorm(.))."""

    def __init__(self, channels: int, num_heads: int, expansion: float, bias: bool) -> None:
        super().__init__()
        # eps 1e-5 as Restormer's layer norms (NAFNet's are 1e-6, the LayerNorm2d default).
        self.norm1 = LayerNorm2d(channels, bias=bias, eps=1e-5)
        self.attention = TransposedAttention(channels, num_heads, bias)
        self.norm2 = LayerNorm2d(channels, bias=bias, eps=1e-5)
        self.feed_forward = GatedFeedForward(channels, expansion, bias)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attention(self.norm1(x))  # (B, C, H, W)
        return x + self.feed_forward(self.norm2(x))  # (B, C, H, W)


def _stage(channels: int, count: int, num_heads: int, expansion: float, bias: bool) -> nn.Module:
    return nn.Sequential(
        *(TransformerBlock(channels, num_heads, expansion, bias) for _ in range(count))
    )


def _checked_widths(
    in_channels: int, base_channels: int, num_blocks: list[int], num_heads: list[int],
    num_refinement_blocks: int, expansion: float,
) -> list[int]:
    """Each level's width (`base_channels`, doubled at each level down), once the arguments are
    checked: a ValueError for one that `Restormer` does not support."""
    if in_channels < 1:
        raise ValueError("in_channels must be >= 1")
    if base_channels < 2 or base_channels % 2:
        raise ValueError(
            f"base_channels={base_channels} is not supported; allowed: an even integer >= 2 "
            "(the downsampling halves the width before its pixel-unshuffle)"
        )
    if not num_blocks or len(num_heads) != len(num_blocks):
        raise ValueError(
            f"num_blocks={num_blocks} and num_heads={num_heads} are not supported; allowed: "
            "two non-empty lists of the same length (one entry per level)"
        )
    if any(n < 1 for n in num_blocks) or num_refinement_blocks < 0 or expansion <= 0:
        raise ValueError(
            "num_blocks must be >= 1, num_refinement_blocks >= 0 and expansion > 0"
        )
    widths = [base_channels * 2**level for level in range(len(num_blocks))]
    for width, heads in zip(widths, num_heads):
        if heads < 1 or width % heads:
            raise ValueError(
                f"num_heads={num_heads} is not supported for widths {widths}; allowed: "
                "heads that divide each level's width"
            )
    return widths


class Restormer(nn.Module):
    """Restormer with `len(num_blocks)` levels: 3x3 conv in, per level transformer blocks then
    a downsampling (3x3 conv to C/2, pixel-unshuffle: 2C at half size), the last level the
    latent; up again by 3x3 conv to 2C + pixel-shuffle, concatenating the encoder's output
    (reduced back by a 1x1 conv, except at the top, which keeps 2 x base_channels), refinement
    blocks, a 3x3 conv out added to the input.

    The paper's net: base_channels 48, num_blocks [4, 6, 6, 8], num_heads [1, 2, 4, 8], 4
    refinement blocks, expansion 2.66, bias False (which also makes its layer norms the
    'BiasFree' kind, as for its Gaussian denoisers). Attention pools over the whole image, so
    the receptive field is the whole image.
    """

    receptive_field = None  # MDTA's keys and queries are normalised over all pixels

    def __init__(
        self,
        in_channels: int,
        base_channels: int = 16,
        num_blocks: Sequence[int] = (1, 1, 2),
        num_heads: Sequence[int] = (1, 2, 4),
        num_refinement_blocks: int = 1,
        expansion: float = 2.66,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels  # the image channels (not the noise map)
        num_blocks, num_heads = list(num_blocks), list(num_heads)
        widths = _checked_widths(
            in_channels, base_channels, num_blocks, num_heads, num_refinement_blocks, expansion
        )
        self.depth = len(num_blocks) - 1
        self.patch_embed = nn.Conv2d(in_channels, base_channels, 3, padding=1, bias=bias)
        self._build_encoder(widths, num_blocks, num_heads, expansion, bias)
        self.latent = _stage(widths[-1], num_blocks[-1], num_heads[-1], expansion, bias)
        self._build_decoder(widths, num_blocks, num_heads, expansion, bias)
        width = 2 * base_channels if self.depth else base_channels  # the top decoder's output
        self.refinement = _stage(width, num_refinement_blocks, num_heads[0], expansion, bias)
        self.output = nn.Conv2d(width, in_channels, 3, padding=1, bias=bias)

    def _build_encoder(
        self, widths: list[int], num_blocks: list[int], num_heads: list[int], expansion: float,
        bias: bool,
    ) -> None:
        """encoders[level]: the transformer blocks at level `level`; downs[level] maps their
        output to level + 1."""
        self.encoders = nn.ModuleList(
            _stage(widths[level], num_blocks[level], num_heads[level], expansion, bias)
            for level in range(self.depth)
        )
        self.downs = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(widths[level], widths[level] // 2, 3, padding=1, bias=False),
                nn.PixelUnshuffle(2),
            )
            for level in range(self.depth)
        )

    def _build_decoder(
        self, widths: list[int], num_blocks: list[int], num_heads: list[int], expansion: float,
        bias: bool,
    ) -> None:
        """ups[level] maps level + 1 to level; reduce[level] fuses the concatenation (level >= 1);
        decoders[level]: the transformer blocks after it."""
        top = 2 * widths[0]  # the top decoder keeps the concatenation's width
        self.ups = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(widths[level + 1], 2 * widths[level + 1], 3, padding=1, bias=False),
                nn.PixelShuffle(2),
            )
            for level in range(self.depth)
        )
        self.reduce = nn.ModuleList(
            nn.Conv2d(2 * widths[level], widths[level], 1, bias=bias) if level else nn.Identity()
            for level in range(self.depth)
        )
        self.decoders = nn.ModuleList(
            _stage(widths[level] if level else top, num_blocks[level], num_heads[level],
                   expansion, bias)
            for level in range(self.depth)
        )

    def forward(self, x: Tensor) -> Tensor:
        padded, pads = pad_to_multiple(x, 2**self.depth)  # (B, C, H', W')
        h = self.patch_embed(padded)  # (B, base, H', W')
        skips = []
        for encoder, down in zip(self.encoders, self.downs):
            h = encoder(h)  # (B, w, H' / 2**level, W' / 2**level)
            skips.append(h)
            h = down(h)  # (B, 2w, H' / 2**(level + 1), ...)
        h = self.latent(h)  # (B, base * 2**depth, H' / 2**depth, W' / 2**depth)
        for level in reversed(range(self.depth)):
            h = torch.cat([self.ups[level](h), skips[level]], dim=1)  # (B, 2w, 2x H, 2x W)
            h = self.decoders[level](self.reduce[level](h))  # (B, w, or 2 base at the top, ...)
        h = self.refinement(h)  # (B, 2 base, H', W')
        return x + crop(self.output(h), pads)  # (B, C, H, W)
