"""Callbacks that the Lightning library does not ship: labelled image grids for every logger, a
progress bar that counts epochs from one (and log lines where no bar can draw), the checkpoint a
run saves when a signal or an error stops it, and Lightning's EMA of the weights made the run's
model everywhere it is read. The budget of CPU time is `restorelab.budget` (re-exported here)."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import (
    EMAWeightAveraging,
    ModelCheckpoint,
    RichProgressBar,
    Timer,
)
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from torch import Tensor
from torchvision.utils import make_grid

from restorelab.atomic import atomic_path
from restorelab.budget import CPUTimeBudget as CPUTimeBudget
from restorelab.budget import parse_duration as parse_duration
from restorelab.progress_log import duration, on_terminal

log = logging.getLogger(__name__)


def sample_grid(noisy: Tensor, restored: Tensor, clean: Tensor, padding: int = 2) -> Tensor:
    """One row per image: noisy | restored | clean, as a `[3, H', W']` float image in [0, 1]."""
    rows = torch.stack((noisy, restored, clean), dim=1).flatten(0, 1)  # (3B, C, H, W)
    if rows.shape[1] not in (1, 3):  # multispectral: show the first channel
        rows = rows[:, :1]
    return make_grid(rows, nrow=3, padding=padding, pad_value=1.0)


def image_psnr(image: Tensor, clean: Tensor) -> Tensor:
    """PSNR in dB of each image of `image` against `clean` (`[B, C, H, W]` in [0, 1]): `[B]`."""
    mse = (image.float() - clean.float()).square().flatten(1).mean(dim=1)
    return -10.0 * torch.log10(mse.clamp_min(1e-10))


def grid_figure(noisy: Tensor, restored: Tensor, clean: Tensor, title: str) -> Any:
    """noisy | restored | clean, one row per image, as a matplotlib `Figure`: the columns are
    titled, and under the noisy and the restored image is its PSNR against the clean one."""
    from matplotlib.figure import Figure  # no pyplot: files only, no display backend needed

    count, channels, height, width = clean.shape
    # A cell about the image's own size (100 px an inch), within bounds that keep the labels
    # legible for 28 px digits and the figure on one screen for whole photographs.
    cell_width = float(np.clip(width / 100, 1.4, 3.2))
    cell_height = cell_width * height / width
    figure = Figure(
        figsize=(3 * cell_width + 0.5, count * (cell_height + 0.3) + 0.8), layout="constrained"
    )
    axes = figure.subplots(count, 3, squeeze=False)
    noisy_psnr, restored_psnr = image_psnr(noisy, clean), image_psnr(restored, clean)
    for row in range(count):
        labels = (
            f"{noisy_psnr[row]:.2f} dB",
            f"{restored_psnr[row]:.2f} dB ({restored_psnr[row] - noisy_psnr[row]:+.2f})",
            "",
        )
        for column, (images, label) in enumerate(zip((noisy, restored, clean), labels)):
            axis = axes[row, column]
            image = images[row].float().clamp(0.0, 1.0)
            image = image[0] if channels != 3 else image.permute(1, 2, 0)  # multispectral: first
            axis.imshow(image.numpy(), cmap="gray" if channels != 3 else None, vmin=0, vmax=1)
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_xlabel(label, fontsize=9, labelpad=2)
            if row == 0:
                axis.set_title(("noisy", "restored", "clean")[column], fontsize=10)
    figure.suptitle(title, fontsize=9)
    return figure


class ImageGridLogger(L.Callback):
    """After each validation (and the test), renders the module's first batch as a grid.

    The grid is written as a PNG under `dirpath` whatever the logger, with column titles and the
    PSNR of each noisy and restored image; TensorBoard and Weights & Biases, when active, get the
    plain `noisy | restored | clean` grid. After the test, the images are also kept as arrays in
    `test_samples.npz` for study reports.
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
        if stage == "val":
            title = f"validation, epoch {trainer.current_epoch + 1}, step {trainer.global_step}"
        else:
            title = "test split"
        title += "\nPSNR against clean, images clipped to [0, 1]"
        figure = grid_figure(*samples, title=title)
        with atomic_path(self.dirpath / f"{name}.png") as tmp:
            figure.savefig(tmp, format="png", dpi=100)
        grid = sample_grid(*samples)
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
        noisy, restored, clean = (t.numpy().astype(np.float32) for t in samples)
        with atomic_path(self.dirpath / "test_samples.npz") as tmp:
            np.savez_compressed(tmp, noisy=noisy, restored=restored, clean=clean)


