"""The convolutional autoencoder family, from the plain encoder-decoder to the U-Net."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from restorelab.models.layers import (
    Span,
    bilinear_upsample_span,
    check_choice,
    check_kernel_size,
    check_residual,
    conv_span,
    crop,
    make_activation,
    make_norm,
    make_output,
    pad_to_multiple,
    span_width,
    transposed_conv_span,
    union,
)

SKIPS = ("none", "concat", "add")
DOWNS = ("strided", "maxpool")
UPS = ("transposed", "upsample")
CONVS_PER_BLOCK = (1, 2)


def _level_widths(
    base_channels: int, channel_multipliers: list[int] | None, depth: int
) -> list[int]:
    """The width of each of the `depth` levels, `base_channels` times its multiplier."""
    # Hydra passes a ListConfig; default doubles the width at each level.
    multipliers = (
        [2**level for level in range(depth)]
        if channel_multipliers is None
        else list(channel_multipliers)
    )
    if len(multipliers) != depth or any(m < 1 for m in multipliers):
        raise ValueError(
            f"channel_multipliers={multipliers} is not supported; allowed: {depth} "
            "(= depth) integers >= 1, or null for doubling"
        )
    return [base_channels * m for m in multipliers]


class EncoderBlock(nn.Module):
    """`num_convs` convolutions that halve H and W (the last strided, or all followed by a 2x2
    max-pool), then dropout and norm: two in the write-up's U-Net, one in its plain autoencoder."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_convs: int,
        down: str,
        norm: str,
        activation: str,
        dropout: float,
    ) -> None:
        super().__init__()
        padding = kernel_size // 2
        layers: list[nn.Module] = []
        for index in range(num_convs):
            last = index == num_convs - 1
            stride = 2 if last and down == "strided" else 1
            channels = in_channels if index == 0 else out_channels
            layers += [
                nn.Conv2d(channels, out_channels, kernel_size, stride=stride, padding=padding),
                make_activation(activation),
            ]
        if down == "maxpool":
            layers.append(nn.MaxPool2d(2))
        layers += [nn.Dropout(dropout), make_norm(norm, out_channels)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)  # (B, C_out, H/2, W/2)


class DecoderBlock(nn.Module):
    """Upsample 2x (transposed convolution, or bilinear then a convolution), fuse a skip tensor
    (concatenate, add, or nothing), then `num_convs` convolutions (0 to 2), dropout and norm."""

    def __init__(
        self,
        in_channels: int,
        skip_channels: int,
        out_channels: int,
        kernel_size: int,
        num_convs: int,
        fuse: str,
        up: str,
        norm: str,
        activation: str,
        dropout: float,
    ) -> None:
        super().__init__()
        padding = kernel_size // 2
        if up == "transposed":
            # output_padding=1 makes the output exactly 2H x 2W for an odd kernel.
            resample = nn.ConvTranspose2d(
                in_channels, out_channels, kernel_size, stride=2, padding=padding, output_padding=1
            )
            self.up = nn.Sequential(resample, make_activation(activation))
        else:
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding),
                make_activation(activation),
            )
        self.fuse = fuse
        fused_channels = out_channels + skip_channels if fuse == "concat" else out_channels
        convs: list[nn.Module] = []
        for index in range(num_convs):
            channels = fused_channels if index == 0 else out_channels
            convs += [
                nn.Conv2d(channels, out_channels, kernel_size, padding=padding),
                make_activation(activation),
            ]
        self.convs = nn.Sequential(*convs, nn.Dropout(dropout), make_norm(norm, out_channels))

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = self.up(x)  # (B, C_out, 2H, 2W)
        if self.fuse == "concat":
            x = torch.cat([x, skip], dim=1)  # (B, C_out + C_skip, 2H, 2W)
        elif self.fuse == "add":
            x = x + skip  # (B, C_out, 2H, 2W)
        return self.convs(x)  # (B, C_out, 2H, 2W)


