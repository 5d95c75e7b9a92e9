"""The noise-level contract of conditional nets (FFDNet, DRUNet, NAFNet with `noise_map`).

A net that takes the noise level says so with a `takes_noise_level` attribute that is True and
is called `net(x, sigma)`: `x` is `[B, C, H, W]`, `sigma` the standard deviation of the noise in
[0, 1] units (sigma_255 / 255), as a map `[B, 1, H, W]` or one value per image `[B, 1, 1, 1]`
(a batch of 1 broadcasts). Every other net is called `net(x)`. Training hands it the level the
corruption drew (`Corruption.apply_with_level`); inference the user's sigma, or an estimate.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn


def takes_noise_level(net: nn.Module) -> bool:
    """Whether `net` is called `net(x, sigma)` (its `takes_noise_level` attribute is True)."""
    # getattr reaches through torch.compile's wrapper to the original module's attribute.
    return bool(getattr(net, "takes_noise_level", False))


def trained_sigma(config: Any) -> float | None:
    """The one Gaussian level a run trained at, in [0, 1] units: its corruption's own
    `true_sigma()` (a fixed-level fine-tune of a conditional net); None for a range, another
    corruption or no config."""
    if config is None or config.get("noise") is None:
        return None
    import hydra

    return hydra.utils.instantiate(config.noise).true_sigma()


def restore(net: nn.Module, x: Tensor, sigma: Tensor | None = None) -> Tensor:
    """`net(x, sigma)` for a net that takes the level, else `net(x)` with `sigma` unused, so a
    caller that knows the level can pass it to any net. A conditional net raises ValueError
    when `sigma` is None or of the wrong shape."""
    if takes_noise_level(net):
        return net(x, sigma)
    return net(x)


def noise_level_map(x: Tensor, sigma: Tensor | None, model: str) -> Tensor:
    """`sigma` checked against `x` `[B, C, H, W]` and expanded to a `[B, 1, H, W]` map in the
    dtype of `x`; ValueError naming the accepted shapes otherwise. `model` names the caller.

    The range is not checked: that would read the tensor's values inside `forward`, a device
    sync and a data-dependent branch that tracing (ONNX, torch.compile) cannot follow.
    """
    b, _, h, w = x.shape
    expected = f"[B, 1, H, W] = [{b}, 1, {h}, {w}] or [B, 1, 1, 1] = [{b}, 1, 1, 1]"
    if sigma is None:
        raise ValueError(
            f"{model} takes the noise level: call it as net(x, sigma) with sigma of shape "
            f"{expected}, the noise standard deviation in [0, 1] units (sigma_255 / 255)"
        )
    if not isinstance(sigma, Tensor):
        raise ValueError(
            f"{model}: sigma must be a tensor of shape {expected}, got {type(sigma).__name__}"
        )
    shape = tuple(sigma.shape)
    if (
        sigma.ndim != 4
        or shape[0] not in (1, b)
        or shape[1] != 1
        or shape[2:] not in ((1, 1), (h, w))
    ):
        raise ValueError(f"{model}: sigma must have shape {expected}, got {list(shape)}")
    return sigma.to(dtype=x.dtype, device=x.device).expand(b, 1, h, w)
