"""The run's own callbacks: the labelled image grid and the progress bar's epoch count."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from lightning.pytorch.demos.boring_classes import BoringModel
from PIL import Image

from restorelab.callbacks import EpochProgressBar, ImageGridLogger, grid_figure, image_psnr


def samples(count: int = 3, channels: int = 1, size: tuple[int, int] = (40, 56)):
    generator = torch.Generator().manual_seed(0)
    clean = torch.rand(count, channels, *size, generator=generator)
    noisy = (clean + 0.1 * torch.randn(clean.shape, generator=generator)).clamp(0, 1)
    restored = (clean + 0.02 * torch.randn(clean.shape, generator=generator)).clamp(0, 1)
    return noisy, restored, clean


def test_image_psnr_per_image() -> None:
    clean = torch.zeros(2, 1, 4, 4)
    image = clean.clone()
    image[0] += 0.1  # MSE 0.01: 20 dB
    image[1] += 0.01  # MSE 1e-4: 40 dB
    torch.testing.assert_close(image_psnr(image, clean), torch.tensor([20.0, 40.0]))


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_grid_has_column_titles_and_the_psnr_of_each_row(channels: int) -> None:
    noisy, restored, clean = samples(channels=channels)
    figure = grid_figure(noisy, restored, clean, title="validation, epoch 2")
    axes = figure.axes
    assert len(axes) == 3 * 3
    assert [a.get_title() for a in axes[:3]] == ["noisy", "restored", "clean"]
    assert all(a.get_title() == "" for a in axes[3:])  # titled once, at the top
    noisy_psnr, restored_psnr = image_psnr(noisy, clean), image_psnr(restored, clean)
    for row in range(3):
        row_axes = axes[3 * row:3 * row + 3]
        noisy_label, restored_label, clean_label = (a.get_xlabel() for a in row_axes)
        assert noisy_label == f"{noisy_psnr[row]:.2f} dB"
        gain = restored_psnr[row] - noisy_psnr[row]
        assert restored_label == f"{restored_psnr[row]:.2f} dB ({gain:+.2f})"
        assert gain > 0 and clean_label == ""
    assert figure.get_suptitle() == "validation, epoch 2"


def test_the_png_on_disk_is_the_labelled_figure(tmp_path: Path) -> None:
    module = SimpleNamespace(samples={"val": samples(), "test": samples(count=2)})
    trainer = SimpleNamespace(current_epoch=1, global_step=8, loggers=[], sanity_checking=False)
    callback = ImageGridLogger(str(tmp_path / "images"))
    callback.on_validation_epoch_end(trainer, module)
    callback.on_test_epoch_end(trainer, module)
    for name, rows in (("val_epoch001.png", 3), ("test.png", 2)):
        image = Image.open(tmp_path / "images" / name)
        width, height = image.size
        # Titles and labels make it larger than the bare 3 x rows grid of 56 x 40 images.
        assert width > 3 * 56 and height > rows * 40
        assert image.mode == "RGBA"  # matplotlib's rendering, not torchvision's gray grid
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == [
        "test.png", "test_samples.npz", "val_epoch001.png"]  # no temporary file left behind


def test_progress_bar_counts_epochs_from_one() -> None:
    out = io.StringIO()
    bar = EpochProgressBar(console_kwargs={"file": out, "force_terminal": True, "width": 100})
    trainer = L.Trainer(
        max_epochs=2, limit_train_batches=2, limit_val_batches=1, callbacks=[bar], logger=False,
        enable_checkpointing=False, enable_model_summary=False, accelerator="cpu",
    )
    trainer.fit(BoringModel())
    text = out.getvalue()
    assert "Epoch 1/2" in text and "Epoch 2/2" in text
    assert "Epoch 0/1" not in text and "Epoch 1/1" not in text  # what Lightning itself shows
    assert bar._get_train_description(0).strip() == "Epoch 1/2"
    trainer.fit_loop.max_epochs = -1  # no epoch limit (max_steps only): no total shown
    assert bar._get_train_description(4).strip() == "Epoch 5"
