"""A color denoiser made of a gray noise-conditional net: CBM3D's recipe, for a net.

With `space="opponent"` (the default) the RGB image goes into the opponent color space CBM3D
works in (Dabov et al., ICIP 2007):

    Y = (R + G + B) / 3,   U = (R - B) / 2 + 1/2,   V = (R - 2G + B) / 4 + 1/2

The three rows are orthogonal, so white Gaussian noise of level sigma on R, G, B becomes white
Gaussian noise on Y, U, V, independent between them, of levels sigma * |row|: sigma / sqrt(3) on
the luminance, sigma / sqrt(2) and sigma * sqrt(6) / 4 on the two chroma channels. Each channel
lies in [0, 1] like a gray image; the gray net restores it at its own level and the result goes
back to RGB. No color training set is needed: the color model is the gray net's weights, under a
transform whose noise model is exact. `space="rgb"` restores R, G and B one by one at sigma, the
naive use of a gray net (an ablation: it ignores that the channels are correlated).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from restorelab.models.conditioning import noise_level_map, takes_noise_level
from restorelab.net_geometry import model_channels

# Rows: the channels the gray net sees, from R, G, B; with OFFSETS each maps [0, 1]^3 into [0, 1].
SPACES = {
    "opponent": (((1 / 3, 1 / 3, 1 / 3), (1 / 2, 0.0, -1 / 2), (1 / 4, -1 / 2, 1 / 4)),
                 (0.0, 0.5, 0.5)),
    "rgb": (((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)), (0.0, 0.0, 0.0)),
}


class ColorFromGray(nn.Module):
    """`gray` (a 1-channel net called `gray(x, sigma)`) applied to each channel of an RGB image
    in `space` ("opponent" or "rgb", see the module), at that channel's noise level; called
    `net(x, sigma)` with `x` `[B, 3, H, W]` and `sigma` the RGB noise level (see
    `restorelab.models.conditioning`).

    Its state is the gray net's, under `gray.`: an export of it holds the gray weights as they
    were trained, and a color fine-tune (`init_weights=` a color export) would train them further.
    """

    takes_noise_level = True
    in_channels = 3

    def __init__(self, gray: nn.Module, space: str = "opponent") -> None:
        super().__init__()
        if space not in SPACES:
            raise ValueError(f"space={space!r} is not known; allowed: {', '.join(SPACES)}")
        if not takes_noise_level(gray):
            raise ValueError(
                "ColorFromGray needs a gray net that takes the noise level (FFDNet, DRUNet, "
                f"NAFNet with noise_map=true), got {type(gray).__name__} called net(x)"
            )
        channels = model_channels(gray)
        if channels != 1:
            raise ValueError(
                f"ColorFromGray wraps a gray net (in_channels 1), got in_channels {channels}"
            )
        self.gray = gray
        self.space = space
        rows, offsets = SPACES[space]
        forward = torch.tensor(rows)
        self.register_buffer("forward_matrix", forward, persistent=False)
        # Orthogonal rows: the inverse is the transpose over each row's squared norm.
        norms = forward.square().sum(dim=1)
        self.register_buffer("inverse_matrix", forward.T / norms, persistent=False)
        self.register_buffer("offset", torch.tensor(offsets).view(1, 3, 1, 1), persistent=False)
        # The noise level in each channel the gray net sees, per unit of RGB noise level.
        self.register_buffer("level_scale", norms.sqrt().view(1, 3, 1, 1), persistent=False)

    def forward(self, x: Tensor, sigma: Tensor | None = None) -> Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"ColorFromGray restores [B, 3, H, W] RGB images, got {list(x.shape)}")
        b, _, h, w = x.shape
        level = noise_level_map(x, sigma, "ColorFromGray")  # (B, 1, H, W)
        channels = torch.einsum("oc,bchw->bohw", self.forward_matrix.to(x.dtype), x)
        channels = channels + self.offset.to(x.dtype)  # (B, 3, H, W), each in [0, 1]
        levels = level * self.level_scale.to(x.dtype)  # (B, 3, H, W)
        restored = self.gray(channels.reshape(b * 3, 1, h, w), levels.reshape(b * 3, 1, h, w))
        restored = restored.reshape(b, 3, h, w) - self.offset.to(x.dtype)
        return torch.einsum("co,bohw->bchw", self.inverse_matrix.to(x.dtype), restored)

    @property
    def receptive_field(self) -> int | None:
        """The gray net's (None where it has none): the color transform is per pixel."""
        return getattr(self.gray, "receptive_field", None)