class ConvAutoencoder(nn.Module):
    """Convolutional autoencoder with `depth` levels, each halving H and W.

    skip='none' without input_skip is the plain autoencoder: everything passes the bottleneck.
    skip='concat' with input_skip=True is the write-up's U-Net. input_skip always concatenates
    (the image has C channels, not the block's width), whatever `skip` says. residual=True
    predicts a correction added to the input. Any H, W: padded inside to a multiple of 2**depth.

    convs_per_block=2 (the U-Net): an encoder block is conv + strided conv, a decoder block
    upsamples then runs two convs. convs_per_block=1 (the write-up's plain autoencoder): one
    strided conv down, the upsampling alone up, plus one conv after a fused skip to mix it in.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int | None = None,
        base_channels: int = 32,
        channel_multipliers: list[int] | None = None,
        depth: int = 3,
        convs_per_block: int = 2,
        kernel_size: int = 3,
        skip: str = "concat",
        input_skip: bool = False,
        down: str = "strided",
        up: str = "transposed",
        norm: str = "batch",
        activation: str = "leaky_relu",
        dropout: float = 0.0,
        residual: bool = False,
        output: str = "sigmoid",
    ) -> None:
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        if in_channels < 1 or out_channels < 1 or base_channels < 1:
            raise ValueError("in_channels, out_channels and base_channels must be >= 1")
        if depth < 1:
            raise ValueError(f"depth={depth} is not supported; allowed: an integer >= 1")
        check_kernel_size(kernel_size)
        check_choice("skip", skip, SKIPS)
        check_choice("down", down, DOWNS)
        check_choice("up", up, UPS)
        check_choice("convs_per_block", convs_per_block, CONVS_PER_BLOCK)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout={dropout} is not supported; allowed: 0 <= dropout < 1")
        if residual and out_channels != in_channels:
            raise ValueError("residual=True needs out_channels equal to in_channels")
        check_residual(residual, output)
        widths = _level_widths(base_channels, channel_multipliers, depth)

        self.depth = depth
        self.kernel_size = kernel_size
        self.skip = skip
        self.input_skip = input_skip
        self.down = down
        self.up = up
        self.residual = residual
        self.convs_per_block = convs_per_block

        # encoder[level] maps level -> level + 1 (level 0 is the input resolution).
        self.encoder = nn.ModuleList(
            EncoderBlock(c_in, c_out, kernel_size, convs_per_block, down, norm, activation, dropout)
            for c_in, c_out in zip([in_channels] + widths[:-1], widths)
        )
        self.decoder = self._decoder_levels(in_channels, widths, norm, activation, dropout)
        self.head = nn.Conv2d(widths[0], out_channels, kernel_size=1)
        self.output = make_output(output)

    def _decoder_levels(
        self, in_channels: int, widths: list[int], norm: str, activation: str, dropout: float
    ) -> nn.ModuleList:
        """decoder[level] maps level + 1 -> level, back to the width of the encoder output it
        fuses; the last one (level 0) keeps widths[0] and, with input_skip, fuses the image."""
        decoder = nn.ModuleList()
        for level in range(self.depth):
            skip_channels = widths[level - 1] if level > 0 else in_channels
            block = DecoderBlock(
                in_channels=widths[level],
                skip_channels=skip_channels,
                out_channels=widths[max(level - 1, 0)],
                kernel_size=self.kernel_size,
                num_convs=self._decoder_convs(level),
                fuse=self._fuse(level),
                up=self.up,
                norm=norm,
                activation=activation,
                dropout=dropout,
            )
            decoder.append(block)
        return decoder

    def forward(self, x: Tensor) -> Tensor:
        padded, pads = pad_to_multiple(x, 2**self.depth)  # (B, C, H', W'), multiples of 2**depth
        # skips[level] is what decoder[level] fuses: the input image, then each encoder output.
        skips = [padded]
        h = padded
        for block in self.encoder:
            h = block(h)  # (B, widths[level], H' / 2**(level+1), W' / 2**(level+1))
            skips.append(h)
        # h is the bottleneck: (B, widths[-1], H' / 2**depth, W' / 2**depth)
        for level in reversed(range(self.depth)):
            h = self.decoder[level](h, skips[level])  # (B, widths[level-1], 2x H, 2x W)
        h = self.head(crop(h, pads))  # (B, C_out, H, W)
        if self.residual:
            h = x + h
        return self.output(h)

    def _fuse(self, level: int) -> str:
        """How decoder[level] fuses its skip tensor: level 0 fuses the image, if anything."""
        if level > 0:
            return self.skip
        return "concat" if self.input_skip else "none"

    def _decoder_convs(self, level: int) -> int:
        """Convolutions after the fusion in decoder[level]."""
        if self.convs_per_block == 2:
            return 2
        # With one conv per block the upsampling is that conv; a fused skip needs one more to
        # mix its channels in (a concat would otherwise reach the next block unmixed).
        return 0 if self._fuse(level) == "none" else 1

    @property
    def receptive_field(self) -> int:
        """Input pixels along one axis that one output pixel depends on, the largest over output
        positions (the net is periodic in 2**depth) and over paths. Norms that pool over the
        image (group, instance) are ignored: they would make it the whole image."""
        return max(
            span_width(self._decoder_span(0, (position, position)))
            for position in range(2**self.depth)
        )

    def _decoder_span(self, level: int, span: Span) -> Span:
        """Input-image span read by positions `span` of decoder[level]'s output."""
        padding = self.kernel_size // 2
        for _ in range(self._decoder_convs(level)):
            span = conv_span(span, self.kernel_size, padding=padding)
        paths = []
        if self.up == "transposed":
            up_span = transposed_conv_span(span, self.kernel_size, stride=2, padding=padding)
        else:
            up_span = conv_span(span, self.kernel_size, padding=padding)
            up_span = bilinear_upsample_span(up_span)
        if level + 1 < self.depth:
            paths.append(self._decoder_span(level + 1, up_span))
        else:
            paths.append(self._encoder_span(self.depth, up_span))
        if self._fuse(level) != "none":
            paths.append(self._encoder_span(level, span))
        return union(*paths)

    def _encoder_span(self, level: int, span: Span) -> Span:
        """Input-image span read by positions `span` at encoder level `level` (0 = the input)."""
        padding = self.kernel_size // 2
        for _ in range(level):
            if self.down == "strided":
                span = conv_span(span, self.kernel_size, stride=2, padding=padding)
            else:
                span = conv_span(span, kernel_size=2, stride=2)
                span = conv_span(span, self.kernel_size, padding=padding)
            for _ in range(self.convs_per_block - 1):
                span = conv_span(span, self.kernel_size, padding=padding)
        return span
