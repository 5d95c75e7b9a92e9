"""Callbacks that the Lightning library does not ship: image grids for every logger."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from torch import Tensor
from torchvision.utils import make_grid, save_image


def sample_grid(noisy: Tensor, restored: Tensor, clean: Tensor, padding: int = 2) -> Tensor:
    """One row per image: noisy | restored | clean, as a `[3, H', W']` float image in [0, 1]."""
    rows = torch.stack((noisy, restored, clean), dim=1).flatten(0, 1)  # (3B, C, H, W)
    if rows.shape[1] not in (1, 3):  # multispectral: show the first channel
        rows = rows[:, :1]
    return make_grid(rows, nrow=3, padding=padding, pad_value=1.0)


class ImageGridLogger(L.Callback):
    """After each validation (and the test), renders the module's first batch as a grid.

    The grid is written as a PNG under `dirpath` whatever the logger, and also sent to TensorBoard
    and Weights & Biases when those loggers are active. After the test, the images are also kept
    as arrays in `test_samples.npz` for study reports.
    """

    def __init__(self, dirpath: str, every_n_epochs: int = 1) -> None:
        super().__init__()
        self.dirpath = Path(dirpath)
        self.every_n_epochs = every_n_epochs

    @rank_zero_only
    def _log(self, trainer: L.Trainer, module: L.LightningModule, stage: str, name: str) -> None:
        samples = getattr(module, "samples", {}).get(stage)
        if samples is None:
            return
        grid = sample_grid(*samples)
        self.dirpath.mkdir(parents=True, exist_ok=True)
        save_image(grid, self.dirpath / f"{name}.png")
        key = f"{stage}/samples"
        caption = "noisy | restored | clean"
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image(key, grid, global_step=trainer.global_step)
            elif isinstance(logger, WandbLogger):
                logger.log_image(key=key, images=[grid], caption=[caption])

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.current_epoch % self.every_n_epochs:
            return
        self._log(trainer, module, "val", f"val_epoch{trainer.current_epoch:03d}")

    def on_test_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._log(trainer, module, "test", "test")
        self._save_arrays(module)

    @rank_zero_only
    def _save_arrays(self, module: L.LightningModule) -> None:
        # The test images themselves, so a study can put every variant's output side by side
        # (the seeded test noise makes `noisy` and `clean` identical across the runs of a study).
        samples = getattr(module, "samples", {}).get("test")
        if samples is None:
            return
        self.dirpath.mkdir(parents=True, exist_ok=True)
        noisy, restored, clean = (t.numpy().astype(np.float32) for t in samples)
        np.savez_compressed(
            self.dirpath / "test_samples.npz", noisy=noisy, restored=restored, clean=clean
        )
