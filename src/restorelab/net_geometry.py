"""What tiling an image needs to know of a restoration net: the image channels it restores, the
multiple of H and W it pads its input to, and the grid its tiles must start on (used by
`restorelab.denoiser` and the exports; all three are importable from `restorelab.inference`)."""

from __future__ import annotations

from torch import nn


def model_channels(net: nn.Module) -> int:
    """The image channels `net` restores: its `in_channels`, else its first convolution's
    (which for a conditional net also counts the noise map, so it is the fallback only)."""
    declared = getattr(net, "in_channels", None)
    if isinstance(declared, int):
        return declared
    first = next((m for m in net.modules() if isinstance(m, nn.Conv2d)), None)
    if first is None:
        raise ValueError("cannot tell the number of input channels of a net without Conv2d")
    return first.in_channels


def grid_multiple(net: nn.Module) -> int:
    """The factor by which the net downsamples: tiles start at multiples of it, so each sees the
    pixel phase the whole image has (FFDNet's 2 x 2 unshuffle, a U-Net's 2**(scales - 1))."""
    from restorelab.models.color_from_gray import ColorFromGray
    from restorelab.models.drunet import DRUNet
    from restorelab.models.ffdnet import FFDNet

    if isinstance(net, ColorFromGray):  # per-pixel color transform around a gray net
        return grid_multiple(net.gray)
    if isinstance(net, DRUNet):
        return 2 ** (net.num_scales - 1)
    if isinstance(net, FFDNet):
        return 2
    return pad_multiple(net)


def pad_multiple(net: nn.Module) -> int:
    """The multiple of H and W the net pads its input to inside, splitting the extra between
    both sides with `pad_to_multiple` (2**depth for the autoencoders, NAFNet and Restormer); 1
    for nets that need none or pad otherwise (DRUNet and FFDNet pad bottom-right, traceably)."""
    from restorelab.models.autoencoder import ConvAutoencoder
    from restorelab.models.color_from_gray import ColorFromGray
    from restorelab.models.nafnet import NAFNet
    from restorelab.models.restormer import Restormer

    if isinstance(net, ColorFromGray):
        return pad_multiple(net.gray)
    return 2**net.depth if isinstance(net, (ConvAutoencoder, NAFNet, Restormer)) else 1
