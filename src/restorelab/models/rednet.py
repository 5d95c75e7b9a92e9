"""RED-Net: very deep encoder-decoder with symmetric skip connections (Mao et al., NeurIPS 2016)."""

from __future__ import annotations

from torch import Tensor, nn

from restorelab.models.layers import (
    check_kernel_size,
    check_residual,
    conv_span,
    make_activation,
    make_norm,
    make_output,
    span_width,
    transposed_conv_span,
)


class REDNet(nn.Module):
    """RED-Net: num_layers / 2 convolutions, then as many mirrored transposed convolutions, all at
    full resolution; every second convolution's output is added to its mirror's output before
    the activation. num_layers 10, 20, 30 give RED10, RED20, RED30."""

    def __init__(
        self,
        in_channels: int,
        num_layers: int = 10,
        base_channels: int = 64,
        kernel_size: int = 3,
        norm: str = "none",
        activation: str = "relu",
        residual: bool = True,
        output: str = "identity",
    ) -> None:
        super().__init__()
        if in_channels < 1 or base_channels < 1:
            raise ValueError("in_channels and base_channels must be >= 1")
        if num_layers < 2 or num_layers % 2:
            raise ValueError(
                f"num_layers={num_layers} is not supported; allowed: an even number >= 2 "
                "(10, 20, 30 for RED10, RED20, RED30)"
            )
        check_kernel_size(kernel_size)
        check_residual(residual, output)
        self.num_layers = num_layers
        self.kernel_size = kernel_size
        self.residual = residual
        half = num_layers // 2
        padding = kernel_size // 2
        # A bias right before batch norm is cancelled by its mean subtraction.
        bias = norm != "batch"

        self.convs = nn.ModuleList()
        for index in range(half):
            conv = nn.Conv2d(
                in_channels if index == 0 else base_channels,
                base_channels,
                kernel_size,
                padding=padding,
                bias=bias,
            )
            self.convs.append(nn.Sequential(conv, make_norm(norm, base_channels)))
        # Stride 1 with 'same' padding: unlike the paper's unpadded layers, any H, W works,
        # down to 1x1, and the skips need no cropping.
        self.deconvs = nn.ModuleList(
            nn.Sequential(
                nn.ConvTranspose2d(
                    base_channels, base_channels, kernel_size, padding=padding, bias=bias
                ),
                make_norm(norm, base_channels),
            )
            for _ in range(half - 1)
        )
        self.last = nn.ConvTranspose2d(base_channels, in_channels, kernel_size, padding=padding)
        self.activation = make_activation(activation)
        self.output = make_output(output)

    def forward(self, x: Tensor) -> Tensor:
        half = self.num_layers // 2
        h = x
        features = []  # conv outputs 2, 4, ... (1-based), the skip sources
        for index, conv in enumerate(self.convs, start=1):
            h = self.activation(conv(h))  # (B, base_channels, H, W)
            if index % 2 == 0 and index < half:
                features.append(h)
        for index, deconv in enumerate(self.deconvs, start=1):
            h = deconv(h)  # (B, base_channels, H, W)
            # Deconv `index` mirrors conv `half - index` (in the paper's unpadded version they
            # have the same size), so every second conv output returns here.
            if (half - index) % 2 == 0:
                h = h + features.pop()
            h = self.activation(h)
        h = self.last(h)  # (B, C, H, W)
        if self.residual:
            h = x + h
        return self.output(h)

    @property
    def receptive_field(self) -> int:
        """Input pixels along one axis that one output pixel depends on. The skips are shorter
        paths centred on the same pixel, so the longest path (all layers) sets it."""
        padding = self.kernel_size // 2
        span = (0, 0)
        for _ in range(self.num_layers // 2):
            span = transposed_conv_span(span, self.kernel_size, padding=padding)
        for _ in range(self.num_layers // 2):
            span = conv_span(span, self.kernel_size, padding=padding)
        return span_width(span)
