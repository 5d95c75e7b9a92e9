"""Behaviour of the model families, checked on every file in conf/model/ (globbed from disk, so a
new config is tested without editing this file)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from restorelab.conf import CONF_DIR as CONF
from restorelab.models import ConvAutoencoder, DnCNN, REDNet
from restorelab.models.conditioning import restore
from restorelab.models.drunet import DRUNet
from restorelab.models.ffdnet import FFDNet
from restorelab.models.layers import (
    crop,
    make_activation,
    make_norm,
    make_output,
    pad_to_multiple,
)

MODEL_DIR = CONF / "model"
MODEL_CONFIGS = sorted(MODEL_DIR.glob("*.yaml"))
AUTOENCODER_CONFIGS = [
    path for path in MODEL_CONFIGS if OmegaConf.load(path)._target_.endswith(".ConvAutoencoder")
]
SIZES = [(28, 28), (37, 53), (48, 48), (128, 96)]


@pytest.fixture(params=MODEL_CONFIGS, ids=[path.stem for path in MODEL_CONFIGS])
def config(request: pytest.FixtureRequest) -> Path:
    return request.param


def build(config: Path, in_channels: int = 1, **overrides: object) -> nn.Module:
    """The model a config file makes, with in_channels set as data.channels would set it."""
    cfg = OmegaConf.load(config)
    cfg.in_channels = in_channels
    for key, value in overrides.items():
        cfg[key] = value
    return instantiate(cfg)


def build_small(config: Path, in_channels: int = 1, **overrides: object) -> nn.Module:
    # Width changes no shape and no receptive field; 4 channels keep the suite fast on 2 cores.
    return build(config, in_channels, base_channels=4, **overrides)


def call(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """model(x), or model(x, sigma) with sigma 25 per image for a net that takes the level."""
    return restore(model, x, torch.full((x.shape[0], 1, 1, 1), 25 / 255, dtype=x.dtype))


def test_config_reads_channels_from_data(config: Path) -> None:
    raw = OmegaConf.to_container(OmegaConf.load(config), resolve=False)
    assert raw["in_channels"] == "${data.channels}"
    assert raw["_target_"].startswith("restorelab.models.")


@pytest.mark.parametrize("channels", [1, 3])
def test_default_config_instantiates_through_data_channels(config: Path, channels: int) -> None:
    cfg = OmegaConf.create({"data": {"channels": channels}, "model": OmegaConf.load(config)})
    model = instantiate(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0
    # None: attention or channel pooling over the whole image (test_global_models_...).
    field = model.receptive_field
    assert field is None or (isinstance(field, int) and field > 1)
    x = torch.rand(2, channels, 29, 31)
    assert call(model, x).shape == x.shape


@pytest.mark.parametrize("size", SIZES, ids=[f"{h}x{w}" for h, w in SIZES])
@pytest.mark.parametrize("channels", [1, 3])
def test_output_shape_matches_input(config: Path, channels: int, size: tuple[int, int]) -> None:
    model = build_small(config, channels)
    x = torch.rand(2, channels, *size)
    out = call(model, x)
    assert out.shape == x.shape
    assert torch.isfinite(out).all()


def test_multispectral_input(config: Path) -> None:
    model = build_small(config, 5)
    x = torch.rand(2, 5, 33, 30)
    assert call(model, x).shape == x.shape


@pytest.mark.parametrize("size", [(5, 7), (1, 1)], ids=["5x7", "1x1"])
def test_tiny_images(config: Path, size: tuple[int, int]) -> None:
    # Default depth: a 5x7 image is far below 2**depth and padding must fall back from reflect.
    model = build_small(config, 1)
    x = torch.rand(2, 1, *size)
    assert call(model, x).shape == x.shape
    assert call(model.eval(), x).shape == x.shape


def test_gradients_reach_input_and_every_parameter(config: Path) -> None:
    model = build_small(config, 3)
    x = torch.rand(2, 3, 37, 53, requires_grad=True)
    call(model, x).square().mean().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    unused = [name for name, p in model.named_parameters() if p.grad is None]
    assert not unused


def test_eval_is_deterministic(config: Path) -> None:
    model = build_small(config, 1, **_dropout_if_supported(config)).eval()
    x = torch.rand(2, 1, 37, 53)
    assert torch.equal(call(model, x), call(model, x))


def _dropout_if_supported(config: Path) -> dict[str, float]:
    return {"dropout": 0.5} if "dropout" in OmegaConf.load(config) else {}


def test_autocast_bfloat16(config: Path) -> None:
    model = build_small(config, 3)
    x = torch.rand(2, 3, 37, 53)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = call(model, x)
    assert out.shape == x.shape and torch.isfinite(out).all()
    out.float().mean().backward()


@pytest.mark.parametrize("norm", ["group", "instance"])
def test_autocast_bfloat16_other_norms(norm: str) -> None:
    model = ConvAutoencoder(in_channels=3, base_channels=4, depth=2, norm=norm, up="upsample")
    x = torch.rand(2, 3, 21, 19)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert model(x).shape == x.shape


def test_channels_last_matches_contiguous(config: Path) -> None:
    model = build_small(config, 3).eval()
    x = torch.rand(2, 3, 37, 53)
    expected = call(model, x)
    model = model.to(memory_format=torch.channels_last)
    out = call(model, x.contiguous(memory_format=torch.channels_last))
    assert out.shape == x.shape
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)


# Receptive field: the analytic value must equal the extent of the input pixels that receive a
# gradient from one output pixel. With all weights positive (leaky ReLU, batch norm at its
# initial eval statistics, identity output) every path adds a positive term, so no gradient
# cancels and the nonzero set is exactly the dependency set.


def empirical_receptive_field(model: nn.Module, channels: int, period: int) -> int:
    """Largest extent, over `period` consecutive output positions, of the nonzero input gradient."""
    model = _swap_max_pool(model).double().eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                # Scaled by a fan so activations stay O(1) through 17 layers.
                module.weight.uniform_(0.5, 1.5).div_(module.weight[0].numel())
                if module.bias is not None:
                    module.bias.uniform_(0.0, 0.1)
    # Room for the field of every probe, rounded to a multiple of the period: no padding inside.
    size = -(-(model.receptive_field + 4 * period + 8) // period) * period
    x = (torch.rand(period, channels, size, size, dtype=torch.float64) + 0.5).requires_grad_()
    out = call(model, x)
    center = size // 2
    # Batch element b probes the output pixel (center + b, center + b): one backward for all.
    probes = torch.stack([out[b, :, center + b, center + b].sum() for b in range(period)])
    probes.sum().backward()
    extents = []
    for grad in x.grad:
        rows = grad.abs().sum(0).sum(1).nonzero().flatten()
        cols = grad.abs().sum(0).sum(0).nonzero().flatten()
        # The dependency set must not touch the border, or the image clipped it.
        assert rows.min() > 0 and cols.min() > 0 and rows.max() < size - 1 and cols.max() < size - 1
        extents += [int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)]
    return max(extents)


def _swap_max_pool(model: nn.Module) -> nn.Module:
    # Max-pool routes the gradient to one pixel of its window; average pooling reads the same
    # window with positive weights, which is what the dependency set is about.
    for name, child in model.named_children():
        if isinstance(child, nn.MaxPool2d):
            setattr(model, name, nn.AvgPool2d(child.kernel_size, child.stride))
        else:
            _swap_max_pool(child)
    return model


def _period(model: nn.Module) -> int:
    # Strided levels make the dependency set depend on the output position modulo 2**depth.
    if isinstance(model, ConvAutoencoder):
        return 2**model.depth
    if isinstance(model, DRUNet):
        return 2 ** (model.num_scales - 1)
    return 2 if isinstance(model, FFDNet) else 1


def _receptive_field_overrides(config: Path) -> dict[str, str]:
    # Group and instance norms pool over the whole image; gelu / silu have zero-slope points.
    # Only the keys a model has: not every family has a norm, an activation or an output head.
    cfg = OmegaConf.load(config)
    overrides = {}
    if "norm" in cfg:
        overrides["norm"] = cfg.norm if cfg.norm in ("batch", "bias_free_batch") else "none"
    if "activation" in cfg:
        overrides["activation"] = "leaky_relu"
    if "output" in cfg:
        overrides["output"] = "identity"
    return overrides


def test_receptive_field_matches_empirical(config: Path) -> None:
    model = build_small(config, 2, **_receptive_field_overrides(config))
    if model.receptive_field is None:
        pytest.skip("the whole image: test_global_models_read_the_whole_image")
    assert empirical_receptive_field(model, 2, _period(model)) == model.receptive_field


def test_global_models_read_the_whole_image(config: Path) -> None:
    # receptive_field None claims every output pixel depends on every input pixel: a change in
    # one corner reaches the opposite corner. Random weights: some families start as identities.
    model = build_small(config, 1)
    if model.receptive_field is not None:
        pytest.skip("finite receptive field: test_receptive_field_matches_empirical")
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.5)
    model = model.double().eval()
    x = torch.rand(1, 1, 48, 48, dtype=torch.float64, requires_grad=True)
    call(model, x)[0, 0, -1, -1].backward()
    assert x.grad[0, 0, 0, 0] != 0


@pytest.mark.parametrize(
    "arguments",
    [
        {"skip": "add", "input_skip": True, "down": "maxpool"},
        {"skip": "none", "up": "upsample", "kernel_size": 5},
        {"skip": "concat", "input_skip": False, "down": "maxpool", "up": "upsample", "depth": 2},
        {"skip": "none", "input_skip": True, "kernel_size": 7, "depth": 1, "residual": True},
        {"skip": "concat", "input_skip": True, "convs_per_block": 1},
        {"skip": "add", "down": "maxpool", "up": "upsample", "convs_per_block": 1},
    ],
    ids=[
        "add-maxpool",
        "none-upsample-k5",
        "concat-maxpool-upsample",
        "input-only-k7",
        "concat-input-one-conv",
        "add-maxpool-upsample-one-conv",
    ],
)
def test_autoencoder_variants(arguments: dict) -> None:
    model = ConvAutoencoder(
        in_channels=2,
        base_channels=4,
        channel_multipliers=[1, 1, 2][: arguments.get("depth", 3)],
        norm="none",
        output="identity",
        **arguments,
    )
    x = torch.rand(2, 2, 37, 53)
    assert model(x).shape == x.shape
    assert empirical_receptive_field(model, 2, _period(model)) == model.receptive_field


@pytest.mark.parametrize("config", AUTOENCODER_CONFIGS, ids=[p.stem for p in AUTOENCODER_CONFIGS])
def test_channel_multipliers_from_config(config: Path) -> None:
    depth = OmegaConf.load(config).depth
    multipliers = [1] * (depth - 1) + [3]  # Hydra hands over a ListConfig
    model = build_small(config, 1, channel_multipliers=multipliers)
    assert [block.layers[0].out_channels for block in model.encoder] == [4 * m for m in multipliers]
    x = torch.rand(2, 1, 19, 23)
    assert model(x).shape == x.shape


@pytest.mark.parametrize(
    ("stem", "num_convs", "num_parameters"),
    [
        # The write-up's 9 layers: 4 strided conv down, 4 transposed conv up, 1 output conv.
        ("conv_ae", 9, 785_889),
        ("conv_ae_maxpool", 9, 785_889),
        # 3 levels of 2 convs down and transposed conv + 2 convs up, 1 output conv.
        ("unet", 16, 545_889),
    ],
)
def test_autoencoder_config_layers(stem: str, num_convs: int, num_parameters: int) -> None:
    model = build(MODEL_DIR / f"{stem}.yaml", 1)
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert len(convs) == num_convs
    assert sum(p.numel() for p in model.parameters()) == num_parameters


@pytest.mark.parametrize("kernel_size", [3, 5])
def test_receptive_field_formulas(kernel_size: int) -> None:
    assert DnCNN(1, depth=17, kernel_size=kernel_size).receptive_field == 17 * (kernel_size - 1) + 1
    for num_layers in (10, 20, 30):
        rednet = REDNet(1, num_layers=num_layers, base_channels=4, kernel_size=kernel_size)
        assert rednet.receptive_field == num_layers * (kernel_size - 1) + 1


@pytest.mark.parametrize("config", AUTOENCODER_CONFIGS, ids=[p.stem for p in AUTOENCODER_CONFIGS])
def test_output_depends_on_input_only_through_the_bottleneck(config: Path) -> None:
    # Double precision: at its initial weights the decoder shrinks a change of the bottleneck
    # below float32 resolution at some pixels.
    model = build_small(config, 1).double().eval()
    bypassed = model.skip != "none" or model.input_skip or model.residual
    if config.stem == "conv_ae":
        assert not bypassed
    x1, x2 = torch.rand(2, 1, 1, 37, 53, dtype=torch.float64)
    bottleneck = model.encoder[-1]
    captured = []
    handle = bottleneck.register_forward_hook(lambda module, args, out: captured.append(out))
    out1 = model(x1)
    handle.remove()
    # Run x2 with x1's bottleneck: without a bypass nothing of x2 can reach the output.
    handle = bottleneck.register_forward_hook(lambda module, args, out: captured[0])
    swapped = model(x2)
    handle.remove()
    assert torch.equal(swapped, out1) is not bypassed
    # And every output pixel depends on the bottleneck.
    handle = bottleneck.register_forward_hook(lambda module, args, out: out + torch.randn_like(out))
    perturbed = model(x1)
    handle.remove()
    assert (perturbed != out1).all()


@pytest.mark.parametrize(
    ("factory", "arguments", "message"),
    [
        (ConvAutoencoder, {"kernel_size": 4}, "kernel_size=4 .* allowed: 3, 5, 7"),
        (ConvAutoencoder, {"skip": "sum"}, "skip='sum' .* allowed: 'none', 'concat', 'add'"),
        (ConvAutoencoder, {"down": "avgpool"}, "down='avgpool' .* allowed"),
        (ConvAutoencoder, {"up": "nearest"}, "up='nearest' .* allowed"),
        (ConvAutoencoder, {"norm": "layer"}, "norm='layer' .* allowed"),
        (ConvAutoencoder, {"activation": "tanh"}, "activation='tanh' .* allowed"),
        (ConvAutoencoder, {"output": "tanh"}, "output='tanh' .* allowed"),
        (ConvAutoencoder, {"depth": 0}, "depth=0 .* allowed"),
        (ConvAutoencoder, {"convs_per_block": 3}, "convs_per_block=3 .* allowed: 1, 2"),
        (ConvAutoencoder, {"convs_per_block": 0}, "convs_per_block=0 .* allowed: 1, 2"),
        (ConvAutoencoder, {"dropout": 1.0}, "dropout=1.0 .* allowed"),
        (ConvAutoencoder, {"channel_multipliers": [1, 2]}, "channel_multipliers.* allowed"),
        (ConvAutoencoder, {"channel_multipliers": [1, 0, 2]}, "channel_multipliers.* allowed"),
        (ConvAutoencoder, {"base_channels": 0}, "base_channels must be >= 1"),
        (ConvAutoencoder, {"out_channels": 3, "residual": True, "output": "identity"}, "equal"),
        (ConvAutoencoder, {"residual": True}, "residual=True needs output"),
        (REDNet, {"num_layers": 9}, "num_layers=9 .* allowed: an even number"),
        (REDNet, {"num_layers": 0}, "num_layers=0 .* allowed"),
        (REDNet, {"kernel_size": 2}, "kernel_size=2 .* allowed"),
        (REDNet, {"output": "sigmoid"}, "residual=True needs output"),
        (DnCNN, {"depth": 1}, "depth=1 .* allowed"),
        (DnCNN, {"kernel_size": 9}, "kernel_size=9 .* allowed"),
        (DnCNN, {"norm": "weight"}, "norm='weight' .* allowed"),
        (DnCNN, {"output": "sigmoid"}, "residual=True needs output"),
    ],
)
def test_unsupported_arguments_raise(factory: type, arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory(in_channels=1, **arguments)


def test_sigmoid_allowed_without_residual() -> None:
    model = DnCNN(in_channels=1, depth=3, base_channels=4, residual=False, output="sigmoid")
    out = model(torch.rand(1, 1, 9, 9))
    assert (out > 0).all() and (out < 1).all()


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (37, 53), (64, 64)])
def test_pad_to_multiple_and_crop_round_trip(size: tuple[int, int]) -> None:
    x = torch.rand(1, 2, *size)
    padded, pads = pad_to_multiple(x, 16)
    assert padded.shape[-2] % 16 == 0 and padded.shape[-1] % 16 == 0
    assert torch.equal(crop(padded, pads), x)


def test_layer_factories() -> None:
    assert isinstance(make_norm("batch", 6), nn.BatchNorm2d)
    assert make_norm("group", 6).num_groups == 2
    assert make_norm("group", 5).num_groups == 1
    assert isinstance(make_norm("instance", 6), nn.InstanceNorm2d)
    assert isinstance(make_norm("none", 6), nn.Identity)
    assert make_activation("leaky_relu").negative_slope == 0.2
    for name, module in [("relu", nn.ReLU), ("gelu", nn.GELU), ("silu", nn.SiLU)]:
        assert isinstance(make_activation(name), module)
    x = torch.tensor([-1.0, 0.5, 2.0])
    assert torch.equal(make_output("clamp")(x), torch.tensor([0.0, 0.5, 1.0]))
    assert torch.equal(make_output("identity")(x), x)


@pytest.mark.parametrize(
    "backend",
    # aot_eager traces forward and backward as torch.compile does, without generating code;
    # inductor (the default) compiles C++ kernels, about 30 s on 2 cores.
    ["aot_eager", pytest.param("inductor", marks=pytest.mark.slow)],
)
def test_torch_compile_unet(backend: str) -> None:
    if backend == "inductor" and shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("torch.compile on CPU needs a C compiler")
    model = ConvAutoencoder(in_channels=1, base_channels=4, depth=2, input_skip=True)
    x = torch.rand(2, 1, 21, 19)
    expected = model(x)
    # fullgraph: a graph break in the model (the padding, the skips) fails the test.
    compiled = torch.compile(model, backend=backend, fullgraph=True)
    try:
        out = compiled(x)
    except torch._dynamo.exc.BackendCompilerFailed as error:  # the toolchain, not the model
        pytest.skip(f"torch.compile backend unavailable: {error}")
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)
    out.mean().backward()
