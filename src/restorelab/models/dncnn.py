"""DnCNN: a plain deep CNN that learns the noise (Zhang et al., IEEE TIP 2017)."""

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
)


class DnCNN(nn.Module):
    """DnCNN: conv + activation, (depth - 2) x (conv + norm + activation), conv, all at full
    resolution. With residual=True (the paper's residual learning) the layers predict the noise
    and the output is the input minus it. `norm_eps` is the normalization's epsilon: PyTorch's
    1e-5 by default; the published DnCNN weights were trained with 1e-4 (see
    `restorelab.published_weights`). `bias=False` with norm 'none' or 'bias_free_batch' is
    BF-CNN, the bias-free DnCNN of Mohan et al. (ICLR 2020): no additive constant anywhere, so
    in eval mode net(a x) = a net(x) for a > 0 (with output 'identity')."""

    def __init__(
        self,
        in_channels: int,
        depth: int = 17,
        base_channels: int = 64,
        kernel_size: int = 3,
        norm: str = "batch",
        activation: str = "relu",
        residual: bool = True,
        output: str = "identity",
        norm_eps: float = 1e-5,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if in_channels < 1 or base_channels < 1:
            raise ValueError("in_channels and base_channels must be >= 1")
        if depth < 2:
            raise ValueError(f"depth={depth} is not supported; allowed: an integer >= 2")
        if not norm_eps > 0:
            raise ValueError(f"norm_eps={norm_eps} is not supported; allowed: a number > 0")
        check_kernel_size(kernel_size)
        check_residual(residual, output)
        if not bias and norm not in ("none", "bias_free_batch"):
            raise ValueError(
                f"bias=False with norm={norm!r} is not supported; allowed: norm 'none' or "
                "'bias_free_batch' (the others subtract a mean or add a bias)"
            )
        self.depth = depth
        self.kernel_size = kernel_size
        self.residual = residual
        padding = kernel_size // 2
        layers = [
            nn.Conv2d(in_channels, base_channels, kernel_size, padding=padding, bias=bias),
            make_activation(activation),
        ]
        for _ in range(depth - 2):
            layers += [
                # A bias right before batch norm is cancelled by its mean subtraction.
                nn.Conv2d(
                    base_channels,
                    base_channels,
                    kernel_size,
                    padding=padding,
                    bias=bias and norm != "batch",
                ),
                make_norm(norm, base_channels, norm_eps),
                make_activation(activation),
            ]
        layers.append(
            nn.Conv2d(base_channels, in_channels, kernel_size, padding=padding, bias=bias)
        )
        self.layers = nn.Sequential(*layers)
        self.output = make_output(output)

    def forward(self, x: Tensor) -> Tensor:
        h = self.layers(x)  # (B, C, H, W): the noise when residual, else the clean image
        if self.residual:
            h = x - h
        return self.output(h)

    @property
    def receptive_field(self) -> int:
        """Input pixels along one axis that one output pixel depends on: depth * (k - 1) + 1."""
        span = (0, 0)
        for _ in range(self.depth):
            span = conv_span(span, self.kernel_size, padding=self.kernel_size // 2)
        return span_width(span)
