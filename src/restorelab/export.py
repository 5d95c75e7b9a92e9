"""Exports behind `restorelab export`: ONNX and TorchScript for other runtimes, safetensors with
the config embedded for `load_denoiser`.

ONNX and TorchScript exports take `[B, C, H, W]` float32 in [0, 1] of any batch, height and width
(at least 2**depth for the autoencoders) and return the restored batch clamped to [0, 1]. A
noise-conditional net (FFDNet, DRUNet) takes a second input `sigma`: `[B]` float32, the noise
level of each image in 0-255 units, as `noise.sigma` and `--sigma` are given. The
models pad to a multiple of 2**depth inside with a data-dependent branch, which a trace would
freeze at the example's size; the export wrapper pads first, with index arithmetic that stays
symbolic, so the net inside always sees a multiple and takes the same path for every size.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from restorelab.models.conditioning import takes_noise_level
from restorelab.inference import (
    SAFETENSORS_METADATA_KEY,
    load_network,
    model_channels,
    pad_multiple,
)

FORMATS = ("onnx", "torchscript", "safetensors")
# What a safetensors export may store its floating-point weights as; they load back into the
# float32 net (float16 halves the file; on the test net a restored pixel moves by under 2e-3).
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt", "safetensors": ".safetensors"}


def _reflect(x: Tensor, before: Tensor | int, after: Tensor | int, dim: int) -> Tensor:
    """Reflect padding along `dim` by gathering indices (exports with symbolic sizes, where
    ONNX's dynamic Pad in reflect mode has swapped the two sides)."""
    n = x.shape[dim]
    index = torch.arange(-before, n + after, device=x.device).abs()  # mirror at the start
    index = torch.where(index > n - 1, 2 * (n - 1) - index, index)  # mirror at the end
    return x.index_select(dim, index)


class ExportWrapper(nn.Module):
    """`net` with its padding done outside in export-friendly form, and the output clamped.

    Pads exactly as `restorelab.models.layers.pad_to_multiple` does (reflect, extra split
    between both sides), so the results match the net's own forward."""

    def __init__(self, net: nn.Module, multiple: int) -> None:
        super().__init__()
        self.net = net
        self.multiple = multiple

    def forward(self, x: Tensor, sigma: Tensor | None = None) -> Tensor:
        height, width = x.shape[-2], x.shape[-1]
        m = self.multiple
        extra_h = (height + m - 1) // m * m - height
        extra_w = (width + m - 1) // m * m - width
        top, left = extra_h // 2, extra_w // 2
        padded = _reflect(_reflect(x, top, extra_h - top, 2), left, extra_w - left, 3)
        if sigma is None:
            restored = self.net(padded)  # (B, C, H', W'), H' and W' multiples of m
        else:  # the exported input is one level per image in 0-255 units, as noise.sigma
            restored = self.net(padded, sigma.reshape(-1, 1, 1, 1) / 255.0)
        return restored[..., top : top + height, left : left + width].clamp(0.0, 1.0)


def export_onnx(net: nn.Module, channels: int, path: Path) -> None:
    """ONNX with dynamic batch, height and width (torch.export, then the ONNX translation)."""
    import warnings

    multiple = pad_multiple(net)
    wrapper = ExportWrapper(net, multiple).eval()
    side = max(64, 2 * multiple)
    example = torch.rand(2, channels, side, side)
    batch = torch.export.Dim("batch", min=1, max=1024)
    dims = {
        0: batch,
        2: torch.export.Dim("height", min=max(multiple, 2), max=65536),
        3: torch.export.Dim("width", min=max(multiple, 2), max=65536),
    }
    # A noise-conditional net gets a second input: the level of each image, 0-255 units, [B].
    conditional = takes_noise_level(net)
    inputs = (example, torch.full((2,), 25.0)) if conditional else (example,)
    shapes = {"x": dims, "sigma": {0: batch}} if conditional else {"x": dims}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            wrapper,
            inputs,
            dynamic_shapes=shapes,
            input_names=["image", "sigma"] if conditional else ["image"],
            output_names=["restored"],
            dynamo=True,
            verbose=False,
        )
    program.save(str(path))


def export_torchscript(net: nn.Module, channels: int, path: Path) -> None:
    """A traced TorchScript module; sizes stay dynamic because the wrapper's shape arithmetic is
    recorded as operations on the input's size."""
    import warnings

    multiple = pad_multiple(net)
    wrapper = ExportWrapper(net, multiple).eval()
    example = torch.rand(1, channels, 4 * multiple + 3, 4 * multiple + 5)  # padding is traced
    inputs = (example, torch.full((1,), 25.0)) if takes_noise_level(net) else example
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(wrapper, inputs)
    traced.save(str(path))