class EpochProgressBar(RichProgressBar):
    """Lightning's rich progress bar, with epochs counted from one: "Epoch 1/2", "Epoch 2/2".

    Lightning's own bar shows the 0-based epoch over `max_epochs - 1` ("Epoch 0/1", "Epoch
    1/1" for `trainer.max_epochs=2`), which reads as one epoch too few.
    """

    def _get_train_description(self, current_epoch: int) -> str:
        # The one place Lightning builds this text (the epoch start and the validation end).
        description = f"Epoch {current_epoch + 1}"
        max_epochs = self.trainer.max_epochs
        if max_epochs is not None and max_epochs > 0:  # -1 or None: no epoch limit
            description += f"/{max_epochs}"
        if len(self.validation_description) > len(description):
            # As Lightning does: the same width as "Validation", so the bar does not jump.
            description = f"{description:{len(self.validation_description)}}"
        return description


class ProgressLog(L.Callback):
    """Lines in the run's log where the progress bar cannot draw: a Slurm job's output file,
    `nohup python train.py ... > run.log`, a pipe. Rich draws its bar on a terminal only and
    elsewhere prints it once, at the end, so a job of hours would say nothing until it is over.

    Off a terminal (or with the bar disabled) it logs a line every `every_minutes` during
    training, and one after each validation with the monitored metric and its best so far:

        epoch 3/10 · step 2,400/10,000 · train/loss 0.0281 · 0.45 s/step · about 57m00s left
        epoch 3/10 validated · step 3,000/10,000 · val/psnr_levels 29.0712 (best 29.0824) ...

    "Left" is at the rate of this run so far (validation included), and never past `max_time`
    or what a `CPUTimeBudget` has left.
    `always=True` logs on a terminal as well (the lines then go to the run's .log file too).
    """

    def __init__(self, every_minutes: float = 5.0, always: bool = False) -> None:
        super().__init__()
        if every_minutes <= 0:
            raise ValueError(f"every_minutes must be positive, not {every_minutes}")
        self.every = 60.0 * every_minutes
        self.always = always
        self.enabled = False
        self._start: float | None = None
        self._start_cpu = 0.0
        self._clock, self._cpu_clock = time.monotonic, time.process_time
        self._first_step = 0
        self._last = 0.0

    def on_fit_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        bar = trainer.progress_bar_callback
        self.enabled = trainer.is_global_zero and (self.always or bar is None or not on_terminal())

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._start = self._last = self._clock()
        self._start_cpu = self._cpu_clock()
        self._first_step = trainer.global_step  # a resumed run's rate counts its own steps
        if self.enabled:
            log.info("training from step %s: a line every %s and after each validation",
                     f"{trainer.global_step:,}", duration(self.every))

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        if not self.enabled or self._clock() - self._last < self.every:
            return
        self._log(trainer, self._epoch(trainer), self._metric(trainer, "train/loss"))

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not self.enabled or trainer.sanity_checking or self._start is None:
            return
        parts = [f"{self._epoch(trainer)} validated"]
        checkpoint = trainer.checkpoint_callback
        monitor = getattr(checkpoint, "monitor", None)
        current = trainer.callback_metrics.get(monitor) if monitor else None
        if current is not None:
            # The checkpoint callback runs after this one: its best may not count this value yet.
            scores = [float(current)]
            if getattr(checkpoint, "best_model_score", None) is not None:
                scores.append(float(checkpoint.best_model_score))
            best = min(scores) if getattr(checkpoint, "mode", "max") == "min" else max(scores)
            parts.append(f"{monitor} {float(current):.4f} (best {best:.4f})")
        self._log(trainer, *parts, self._metric(trainer, "train/loss"))

    def _log(self, trainer: L.Trainer, *parts: str) -> None:
        now = self._clock()
        self._last = now
        steps = trainer.global_step - self._first_step
        total = trainer.estimated_stepping_batches
        known = math.isfinite(total) and total > 0  # an unsized stream without max_steps: -1
        line = [parts[0], f"step {trainer.global_step:,}" + (f"/{int(total):,}" if known else "")]
        line += [part for part in parts[1:] if part]
        if steps > 0 and self._start is not None:
            per_step = (now - self._start) / steps
            line.append(f"{per_step:.2f} s/step" if per_step < 10 else f"{per_step:.0f} s/step")
            left = per_step * max(0, total - trainer.global_step) if known else math.inf
            cpu = self._cpu_clock() - self._start_cpu
            for callback in trainer.callbacks:
                if isinstance(callback, Timer) and callback.time_remaining("train") is not None:
                    left = min(left, max(0.0, callback.time_remaining("train")))
                if isinstance(callback, CPUTimeBudget) and cpu > 0:
                    # CPU seconds left, at this run's CPU seconds per wall second
                    spare = max(0.0, callback.budget - callback.used)
                    left = min(left, spare * (now - self._start) / cpu)
            if math.isfinite(left):
                line.append(f"about {duration(left)} left")
        log.info(" · ".join(line))

    @staticmethod
    def _epoch(trainer: L.Trainer) -> str:
        epochs = trainer.max_epochs
        total = f"/{epochs}" if epochs is not None and epochs > 0 else ""
        return f"epoch {trainer.current_epoch + 1}{total}"

    @staticmethod
    def _metric(trainer: L.Trainer, key: str) -> str:
        value = trainer.callback_metrics.get(key)
        if value is None:
            return ""
        return f"{key} {float(value):.4f}"


