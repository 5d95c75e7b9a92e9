"""Corruptions: statistics within tolerance, seeding, dtype/device, composition, configs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from restorelab.conf import CONF_DIR as CONF
from restorelab.corruptions import (
    Compose,
    Corruption,
    Desaturate,
    GaussianNoise,
    Identity,
    Mixed,
    Occlusion,
    PixelFlip,
    PoissonNoise,
    SaltPepperNoise,
    SpeckleNoise,
    Stains,
    levelled_corruptions,
)

NOISE_CONFIGS = CONF / "noise"

DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
    ),
]
DTYPES = [torch.float32, torch.float16, torch.bfloat16]

# Every class, with levels drawn per image where it can, as factories so each test gets its own.
CORRUPTIONS: dict[str, Callable[[], Corruption]] = {
    "gaussian": lambda: GaussianNoise(sigma=[5, 50]),
    "gaussian_clip": lambda: GaussianNoise(sigma=25, clip=True),
    "speckle": lambda: SpeckleNoise(sigma=[10, 40]),
    "poisson": lambda: PoissonNoise(peak=[5, 50], read_sigma=2),
    "salt_pepper": lambda: SaltPepperNoise(amount=[0.05, 0.3]),
    "pixel_flip": lambda: PixelFlip(amount=[0.05, 0.3], per_channel=True),
    "occlusion": lambda: Occlusion(count=[1, 3], size=[0.1, 0.4], fill="noise"),
    "desaturate": lambda: Desaturate(strength=[0.3, 1.0]),
    "stains": lambda: Stains(),
    "identity": lambda: Identity(),
    "compose_one_of": lambda: Compose([GaussianNoise([0, 50]), Occlusion()], mode="one_of"),
    "mixed": lambda: Mixed(
        gaussian=GaussianNoise(sigma=[5, 50]),
        pixel_flip=PixelFlip(),
        occlusion=Occlusion(fill="mean"),
        desaturate=Desaturate(),
        probabilities={"gaussian": 0.5, "pixel_flip": 0.5, "occlusion": 0.5, "desaturate": 0.5},
    ),
}


def seeded(seed: int, device: str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def images(shape: tuple[int, ...] = (4, 3, 32, 32), seed: int = 0) -> torch.Tensor:
    # Strictly inside (0, 1), so that any damage changes a pixel.
    return 0.1 + 0.8 * torch.rand(shape, generator=seeded(seed))


# ------------------------------------------------------------------ the contract, for every class
@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_same_seed_same_output_other_seed_other_output(name: str) -> None:
    corruption, x = CORRUPTIONS[name](), images()
    first, first_mask = corruption.apply(x, seeded(1))
    again, again_mask = corruption.apply(x, seeded(1))
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert (first_mask is None) == (again_mask is None)
    if first_mask is not None:
        assert torch.equal(first_mask, again_mask)
    assert corruption(x).shape == x.shape  # no generator: the global stream
    if name != "identity":
        assert not torch.equal(first, corruption(x, seeded(2)))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_keeps_device_and_dtype_and_leaves_input_untouched(
    name: str, dtype: torch.dtype, device: str
) -> None:
    x = images((2, 3, 17, 23)).to(device=device, dtype=dtype)  # odd sizes on purpose
    before = x.clone()
    noisy, mask = CORRUPTIONS[name]().apply(x, seeded(0, device))
    assert noisy.shape == x.shape and noisy.dtype == dtype and noisy.device == x.device
    assert torch.isfinite(noisy).all()
    assert torch.equal(x, before)
    if mask is not None:
        assert mask.dtype == torch.bool and mask.device == x.device
        assert mask.shape[0] == 2 and mask.shape[1] in (1, 3) and mask.shape[2:] == x.shape[2:]


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_fixed_levels_are_fixed_corruptions_with_module_dict_names(name: str) -> None:
    levels = CORRUPTIONS[name]().fixed_levels()
    nn.ModuleDict(levels)  # the spine keys metrics by these names: no dots allowed
    for level in levels.values():
        assert isinstance(level, Corruption)
        assert level(images()).shape == images().shape


def test_a_corruption_answers_for_its_own_level() -> None:
    blind = GaussianNoise(sigma=[0, 55], clip=True, distribution="uniform")
    assert blind.level_bounds() == (0.0, 55.0) and blind.true_sigma() is None
    fixed = blind.at_level(25)
    assert fixed is not blind and blind.level_bounds() == (0.0, 55.0)  # a copy
    assert fixed.level_bounds() == (25.0, 25.0) and fixed.clip  # its other settings kept
    assert fixed.true_sigma() == pytest.approx(25 / 255) and fixed.level_name(25) == "sigma25"
    assert list(blind.fixed_levels()) == ["sigma15", "sigma25", "sigma50"]  # standard ones in range
    assert list(GaussianNoise(sigma=[0, 10]).fixed_levels()) == ["sigma0", "sigma10"]  # its ends
    impulses = SaltPepperNoise(amount=[0.05, 0.2], salt_ratio=0.9)
    assert {k: v.salt_ratio for k, v in impulses.fixed_levels().items()} == {
        "amount0p05": 0.9, "amount0p2": 0.9}
    assert SpeckleNoise(sigma=25).true_sigma() is None  # not additive: no noise map
    with pytest.raises(ValueError, match="amount must satisfy"):
        impulses.at_level(1.5)
    with pytest.raises(ValueError, match="peak must be > 0"):
        PoissonNoise(peak=30).at_level(0)
    with pytest.raises(ValueError, match="Occlusion has no single level to set; allowed for: .*"
                       "GaussianNoise, .*SaltPepperNoise"):
        Occlusion().at_level(3)
    # Every imported class with a level counts (other tests' own corruptions too): ours are these.
    ours = {c.__name__ for c in levelled_corruptions() if c.__module__.startswith("restorelab.")}
    assert ours == {"Desaturate", "GaussianNoise", "PixelFlip", "PoissonNoise", "SaltPepperNoise",
                    "SpeckleNoise", "Stains"}
    assert SaltPepperNoise.classical_reference == "median" and GaussianNoise.name() == "Gaussian"


def test_nn_module_apply_still_recurses() -> None:
    # `apply` is the contract's name, and also nn.Module's recursive apply(fn).
    visited = []
    holder = nn.Sequential(nn.Identity(), Mixed(gaussian=GaussianNoise(), occlusion=Occlusion()))
    assert holder.apply(lambda m: visited.append(type(m).__name__)) is holder
    assert {"Mixed", "GaussianNoise", "Occlusion"} <= set(visited)


# ------------------------------------------------------------------ statistics
@pytest.mark.parametrize("sigma", [15, 50])
def test_gaussian_residual_std_is_sigma_on_mid_gray(sigma: float) -> None:
    x = torch.full((8, 3, 128, 128), 0.5)
    residual = GaussianNoise(sigma=sigma)(x, seeded(0)) - x
    assert residual.mean().abs() < 1e-3
    assert residual.std().item() == pytest.approx(sigma / 255, rel=0.01)


def test_gaussian_clip_is_off_by_default() -> None:
    x = torch.full((4, 1, 64, 64), 0.5)
    unclipped = GaussianNoise(sigma=50)(x, seeded(0))
    assert unclipped.min() < 0 and unclipped.max() > 1
    clipped = GaussianNoise(sigma=50, clip=True)(x, seeded(0))
    assert clipped.min() >= 0 and clipped.max() <= 1


def test_gaussian_sigma_range_draws_one_sigma_per_image() -> None:
    x = torch.full((16, 1, 96, 96), 0.5)
    stds = (GaussianNoise(sigma=[10, 50])(x, seeded(0)) - x).std(dim=(1, 2, 3)) * 255
    assert stds.min() > 10 * 0.97 and stds.max() < 50 * 1.03
    assert stds.max() - stds.min() > 10  # one batch mixes strengths


def test_speckle_std_scales_with_intensity() -> None:
    x = torch.full((8, 3, 128, 128), 0.5)
    residual = SpeckleNoise(sigma=30)(x, seeded(0)) - x
    assert residual.std().item() == pytest.approx(0.5 * 30 / 255, rel=0.01)
    assert torch.equal(
        SpeckleNoise(sigma=30)(torch.zeros(1, 1, 8, 8), seeded(0)), torch.zeros(1, 1, 8, 8)
    )


@pytest.mark.parametrize("level", [0.2, 0.7])
def test_poisson_mean_and_variance_match_the_peak(level: float) -> None:
    peak = 10.0
    x = torch.full((8, 3, 128, 128), level)
    noisy = PoissonNoise(peak=peak)(x, seeded(0))
    counts = noisy * peak
    torch.testing.assert_close(counts, counts.round())  # whole photon counts
    assert noisy.mean().item() == pytest.approx(level, rel=0.01)
    assert noisy.var().item() == pytest.approx(level / peak, rel=0.03)


def test_poisson_read_noise_adds_its_variance() -> None:
    x = torch.full((8, 3, 128, 128), 0.5)
    noisy = PoissonNoise(peak=20, read_sigma=10)(x, seeded(0))
    assert noisy.var().item() == pytest.approx(0.5 / 20 + (10 / 255) ** 2, rel=0.03)


def test_salt_and_pepper_fraction_and_salt_ratio() -> None:
    x = torch.full((8, 3, 128, 128), 0.5)
    noisy, mask = SaltPepperNoise(amount=0.2, salt_ratio=0.3).apply(x, seeded(0))
    assert mask.shape == (8, 1, 128, 128)
    assert mask.float().mean().item() == pytest.approx(0.2, rel=0.02)
    assert torch.equal((noisy != x).any(dim=1, keepdim=True), mask)
    hit = noisy.masked_select(mask.expand_as(noisy))
    assert set(hit.unique().tolist()) == {0.0, 1.0}
    assert (hit == 1).float().mean().item() == pytest.approx(0.3, rel=0.03)
    assert (noisy[:, 0] == noisy[:, 1]).all()  # whole pixels, all channels alike


@pytest.mark.parametrize("per_channel", [False, True])
def test_pixel_flip_fraction_and_random_values(per_channel: bool) -> None:
    x = torch.full((8, 3, 128, 128), 0.5)
    noisy, mask = PixelFlip(amount=0.1, per_channel=per_channel).apply(x, seeded(0))
    assert mask.shape == (8, 3 if per_channel else 1, 128, 128)
    assert mask.float().mean().item() == pytest.approx(0.1, rel=0.02)
    assert torch.equal(noisy != x, mask.expand_as(x))
    flipped = noisy.masked_select(mask.expand_as(noisy))
    assert flipped.min() >= 0 and flipped.max() <= 1
    assert flipped.mean().item() == pytest.approx(0.5, abs=0.01)
    assert flipped.var().item() == pytest.approx(1 / 12, rel=0.03)  # uniform in [0, 1)


@pytest.mark.parametrize(
    "corruption", [SaltPepperNoise(amount=[0.05, 0.4]), PixelFlip(amount=[0.05, 0.4])]
)
def test_amount_range_draws_one_amount_per_image(corruption: Corruption) -> None:
    _, mask = corruption.apply(torch.full((16, 1, 96, 96), 0.5), seeded(0))
    fractions = mask.float().mean(dim=(1, 2, 3))
    assert fractions.min() > 0.05 * 0.8 and fractions.max() < 0.4 * 1.05
    assert fractions.max() - fractions.min() > 0.1


@pytest.mark.parametrize(
    ("size", "shape", "side"),
    [(8, (4, 3, 32, 40), 8), (0.25, (4, 3, 64, 48), 12), (100, (2, 1, 20, 30), 20)],
)
def test_occlusion_covers_the_stated_area(size: float, shape: tuple[int, ...], side: int) -> None:
    _, mask = Occlusion(count=1, size=size).apply(images(shape), seeded(0))
    assert mask.shape == (shape[0], 1, *shape[2:])
    assert mask.sum(dim=(1, 2, 3)).tolist() == [side * side] * shape[0]
    rows, cols = mask.any(dim=3), mask.any(dim=2)  # a single square
    assert rows.sum(dim=(1, 2)).tolist() == cols.sum(dim=(1, 2)).tolist() == [side] * shape[0]


def test_occlusion_count_range_per_image() -> None:
    _, mask = Occlusion(count=[0, 3], size=4).apply(images((64, 1, 64, 64)), seeded(0))
    area = mask.sum(dim=(1, 2, 3))
    assert area.max() <= 3 * 16 and (area == 0).any() and (area > 16).any()


@pytest.mark.parametrize("fill", ["zeros", "noise", "mean"])
def test_occlusion_mask_is_exactly_the_changed_pixels(fill: str) -> None:
    x = images((8, 3, 48, 48))
    noisy, mask = Occlusion(count=[1, 4], size=[4, 16], fill=fill).apply(x, seeded(0))
    assert torch.equal((noisy != x).any(dim=1, keepdim=True), mask)
    hidden = noisy * mask
    if fill == "zeros":
        assert (hidden == 0).all()
    elif fill == "mean":
        expected = (x.mean(dim=(2, 3), keepdim=True) * mask).expand_as(x)
        torch.testing.assert_close(hidden, expected)


def test_desaturate_gives_equal_channels_of_luma() -> None:
    x = images((4, 3, 16, 16))
    gray = Desaturate()(x)
    assert torch.equal(gray[:, 0], gray[:, 1]) and torch.equal(gray[:, 1], gray[:, 2])
    luma = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    torch.testing.assert_close(gray[:, 0], luma)
    torch.testing.assert_close(Desaturate(strength=0.0)(x), x)


def test_desaturate_strength_range_per_image() -> None:
    x = images((32, 3, 8, 8))
    faded = Desaturate(strength=[0.0, 1.0])(x, seeded(0))
    spread = (faded.amax(dim=1) - faded.amin(dim=1)).mean(dim=(1, 2)) / (
        x.amax(dim=1) - x.amin(dim=1)
    ).mean(dim=(1, 2))
    assert spread.min() < 0.2 and spread.max() > 0.8  # kept colour: 1 - strength per image


def test_desaturate_on_gray_data_says_to_use_rgb() -> None:
    with pytest.raises(ValueError, match="channels: 3"):
        Desaturate()(images((2, 1, 8, 8)))


def test_stains_darken_smoothly_within_darkness() -> None:
    page = torch.ones(8, 1, 64, 64)
    stained = Stains(count=[1, 3], radius=[0.1, 0.3], darkness=0.5)(page, seeded(0))
    assert stained.max() <= 1 and stained.min() >= (1 - 0.5) * (1 - 0.25) - 1e-6
    assert (stained.amin(dim=(1, 2, 3)) < 0.8).all()  # every page has a visible stain
    # Smooth: neighbouring pixels differ little (no speckle, no hard edges).
    assert (stained[..., 1:] - stained[..., :-1]).abs().max() < 0.1
    rgb = Stains()(images((2, 3, 32, 32)), seeded(0)) / images((2, 3, 32, 32))
    torch.testing.assert_close(rgb[:, 0], rgb[:, 2])  # all channels darkened alike


# ------------------------------------------------------------------ composition
def test_compose_honours_the_order() -> None:
    x = images((2, 3, 32, 32))
    then_noise = Compose([Desaturate(), GaussianNoise(sigma=25)])(x, seeded(0))
    then_gray = Compose([GaussianNoise(sigma=25), Desaturate()])(x, seeded(0))
    assert not torch.equal(then_noise[:, 0], then_noise[:, 1])
    assert torch.equal(then_gray[:, 0], then_gray[:, 1])


def test_compose_probability_is_per_image_and_mask_is_the_union() -> None:
    x = images((64, 3, 16, 16))
    composed = Compose(
        {"flip": PixelFlip(amount=0.2), "occlusion": Occlusion(count=1, size=4)},
        probabilities={"occlusion": 0.5},
    )
    noisy, mask = composed.apply(x, seeded(0))
    assert torch.equal((noisy != x).any(dim=1, keepdim=True), mask)
    occluded = (noisy == 0).all(dim=1).flatten(1).sum(dim=1) >= 16
    assert 10 < occluded.sum() < 54  # some images, not all


def test_compose_mask_counts_global_noise_as_all_pixels() -> None:
    x = images((32, 3, 16, 16))
    composed = Compose([Occlusion(count=1, size=4), GaussianNoise()], probabilities=[1, 0.5])
    _, mask = composed.apply(x, seeded(0))
    per_image = mask.sum(dim=(1, 2, 3))
    assert set(per_image.tolist()) == {16, 256}
    assert Compose([GaussianNoise(), Desaturate()]).apply(x)[1] is None


def test_compose_one_of_picks_one_per_image_by_weight() -> None:
    x = images((400, 3, 4, 4))
    composed = Compose(
        {"gray": Desaturate(), "noise": GaussianNoise(sigma=50)}, mode="one_of", weights=[3, 1]
    )
    noisy = composed(x, seeded(0))
    gray = (noisy[:, 0] == noisy[:, 1]).flatten(1).all(dim=1)
    assert gray.float().mean().item() == pytest.approx(0.75, abs=0.07)


def test_mixed_takes_the_write_up_keys_and_skips_null_parts() -> None:
    mixed = Mixed(
        gaussian=GaussianNoise(),
        occlusion=Occlusion(),
        order=["occlusion", "pixel_flip", "desaturate", "gaussian"],
    )
    assert list(mixed.corruptions) == ["occlusion", "gaussian"]
    with pytest.raises(ValueError, match="order"):
        Mixed(gaussian=GaussianNoise(), order=["gaussian", "occlusion"])
    with pytest.raises(ValueError, match="allowed"):
        Mixed(gaussian=GaussianNoise(), probabilities={"blur": 0.5})


def test_mixed_probability_is_per_image() -> None:
    mixed = Mixed(occlusion=Occlusion(count=1, size=4), probabilities={"occlusion": 0.5})
    _, mask = mixed.apply(images((64, 3, 16, 16)), seeded(0))
    hit = mask.flatten(1).any(dim=1)
    assert 10 < hit.sum() < 54


# ------------------------------------------------------------------ fixed levels
def test_gaussian_fixed_levels_are_the_standard_sigmas_in_range() -> None:
    levels = GaussianNoise(sigma=[0, 55], clip=True).fixed_levels()
    assert list(levels) == ["sigma15", "sigma25", "sigma50"]
    assert levels["sigma25"].sigma == (25.0, 25.0) and levels["sigma25"].clip
    assert list(GaussianNoise(sigma=[5, 10]).fixed_levels()) == ["sigma5", "sigma10"]
    assert GaussianNoise(sigma=25).fixed_levels() == {}


def test_composed_fixed_levels() -> None:
    sequence = Compose({"occlusion": Occlusion(), "gaussian": GaussianNoise(sigma=[10, 30])})
    levels = sequence.fixed_levels()
    assert list(levels) == ["gaussian_sigma15", "gaussian_sigma25"]
    assert isinstance(levels["gaussian_sigma15"].corruptions["occlusion"], Occlusion)
    one_of = Compose(
        {"occlusion": Occlusion(), "gaussian": GaussianNoise(sigma=[10, 30])}, mode="one_of"
    )
    assert list(one_of.fixed_levels()) == ["occlusion", "gaussian_sigma15", "gaussian_sigma25"]
    assert list(SaltPepperNoise(amount=[0.05, 0.2]).fixed_levels()) == ["amount0p05", "amount0p2"]


# ------------------------------------------------------------------ arguments and configs
@pytest.mark.parametrize(
    "make",
    [
        lambda: GaussianNoise(sigma=[50, 10]),
        lambda: GaussianNoise(sigma="25"),
        lambda: SaltPepperNoise(amount=1.5),
        lambda: Occlusion(fill="blur"),
        lambda: Occlusion(size=[0.5, 8]),
        lambda: Occlusion(count=1.5),
        lambda: Compose([GaussianNoise()], mode="all"),
        lambda: Compose([GaussianNoise()], weights=[1]),
        lambda: Compose([]),
    ],
)
def test_unsupported_arguments_raise_value_error(make: Callable[[], Corruption]) -> None:
    with pytest.raises(ValueError):
        make()


@pytest.mark.parametrize("path", sorted(NOISE_CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_noise_config_instantiates_and_runs(path: Path) -> None:
    corruption = instantiate(OmegaConf.load(path))
    assert isinstance(corruption, Corruption)
    for dtype in (torch.float32, torch.bfloat16):
        x = images((2, 3, 32, 32)).to(dtype)
        noisy = corruption(x, seeded(0))
        assert noisy.shape == x.shape and noisy.dtype == dtype
    nn.ModuleDict(corruption.fixed_levels())


def test_mixed_config_takes_command_line_overrides() -> None:
    with initialize_config_dir(config_dir=str(NOISE_CONFIGS), version_base="1.3"):
        cfg = compose(config_name="mixed", overrides=["occlusion.count=3", "desaturate=null"])
    mixed = instantiate(cfg)
    assert mixed.corruptions["occlusion"].count == (3, 3)
    assert "desaturate" not in mixed.corruptions
    assert mixed(images((2, 1, 16, 16)), seeded(0)).shape == (2, 1, 16, 16)  # gray works now
