"""What a net costs: multiply-accumulates per pixel, counted by PyTorch's FLOP counter."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from restorelab.models.conditioning import takes_noise_level

# The level handed to a conditional net when only its cost is wanted (sigma 25 in 0-255 units).
EXAMPLE_SIGMA = 25.0 / 255.0


def example_input(net: nn.Module, channels: int, size: int = 64) -> Tensor | tuple[Tensor, Tensor]:
    """Zeros `[1, channels, size, size]` on the net's device and in its dtype, with a constant
    sigma map `[1, 1, size, size]` for a net that takes the level: the arguments of one call."""
    parameter = next(net.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None else torch.float32
    x = torch.zeros(1, channels, size, size, device=device, dtype=dtype)
    if takes_noise_level(net):
        return x, torch.full((1, 1, size, size), EXAMPLE_SIGMA, device=device, dtype=dtype)
    return x


def macs_per_pixel(net: nn.Module, channels: int, size: int = 64) -> float:
    """Multiply-accumulates per input pixel of one forward pass on a `size` x `size` image.

    Counts what FlopCounterMode counts (convolutions, transposed convolutions, matrix products,
    attention), at 2 FLOPs per MAC; elementwise work (activations, norms, additions) is not
    counted, as in the literature's MAC figures. The net runs once in eval mode under no_grad,
    and every submodule's train/eval mode is restored after, so batch-norm statistics are
    untouched. A size that is a multiple of the net's downsampling avoids counting padding.
    """
    modes = {module: module.training for module in net.modules()}
    args = example_input(net, channels, size)
    net.eval()
    try:
        # force_eager: a net compiled in place (module.compile=true) would otherwise compile a
        # second, no_grad graph just to be counted.
        with torch.no_grad(), torch.compiler.set_stance("force_eager"):
            with FlopCounterMode(display=False) as counter:
                net(*args) if isinstance(args, tuple) else net(args)
    finally:
        for module, training in modes.items():
            module.train(training)
    return counter.get_total_flops() / 2 / (size * size)