def export_safetensors(
    net: nn.Module, config: DictConfig, path: Path, dtype: str = "float32"
) -> None:
    """The net's weights (floating-point ones as `dtype`), with the run's model and noise
    configs as JSON in the metadata."""
    from safetensors.torch import save_file

    embedded = {
        key: OmegaConf.to_container(config[key], resolve=True)
        for key in ("model", "noise")
        if key in config
    }
    embedded["source"] = str(config.get("source"))
    if config.get("weights"):  # averaged weights ("EMA, decay 0.999") stay named as such
        embedded["weights"] = str(config.get("weights"))
    if dtype != "float32":
        embedded["stored_as"] = dtype
    weights = {
        key: (value.to(DTYPES[dtype]) if value.is_floating_point() else value).detach().contiguous()
        for key, value in net.state_dict().items()
    }
    save_file(weights, str(path), metadata={SAFETENSORS_METADATA_KEY: json.dumps(embedded)})


def as_color(net: nn.Module, config: DictConfig, checkpoint: str | Path, space: str
             ) -> tuple[nn.Module, DictConfig]:
    """The gray conditional `net` inside `ColorFromGray(net, space)`, and its config with the
    model node nesting the gray one (so the export rebuilds itself); ValueError, naming
    `checkpoint`, for a net or space that ColorFromGray refuses."""
    from restorelab.models.color_from_gray import ColorFromGray

    try:
        wrapped = ColorFromGray(net, space)
    except ValueError as error:
        raise ValueError(f"--color {space}: {checkpoint}: {error}") from None
    model = {"_target_": f"{ColorFromGray.__module__}.{ColorFromGray.__name__}",
             "gray": OmegaConf.to_container(config.model, resolve=True), "space": space}
    wrapped_config = copy.deepcopy(config)
    wrapped_config.model = model  # replaces the node (assignment does not merge)
    return wrapped.eval(), wrapped_config


def export(
    checkpoint: str | Path,
    format: str,
    output: str | Path | None = None,
    overwrite: bool = False,
    dtype: str = "float32",
    color: str | None = None,
) -> Path:
    """Exports the net of `checkpoint` (a run folder, .ckpt or .safetensors) to `format`;
    returns the written file (default: beside the checkpoint, named after it, with `_<color>`
    after the name for a color export).

    An existing file is replaced only with `overwrite`, the source never; the file appears
    whole or not at all (written beside its final name, then renamed). `dtype` (safetensors
    only): what the floating-point weights are stored as (see `DTYPES`). `color` ("opponent" or
    "rgb"): export a gray noise-conditional net as an RGB denoiser, the same weights applied to
    each channel of that color space (`restorelab.models.color_from_gray.ColorFromGray`)."""
    from restorelab.atomic import atomic_path
    from restorelab.inference import OutputConflict

    if format not in FORMATS:
        raise ValueError(f"format={format!r} is not supported; allowed: {', '.join(FORMATS)}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not supported; allowed: {', '.join(DTYPES)}")
    if dtype != "float32" and format != "safetensors":
        raise ValueError(f"--dtype {dtype} is for --format safetensors; {format} exports float32")
    net, config = load_network(checkpoint)
    if color is not None:
        net, config = as_color(net, config, checkpoint, color)
    source = Path(str(config.get("source")))
    # Default: beside the source, named after it (and after the color space with `color`).
    default = source.with_name(f"{source.stem}{f'_{color}' if color else ''}{SUFFIXES[format]}")
    path = Path(output) if output is not None else default
    if path.resolve() == source.resolve():
        raise OutputConflict(f"the export would overwrite its source {source}: choose -o")
    if path.is_dir():
        raise OutputConflict(f"-o {path} is a folder: give the file to write, e.g. {path}/model"
                             f"{SUFFIXES[format]}")
    if path.exists() and not overwrite:
        raise OutputConflict(f"{path} already exists: pass --overwrite to replace it, or choose -o")
    channels = model_channels(net)
    with atomic_path(path) as tmp:
        if format == "onnx":
            export_onnx(net, channels, tmp)
        elif format == "torchscript":
            export_torchscript(net, channels, tmp)
        else:
            export_safetensors(net, config, tmp, dtype)
    return path
