"""Training objectives: supervised and from noisy images only (Noise2Noise, Neighbor2Neighbor,
Noise2Void / N2V2, Recorrupted-to-Recorrupted), their sub-samplers and masks, noisy-only data."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import numpy as np
import pytest
import torch
from conftest import CONF, config_files, run_train
from omegaconf import OmegaConf
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

import restorelab.train
from restorelab.corruptions.noise import GaussianNoise, SaltPepperNoise
from restorelab.errors import ConfigError, DataError
from restorelab.models.conditioning import noise_level_map
from restorelab.module import DenoisingModule
from restorelab.objectives import (
    NEIGHBOUR_PAIRS,
    Neighbor2Neighbor,
    Noise2Noise,
    Noise2Void,
    Objective,
    Recorrupted2Recorrupted,
    Supervised,
    TrainingStep,
    draw_neighbour_pairs,
    take_cells,
)

SELF_SUPERVISED = ["neighbor2neighbor", "noise2void", "r2r"]  # the ones that need no clean image
OBJECTIVES = {
    "noise2noise": Noise2Noise,
    "neighbor2neighbor": partial(Neighbor2Neighbor, gamma=2.0),
    "noise2void": partial(Noise2Void, mask_ratio=0.05),
    "n2v2": partial(Noise2Void, mask_ratio=0.05, n2v2=True),
    "r2r": Recorrupted2Recorrupted,
}


class ConditionalNet(nn.Module):
    """A tiny noise-conditional net: the sigma map is an extra input channel."""

    takes_noise_level = True

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels + 1, channels, 3, padding=1)

    def forward(self, x: Tensor, sigma: Tensor) -> Tensor:
        return x + self.conv(torch.cat([x, noise_level_map(x, sigma, "ConditionalNet")], dim=1))


def _module(objective: Objective | None, net: nn.Module, corruption: nn.Module) -> DenoisingModule:
    return DenoisingModule(
        net=net, corruption=corruption, loss=nn.MSELoss(),
        optimizer=partial(torch.optim.Adam, lr=1e-3), objective=objective,
    )


def _wire_objective(monkeypatch: pytest.MonkeyPatch, name: str, **keys: Any) -> list:
    """Hands conf/objective/<name>.yaml (with `keys`) to the module `train.build_module` builds.

    build_module passes `objective=` itself once train.py has its one line for it; that one then
    wins (`setdefault`). The modules built are returned, so a test checks which objective ran.
    """
    cfg = OmegaConf.merge(OmegaConf.load(CONF / "objective" / f"{name}.yaml"), keys)
    built: list[DenoisingModule] = []

    def build(**kwargs: Any) -> DenoisingModule:
        kwargs.setdefault("objective", hydra.utils.instantiate(cfg))
        built.append(DenoisingModule(**kwargs))
        return built[-1]

    monkeypatch.setattr(restorelab.train, "DenoisingModule", build)
    return built


# ---------------------------------------------------------------------------- the losses
@pytest.mark.parametrize("conditional", [False, True], ids=["blind", "conditional"])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_loss_is_a_scalar_with_gradients_and_differs_from_supervised(
    name: str, channels: int, conditional: bool
) -> None:
    torch.manual_seed(0)
    net = ConditionalNet(channels) if conditional else nn.Conv2d(channels, channels, 3, padding=1)
    clean = torch.rand(2, channels, 17, 13)  # odd sizes: neighbor2neighbor drops the last row
    module = _module(OBJECTIVES[name](), net, GaussianNoise(sigma=25))
    torch.manual_seed(1)
    loss = module.training_step(clean, 0)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    torch.manual_seed(1)
    supervised = _module(None, net, GaussianNoise(sigma=25)).training_step(clean, 0)
    assert not torch.isclose(loss, supervised), "the objective computed the supervised loss"


def test_supervised_is_the_default_and_bit_for_bit_the_old_step() -> None:
    net = nn.Conv2d(1, 1, 3, padding=1)
    clean = torch.rand(2, 1, 16, 16)
    module = _module(None, net, GaussianNoise(sigma=25))
    assert isinstance(module.objective, Supervised)
    torch.manual_seed(3)
    loss = module.training_step(clean, 0)
    torch.manual_seed(3)
    noisy = GaussianNoise(sigma=25).apply_with_level(clean).noisy
    assert torch.equal(loss, nn.functional.mse_loss(net(noisy), clean))


def test_noise2noise_targets_a_second_independent_draw_or_the_real_pair() -> None:
    seen: list[Tensor] = []

    def restore(x: Tensor, sigma: Tensor | None) -> Tensor:
        seen.append(x)
        return x

    clean = torch.zeros(2, 1, 64, 64)
    module = _module(Noise2Noise(), nn.Identity(), GaussianNoise(sigma=25))
    step = TrainingStep(clean, False, lambda b: module._pair(b, module.corruption, None), restore,
                        lambda r, t, m: nn.functional.mse_loss(r, t))
    loss = Noise2Noise()(step)
    # Input and target are independent draws of sigma 25: the MSE between them is 2 sigma^2
    # (one draw used twice would give 0).
    assert loss.item() == pytest.approx(2 * (25 / 255) ** 2, rel=0.1)
    assert len(seen) == 1 and not torch.equal(seen[0], torch.zeros_like(clean))
    a, b = torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8)
    pair = TrainingStep((a, b), False, step.pair, restore, step.loss)
    assert torch.equal(Noise2Noise()(pair), nn.functional.mse_loss(a, b))


# ---------------------------------------------------------------------------- neighbour sub-sampler
def test_neighbour_subsampler_picks_two_adjacent_pixels_of_each_cell() -> None:
    b, c, h, w = 3, 2, 9, 12  # an odd height: the last row has no cell
    positions = torch.arange(h * w, dtype=torch.float64).view(1, 1, h, w)
    y = positions.expand(b, c, h, w) + 1000.0 * torch.arange(c).view(1, c, 1, 1)
    first, second = draw_neighbour_pairs(y, torch.Generator().manual_seed(0))
    g1, g2 = take_cells(y, first), take_cells(y, second)
    assert g1.shape == g2.shape == (b, c, h // 2, w // 2)
    # Channels share the pixels picked; channel 1 is channel 0 plus 1000.
    assert torch.equal(g1[:, 1] - 1000.0, g1[:, 0]) and torch.equal(g2[:, 1] - 1000.0, g2[:, 0])
    rows1, cols1 = (g1[:, 0] // w).long(), (g1[:, 0] % w).long()
    rows2, cols2 = (g2[:, 0] // w).long(), (g2[:, 0] % w).long()
    cell_rows = torch.arange(h // 2).view(1, -1, 1)
    cell_cols = torch.arange(w // 2).view(1, 1, -1)
    for rows, cols in ((rows1, cols1), (rows2, cols2)):  # both pixels inside their own cell
        assert torch.equal(rows // 2, cell_rows.expand_as(rows))
        assert torch.equal(cols // 2, cell_cols.expand_as(cols))
    # Different pixels, edge-adjacent (never diagonal).
    assert torch.equal((rows1 - rows2).abs() + (cols1 - cols2).abs(), torch.ones_like(rows1))
    # Every one of the 8 ordered pairs is drawn somewhere.
    drawn = {(int(p), int(q)) for p, q in zip(first.flatten(), second.flatten())}
    assert drawn == set(NEIGHBOUR_PAIRS)


def test_neighbor2neighbor_regulariser_is_weighted_by_gamma() -> None:
    y = torch.rand(2, 1, 16, 16)
    net = nn.Conv2d(1, 1, 3, padding=1)
    step = TrainingStep(y, True, lambda b: None, lambda x, s: net(x), lambda r, t, m: None)
    losses = []
    for gamma in (0.0, 2.0, 4.0):
        torch.manual_seed(5)
        losses.append(Neighbor2Neighbor(gamma=gamma)(step).item())
    # loss = base + gamma * regulariser: equal steps in gamma give equal steps in the loss.
    assert losses[1] > losses[0]
    assert abs((losses[2] - losses[1]) - (losses[1] - losses[0])) < 1e-6


# ---------------------------------------------------------------------------- noise2void
@pytest.mark.parametrize("n2v2", [False, True], ids=["n2v", "n2v2"])
def test_noise2void_masks_mask_ratio_pixels_with_neighbour_values(n2v2: bool) -> None:
    b, c, h, w, r = 2, 3, 40, 30, 2
    y = torch.rand(b, c, h, w)
    objective = Noise2Void(mask_ratio=0.01, radius=r, n2v2=n2v2)
    masked, mask = objective.blind_spot(y, torch.Generator().manual_seed(0))
    assert mask.shape == (b, 1, h, w)
    assert mask.sum(dim=(1, 2, 3)).tolist() == [round(0.01 * h * w)] * b
    assert torch.equal(masked[~mask.expand_as(y)], y[~mask.expand_as(y)])  # others untouched
    padded = nn.functional.pad(y, (r, r, r, r), mode="reflect")
    for i, row, col in mask.nonzero()[:, [0, 2, 3]].tolist():
        window = padded[i, :, row : row + 2 * r + 1, col : col + 2 * r + 1].reshape(c, -1)
        centre = window.shape[1] // 2
        neighbours = torch.cat([window[:, :centre], window[:, centre + 1 :]], dim=1)
        value = masked[i, :, row, col]
        if n2v2:
            assert torch.equal(value, neighbours.median(dim=1).values)
        else:  # one neighbour's colour, never the pixel itself
            assert (neighbours == value[:, None]).all(dim=0).any()
            assert not torch.equal(value, y[i, :, row, col])


def test_noise2void_loss_reads_the_masked_pixels_only() -> None:
    y = torch.rand(1, 1, 32, 32)
    net = nn.Conv2d(1, 1, 1)  # per pixel: the output at a masked pixel sees its replacement only
    objective = Noise2Void(mask_ratio=0.005, radius=2)

    def loss_of(image: Tensor) -> Tensor:
        torch.manual_seed(7)
        return objective(TrainingStep(image, True, lambda b: None, lambda x, s: net(x), None))

    torch.manual_seed(7)
    _, mask = objective.blind_spot(y)
    # A pixel farther than the radius from every masked one: neither a target nor a source.
    near = nn.functional.max_pool2d(mask.float(), 2 * 2 + 1, stride=1, padding=2)[0, 0]
    row, col = (near == 0).nonzero()[0].tolist()
    perturbed = y.clone()
    perturbed[0, 0, row, col] += 0.5
    assert torch.equal(loss_of(perturbed), loss_of(y))
    row, col = mask[0, 0].nonzero()[0].tolist()
    perturbed = y.clone()
    perturbed[0, 0, row, col] += 0.5  # a masked target: the loss must see it
    assert not torch.equal(loss_of(perturbed), loss_of(y))


# ---------------------------------------------------------------------------- r2r and sigma
def test_r2r_without_a_noise_level_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match="objective.sigma"):
        _module(Recorrupted2Recorrupted(), nn.Conv2d(1, 1, 3, padding=1), SaltPepperNoise())
    # The sigma key stands in for a corruption that cannot say its level.
    module = _module(Recorrupted2Recorrupted(sigma=25), nn.Conv2d(1, 1, 3, padding=1),
                     SaltPepperNoise())
    assert torch.isfinite(module.training_step(torch.rand(2, 1, 8, 8), 0))
    # Real pairs carry no level.
    module = _module(Recorrupted2Recorrupted(), nn.Conv2d(1, 1, 3, padding=1), GaussianNoise())
    with pytest.raises(ConfigError, match="objective.sigma"):
        module.training_step((torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8)), 0)


def test_r2r_target_noise_is_independent_of_the_input_noise() -> None:
    # With f = identity: f(y_hat) - y_bar = sigma z (alpha + 1/alpha); its MSE is
    # sigma^2 (alpha + 1/alpha)^2 whatever y is.
    y = torch.rand(4, 1, 64, 64)
    sigma = torch.full((1, 1, 1, 1), 25 / 255)
    step = TrainingStep(y, True, lambda b: None, lambda x, s: x, None, sigma)
    loss = Recorrupted2Recorrupted(alpha=0.5)(step).item()
    assert loss == pytest.approx((25 / 255) ** 2 * (0.5 + 2.0) ** 2, rel=0.05)


@pytest.mark.parametrize("name", config_files("objective"))
def test_every_objective_config_instantiates(name: str) -> None:
    objective = hydra.utils.instantiate(OmegaConf.load(CONF / "objective" / f"{name}.yaml"))
    assert isinstance(objective, Objective)
    assert not list(objective.parameters()), "objectives hold no parameters"


# ---------------------------------------------------------------------------- noisy-only data
class NoisyImages(Dataset):
    """Noisy observations only: the clean images they came from are not kept anywhere."""

    def __init__(self, count: int, size: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        ramp = torch.linspace(0.2, 0.8, size).view(1, 1, size)
        self.noisy = ramp + 25 / 255 * torch.randn(count, 1, size, size, generator=generator)

    def __len__(self) -> int:
        return len(self.noisy)

    def __getitem__(self, index: int) -> Tensor:
        return self.noisy[index]

    @property
    def clean(self) -> Tensor:
        raise AssertionError("a noisy-only data module has no clean image to touch")


class NoisyOnlyData(L.LightningDataModule):
    noisy_only = True
    channels = 1

    def train_dataloader(self) -> DataLoader:
        return DataLoader(NoisyImages(16, 24, 0), batch_size=4)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(NoisyImages(4, 24, 1), batch_size=4)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(NoisyImages(4, 24, 2), batch_size=4)


class CorruptingIsAnError(GaussianNoise):
    """States sigma 25 for r2r, but treating a batch as clean (corrupting it) fails the test."""

    def apply(self, x: Tensor, generator: torch.Generator | None = None) -> Any:
        raise AssertionError("a noisy-only batch was corrupted as if it were clean")

    def apply_with_level(self, x: Tensor, generator: torch.Generator | None = None) -> Any:
        raise AssertionError("a noisy-only batch was corrupted as if it were clean")


def _fit_noisy_only(objective: Objective, monitor: str = "val/loss") -> L.Trainer:
    module = DenoisingModule(
        net=nn.Conv2d(1, 1, 3, padding=1), corruption=CorruptingIsAnError(sigma=25),
        loss=nn.MSELoss(), optimizer=partial(torch.optim.Adam, lr=1e-3), objective=objective,
        monitor=monitor, monitor_mode="min",
    )
    trainer = L.Trainer(
        accelerator="cpu", max_epochs=2, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )
    before = [p.detach().clone() for p in module.net.parameters()]
    trainer.fit(module, datamodule=NoisyOnlyData())
    assert any(not torch.equal(a, p) for a, p in zip(before, module.net.parameters()))
    return trainer


@pytest.mark.parametrize("name", SELF_SUPERVISED + ["n2v2"])
def test_self_supervised_trains_on_noisy_only_data_without_clean_images(name: str) -> None:
    trainer = _fit_noisy_only(OBJECTIVES[name]())
    val = trainer.callback_metrics
    assert torch.isfinite(val["val/loss"]) and "val/psnr" not in val
    tested = trainer.test(trainer.lightning_module, datamodule=NoisyOnlyData(), verbose=False)[0]
    assert set(tested) == {"test/loss"}
    # Fixed seeds: the same validation loss when scored twice.
    again = trainer.validate(trainer.lightning_module, datamodule=NoisyOnlyData(), verbose=False)
    first = trainer.validate(trainer.lightning_module, datamodule=NoisyOnlyData(), verbose=False)
    assert again == first


@pytest.mark.parametrize(
    ("objective", "monitor", "message"),
    [
        (Supervised(), "val/loss", "no clean image"),
        (Noise2Noise(), "val/loss", "second noisy draw"),
        (Neighbor2Neighbor(), "val/psnr", "monitor=val/loss monitor_mode=min"),
    ],
    ids=["supervised", "noise2noise", "monitor_psnr"],
)
def test_noisy_only_data_refuses_what_needs_clean_images(
    objective: Objective, monitor: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        _fit_noisy_only(objective, monitor)
    assert "\n" not in str(error.value)


def test_conditional_net_on_noisy_only_data_needs_a_stated_sigma() -> None:
    module = DenoisingModule(
        net=ConditionalNet(1), corruption=GaussianNoise(sigma=[5, 50]), loss=nn.MSELoss(),
        optimizer=partial(torch.optim.Adam), objective=Neighbor2Neighbor(),
        monitor="val/loss", monitor_mode="min",
    )
    trainer = L.Trainer(accelerator="cpu", max_steps=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    with pytest.raises(ConfigError, match="fixed noise.sigma"):
        trainer.fit(module, datamodule=NoisyOnlyData())
    # With a stated level the conditional net trains on the noisy images and gets sigma 25.
    module = DenoisingModule(
        net=ConditionalNet(1), corruption=CorruptingIsAnError(sigma=25), loss=nn.MSELoss(),
        optimizer=partial(torch.optim.Adam), objective=Neighbor2Neighbor(),
        monitor="val/loss", monitor_mode="min",
    )
    trainer = L.Trainer(accelerator="cpu", max_steps=2, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, datamodule=NoisyOnlyData())
    assert module._stated_sigma.item() == pytest.approx(25 / 255)


def test_r2r_on_noisy_only_data_needs_a_fixed_sigma() -> None:
    module = DenoisingModule(
        net=nn.Conv2d(1, 1, 3, padding=1), corruption=GaussianNoise(sigma=[5, 50]),
        loss=nn.MSELoss(), optimizer=partial(torch.optim.Adam), objective=Recorrupted2Recorrupted(),
    )
    module.noisy_only = True
    with pytest.raises(ConfigError, match="objective.sigma"):
        module.training_step(torch.rand(2, 1, 8, 8), 0)


def _noisy_folder(root: Path, count: int = 8) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        clean = np.linspace(40, 200, 64)[None, :].repeat(64, 0)
        noisy = np.clip(clean + rng.normal(0, 25, clean.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(root / f"shot{i}.png")
    return root


NOISY_FOLDER = [
    "data=folder", "data.noisy_only=true", "data.patch_size=32", "data.eval_size=32",
    "data.samples_per_epoch=16", "monitor=val/loss", "monitor_mode=min",
]


def test_folder_of_noisy_images_trains_with_neighbor2neighbor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = _wire_objective(monkeypatch, "neighbor2neighbor")
    root = _noisy_folder(tmp_path / "shots")
    result = run_train(tmp_path / "run", [*NOISY_FOLDER, f"data.data_dir={root}", "debug=limit",
                                          "objective=neighbor2neighbor"])
    assert result["status"] == "completed" and result["global_step"] == 12
    assert isinstance(built[0].objective, Neighbor2Neighbor) and built[0].noisy_only
    assert np.isfinite(result["test/loss"]) and "test/psnr" not in result


def test_empty_noisy_folder_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "shots").mkdir()
    with pytest.raises(DataError, match="0 image file") as error:
        run_train(tmp_path / "run", [*NOISY_FOLDER, f"data.data_dir={tmp_path / 'shots'}",
                                     "debug=fdr"])
    assert "\n" not in str(error.value)


def test_noisy_folder_with_a_clean_val_root_trains_on_noisy_and_scores_psnr_on_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from restorelab.data.folder import FolderDataModule

    shots = _noisy_folder(tmp_path / "shots", count=2)  # fewer than 3: all of them train
    clean = tmp_path / "clean"
    clean.mkdir()
    for i in range(4):
        Image.fromarray(np.full((40, 40), 60 + 30 * i, np.uint8)).save(clean / f"c{i}.png")
    dm = FolderDataModule(data_dir=str(shots), val_root=str(clean), noisy_only=True,
                          patch_size=32, eval_size=32)
    dm.setup()
    assert dm.noisy_only and dm.clean_eval
    assert sorted(dm.splits["train"]) == ["train:shot0.png", "train:shot1.png"]
    evaluated = dm.splits["val"] + dm.splits["test"]
    assert sorted(evaluated) == [f"clean:c{i}.png" for i in range(4)] and dm.splits["val"]
    train = torch.stack([dm.datasets["train"][i] for i in range(16)])
    assert train.std() > 0.05  # noisy crops: the flat clean images would have std 0 per crop
    built = _wire_objective(monkeypatch, "neighbor2neighbor")
    keys = [k for k in NOISY_FOLDER if not k.startswith("monitor")]
    result = run_train(tmp_path / "run", [*keys, f"data.data_dir={shots}", f"data.val_root={clean}",
                                          "debug=limit", "objective=neighbor2neighbor"])
    assert built[0].noisy_only and not built[0].noisy_eval
    assert result["status"] == "completed" and 0 < result["test/psnr"] < 100
    assert "best_val/psnr" in result  # the monitor stays val/psnr: clean images score it


def test_lazy_folder_takes_a_clean_val_root_as_data_folder_does(tmp_path: Path) -> None:
    from restorelab.data.folder import FolderDataModule
    from restorelab.data.lazy_folder import LazyFolderDataModule

    shots = _noisy_folder(tmp_path / "shots", count=2)
    clean = tmp_path / "clean"
    clean.mkdir()
    for i in range(5):
        Image.fromarray(np.full((40, 40), 60 + 30 * i, np.uint8)).save(clean / f"c{i}.png")
    keys = {"data_dir": str(shots), "val_root": str(clean), "noisy_only": True,
            "patch_size": 32, "eval_size": 32, "num_workers": 0}
    lazy = LazyFolderDataModule(**keys)
    lazy.setup()
    eager = FolderDataModule(**keys)
    eager.setup()
    assert lazy.splits == eager.splits and lazy.noisy_only and lazy.clean_eval
    scored = [float(batch.mean()) for batch in lazy.val_dataloader()]
    expected = [float(eager.datasets["val"][i].mean()) for i in range(len(eager.datasets["val"]))]
    assert scored == pytest.approx(expected, abs=1e-6)  # the clean images, decoded when scored


def test_noisy_only_without_a_clean_set_selects_checkpoints_on_val_loss(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = _noisy_folder(tmp_path / "shots")
    keys = [k for k in NOISY_FOLDER if not k.startswith("monitor")]  # no monitor given
    with caplog.at_level("INFO", logger="restorelab.preflight"):
        result = run_train(tmp_path / "run", [*keys, f"data.data_dir={root}", "debug=limit",
                                              "objective=noise2void"])
    lines = [r.getMessage() for r in caplog.records if "selecting checkpoints" in r.getMessage()]
    assert len(lines) == 1 and "val/loss (mode min)" in lines[0] and "val/psnr" in lines[0]
    assert result["status"] == "completed" and result["best_checkpoint"]
    assert np.isfinite(result["best_val/loss"]) and "test/psnr" not in result


def test_empty_noisy_folder_with_a_clean_set_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "shots").mkdir()
    clean = _noisy_folder(tmp_path / "clean", count=3)
    with pytest.raises(DataError, match="0 image file.*training need at least 1") as error:
        run_train(tmp_path / "run", [*NOISY_FOLDER, f"data.data_dir={tmp_path / 'shots'}",
                                     f"data.val_root={clean}", "debug=fdr"])
    assert "\n" not in str(error.value)


# ---------------------------------------------------------------------------- real pairs
class RealPairs(L.LightningDataModule):
    """Pairs of real noise: `pair_target` says whether the second image is clean or noisy."""

    channels = 1

    def __init__(self, pair_target: str) -> None:
        super().__init__()
        self.pair_target = pair_target

    def train_dataloader(self) -> DataLoader:
        images = torch.rand(8, 2, 1, 16, 16)
        return DataLoader([(a, b) for a, b in images], batch_size=4)

    val_dataloader = train_dataloader


@pytest.mark.parametrize(
    ("objective", "pair_target", "message"),
    [
        (Noise2Noise(), "clean", "objective=noise2noise needs a second noisy draw"),
        (Supervised(), "noisy", "needs a clean target"),
        (Recorrupted2Recorrupted(), "clean", "real noise, whose level no corruption states"),
        (Recorrupted2Recorrupted(), "noisy", "objective.sigma"),
    ],
    ids=["noise2noise_on_noisy_clean", "supervised_on_two_shots", "r2r_on_pairs",
         "r2r_on_two_shots"],
)
def test_an_objective_the_pairs_cannot_serve_is_one_clear_error(
    objective: Objective, pair_target: str, message: str
) -> None:
    # GaussianNoise states its sigma, but the pairs' noise is real: r2r must not take it.
    module = _module(objective, nn.Conv2d(1, 1, 3, padding=1), GaussianNoise(sigma=25))
    trainer = L.Trainer(accelerator="cpu", max_steps=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    with pytest.raises(ConfigError, match=message) as error:
        trainer.fit(module, datamodule=RealPairs(pair_target))
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(("objective", "pair_target"),
                         [(Noise2Noise(), "noisy"), (Supervised(), "clean"),
                          (Recorrupted2Recorrupted(sigma=25), "clean"),
                          (Neighbor2Neighbor(), "noisy")],
                         ids=["noise2noise", "supervised", "r2r_with_sigma", "neighbor2neighbor"])
def test_objectives_the_pairs_serve_train_on_them(objective: Objective, pair_target: str) -> None:
    module = _module(objective, nn.Conv2d(1, 1, 3, padding=1), GaussianNoise(sigma=25))
    trainer = L.Trainer(accelerator="cpu", max_steps=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=1, num_sanity_val_steps=0)
    trainer.fit(module, datamodule=RealPairs(pair_target))
    assert trainer.global_step == 1


# ---------------------------------------------------------------------------- training runs
@pytest.mark.parametrize(
    ("name", "keys"),
    [("noise2noise", {}), ("neighbor2neighbor", {}), ("noise2void", {}),
     ("noise2void", {"n2v2": True}), ("r2r", {})],
    ids=["noise2noise", "neighbor2neighbor", "noise2void", "n2v2", "r2r"],
)
def test_each_objective_trains_in_the_training_job(
    name: str, keys: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = _wire_objective(monkeypatch, name, **keys)
    overrides = [f"objective.{k}={str(v).lower()}" for k, v in keys.items()]
    result = run_train(tmp_path, ["debug=limit", f"objective={name}", *overrides])
    assert result["status"] == "completed" and result["global_step"] == 12
    assert type(built[0].objective) is type(OBJECTIVES[name]())
    assert all(getattr(built[0].objective, k) == v for k, v in keys.items())
    assert 0 < result["test/psnr"] < 100


# Test gain over the noisy input (natural data, sigma 25, 160 steps of the default U-Net, best
# checkpoint on the held-out clean test split), measured once on 2 CPU cores shared with other
# jobs (100-200 s per run there): noise2noise +5.60 dB (val +6.46), r2r +5.18 (val +6.08),
# neighbor2neighbor +1.70 (val +0.80), noise2void +1.01 (val +0.85). The last two learn from a
# half-size image or a few masked pixels per step, so 160 steps take them less far; the floors
# sit about half (or 2.5 dB) under the measured gains. A net that does not learn stays near 0 dB.
SHORT_RUN_FLOORS = {
    "noise2noise": 3.0,
    "neighbor2neighbor": 0.8,
    "noise2void": 0.4,
    "r2r": 3.0,
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SHORT_RUN_FLOORS))
def test_short_self_supervised_training_beats_the_noisy_input(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = _wire_objective(monkeypatch, name)
    result = run_train(
        tmp_path,
        [
            f"objective={name}",
            "data.patch_size=48",
            "data.batch_size=8",
            "data.samples_per_epoch=320",
            "data.eval_size=96",
            "trainer.max_epochs=4",
            "optimizer.lr=2e-3",
        ],
    )
    assert isinstance(built[0].objective, type(OBJECTIVES[name]()))
    assert result["global_step"] == 160
    # Scored on the held-out clean test split by the best checkpoint: other photographs, noise.
    gain = result["test/psnr"] - result["test/psnr_noisy"]
    assert gain >= SHORT_RUN_FLOORS[name], f"{name}: {gain:+.2f} dB over the noisy input"
