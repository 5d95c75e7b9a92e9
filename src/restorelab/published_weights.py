"""Weights published by other projects, read into RestoreLab's own models by a documented mapping.

DnCNN (Zhang et al., IEEE TIP 2017), as the public PyTorch code of cszn/DnCNN
(`TrainingCodes/dncnn_pytorch`) saves it: one `nn.Sequential` named `dncnn`,

    dncnn.0            Conv2d(C, 64, 3, bias=True)          -> layers.0
    dncnn.1            ReLU                                  -> layers.1
    dncnn.(2 + 3k)     Conv2d(64, 64, 3, bias=False)         -> layers.(2 + 3k)   k = 0 .. depth - 3
    dncnn.(3 + 3k)     BatchNorm2d(64, eps=1e-4)             -> layers.(3 + 3k)
    dncnn.(4 + 3k)     ReLU                                  -> layers.(4 + 3k)
    dncnn.(3 depth - 4) Conv2d(64, C, 3, bias=False)         -> layers.(3 depth - 4), bias = 0
    output = input - net(input)                              -> residual=True

RestoreLab's `DnCNN.layers` has the very same indices, so the mapping renames the prefix
`dncnn.` to `layers.`, and gives the last conv (which has a bias in RestoreLab) a zero bias,
which computes exactly what the bias-free conv does. The published batch norms add eps=1e-4 to
the variance, PyTorch's default is 1e-5: the net is built with `norm_eps=1e-4`, or its outputs
drift from the published ones. Depth, width, kernel size and channels are read from the shapes,
so DnCNN-S (17 layers), DnCNN-B (20) and the color CDnCNN files load alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor

from restorelab.errors import RestoreLabError

PUBLISHED_DNCNN_PREFIX = "dncnn."
# BatchNorm2d(n_channels, eps=0.0001) in the published training code.
PUBLISHED_DNCNN_EPS = 1e-4


class PublishedWeightsError(RestoreLabError):
    """A weights file that claims a published layout but does not follow it."""


def is_published_dncnn(keys: Any) -> bool:
    """True when every key has the published `dncnn.N.` layout (and the first conv is there)."""
    keys = list(keys)
    return bool(keys) and "dncnn.0.weight" in keys and all(
        key.startswith(PUBLISHED_DNCNN_PREFIX) for key in keys
    )


def _conv_indices(weights: Mapping[str, Tensor]) -> list[int]:
    indices = []
    for key, value in weights.items():
        index, _, name = key[len(PUBLISHED_DNCNN_PREFIX) :].partition(".")
        if name == "weight" and value.ndim == 4:
            indices.append(int(index))
    return sorted(indices)


def published_dncnn_model_config(weights: Mapping[str, Tensor]) -> dict[str, Any]:
    """The `conf/model/dncnn.yaml` node that the published weights fit, read from their shapes."""
    conv = _conv_indices(weights)
    depth = len(conv)
    expected = [0] + [2 + 3 * k for k in range(depth - 2)] + [3 * depth - 4]
    first = weights["dncnn.0.weight"]
    if depth < 3 or conv != expected or "dncnn.3.running_var" not in weights:
        raise PublishedWeightsError(
            f"the 'dncnn.N' weights have convolutions at {conv[:6]}...: the published DnCNN "
            "layout has them at 0, 2, 5, 8, ... with batch norms at 3, 6, ... (conv, ReLU, "
            "then (conv, BatchNorm2d, ReLU) x (depth - 2), then a conv)"
        )
    last = weights[f"dncnn.{conv[-1]}.weight"]
    if last.shape[0] != first.shape[1] or f"dncnn.{conv[-1]}.bias" in weights:
        raise PublishedWeightsError(
            f"the last 'dncnn' conv maps {last.shape[1]} to {last.shape[0]} channels (with a "
            f"bias: {f'dncnn.{conv[-1]}.bias' in weights}); the published DnCNN maps back to "
            f"the {first.shape[1]} input channels without a bias"
        )
    return {
        "_target_": "restorelab.models.dncnn.DnCNN",
        "in_channels": int(first.shape[1]),
        "depth": depth,
        "base_channels": int(first.shape[0]),
        "kernel_size": int(first.shape[-1]),
        "norm": "batch",
        "activation": "relu",
        "residual": True,
        "output": "identity",
        "norm_eps": PUBLISHED_DNCNN_EPS,
    }


def convert_published_dncnn(
    weights: Mapping[str, Tensor],
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """(state dict of RestoreLab's `DnCNN`, its model config) from the published `dncnn.N` keys."""
    config = published_dncnn_model_config(weights)
    cut = len(PUBLISHED_DNCNN_PREFIX)
    state = {"layers." + key[cut:]: value for key, value in weights.items()}
    last = 3 * config["depth"] - 4
    state[f"layers.{last}.bias"] = torch.zeros(config["in_channels"])
    for k in range(config["depth"] - 2):
        # Some exports drop the counter; it only matters to a norm with momentum=None.
        state.setdefault(f"layers.{3 + 3 * k}.num_batches_tracked", torch.tensor(0))
    return state, config


def recognize(weights: Mapping[str, Tensor], metadata: Mapping[str, str]) -> tuple[
    dict[str, Tensor], DictConfig
] | None:
    """RestoreLab weights and a config for a safetensors file in a published layout, or None
    when the keys follow none that RestoreLab reads. The file's own metadata is kept under
    `published` in the config (reports show where the weights came from)."""
    if not is_published_dncnn(weights.keys()):
        return None
    state, model = convert_published_dncnn(weights)
    published = {"layout": "DnCNN (cszn/DnCNN, dncnn.N keys)", **dict(metadata)}
    return state, OmegaConf.create({"model": model, "published": published})  # type: ignore


def load_published_dncnn(path: str | Path) -> torch.nn.Module:
    """RestoreLab's `DnCNN` (eval mode, CPU) holding the published DnCNN weights of a
    safetensors file with the `dncnn.N` keys, built with the published batch-norm eps."""
    import hydra
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path).expanduser()
    if not path.is_file():
        raise PublishedWeightsError(
            f"{path} does not exist: give the published DnCNN weights as a .safetensors file "
            "(keys dncnn.0.weight, dncnn.0.bias, dncnn.2.weight, ...)"
        )
    try:
        weights = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        message = f"{path} is not a readable safetensors file ({error})"
        raise PublishedWeightsError(message) from None
    if not is_published_dncnn(weights.keys()):
        raise PublishedWeightsError(
            f"{path} does not hold the published DnCNN layout (keys dncnn.0.weight, "
            f"dncnn.0.bias, dncnn.2.weight, ...); its first keys: {sorted(weights)[:3]}"
        )
    state, config = convert_published_dncnn(weights)
    net = hydra.utils.instantiate(config)
    net.load_state_dict(state, strict=True)
    return net.eval()