class InterruptCheckpoint(L.Callback):
    """Saves `<dirpath>/interrupted.ckpt` when fitting stops on a signal (SIGTERM from Slurm,
    Kubernetes or `timeout`; Ctrl-C) or an error: the weights, optimizer and loop state of that
    very step, so `ckpt_path=<run>/checkpoints/interrupted.ckpt` resumes without losing the epoch.

    A NaN loss is not saved (the last finite checkpoints are the ones to keep), nor is a run
    stopped before its first step. Under DDP only a SIGTERM (which Lightning relays to every
    rank) is saved: saving is collective, and another error may have reached one rank only.
    """

    FILENAME = "interrupted.ckpt"

    def __init__(self, dirpath: str | Path) -> None:
        super().__init__()
        self.dirpath = Path(dirpath)
        self.exception: BaseException | None = None
        self.saved: Path | None = None

    def on_exception(
        self, trainer: L.Trainer, module: L.LightningModule, exception: BaseException
    ) -> None:
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        from restorelab.errors import NonFiniteLossError

        self.exception = exception
        if trainer.state.fn != "fit" or trainer.global_step == 0:
            return
        if isinstance(exception, NonFiniteLossError):
            return
        if trainer.world_size > 1 and not isinstance(exception, SIGTERMException):
            return
        path = self.dirpath / self.FILENAME
        trainer.save_checkpoint(path)  # through the run's atomic checkpoint plugin
        self.saved = path

    def state_dict(self) -> dict[str, Any]:
        return {}


class BestAndLastCheckpoint(ModelCheckpoint):
    """Lightning's `ModelCheckpoint` whose `last.ckpt` is the latest state, every time.

    Since Lightning 2.6, `save_last` writes `last.ckpt` only when a top-k checkpoint is saved in
    the same step: with `save_top_k: 1`, only when `monitor` improved, so `last.ckpt` was a copy
    of the best, and resuming from it repeated every epoch since. This saves it whenever the
    parent would have considered saving (each epoch's end, or each validation).
    """

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        due = not self._should_skip_saving_checkpoint(trainer) and (
            self._should_save_on_train_epoch_end(trainer))
        super().on_train_epoch_end(trainer, module)
        if due:
            self._keep_last(trainer)

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        due = not self._should_skip_saving_checkpoint(trainer) and not (
            self._should_save_on_train_epoch_end(trainer))
        super().on_validation_end(trainer, module)
        if due:
            self._keep_last(trainer)

    def _keep_last(self, trainer: L.Trainer) -> None:
        if self.save_last and self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))


# The key an averaging run's checkpoints carry, saying which weights their `state_dict` holds.
WEIGHTS_KEY = "restorelab_weights"


class EMAWeights(EMAWeightAveraging):
    """An exponential moving average of the weights, Lightning's `EMAWeightAveraging`, as the
    run's model: `callbacks=with_ema`, `callbacks.ema.decay=0.9999`.

    After each optimizer step the average moves `1 - decay` of the way to the trained weights
    (from `update_starting_at_step` on, when given). Validation scores the averaged weights, so
    the best checkpoint is the best average; every checkpoint holds them as its `state_dict`
    (which `load_denoiser`, `restorelab export` and `restorelab eval` read), keeps the raw
    weights in `current_model_state` for resuming, and names them under `restorelab_weights`.

    Unlike Lightning's own callback, a checkpoint loaded after fitting (the test of the best
    checkpoint) keeps its averaged weights: Lightning's would put the raw ones back.
    """

    def __init__(
        self,
        decay: float = 0.999,
        update_every_n_steps: int = 1,
        update_starting_at_step: int | None = None,
        device: str | None = None,
    ) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), e.g. 0.999, got {decay}")
        if update_every_n_steps < 1:
            raise ValueError(f"update_every_n_steps must be >= 1, got {update_every_n_steps}")
        super().__init__(device=device, decay=decay, update_every_n_steps=update_every_n_steps,
                         update_starting_at_step=update_starting_at_step)
        self.decay = decay

    @property
    def description(self) -> str:
        """What the saved weights are, in the words of metrics.json and the exports."""
        start = self.update_starting_at_step
        return f"EMA, decay {self.decay}" + (f", from step {start}" if start else "")

    def on_save_checkpoint(
        self, trainer: L.Trainer, module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        super().on_save_checkpoint(trainer, module, checkpoint)
        checkpoint[WEIGHTS_KEY] = self.description

    def on_load_checkpoint(
        self, trainer: L.Trainer, module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        from lightning.pytorch.trainer.states import TrainerFn

        if trainer.state.fn != TrainerFn.FITTING:
            return  # the checkpoint's state_dict, loaded already, holds the averaged weights
        super().on_load_checkpoint(trainer, module, checkpoint)
