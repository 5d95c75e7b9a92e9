"""The one LightningModule: corrupt a clean batch on the device, restore it, score it.

Its metrics are `restorelab.module_metrics`, the checks of what it is given
`restorelab.module_checks`, how it reads a batch `restorelab.module_batches`, and its
learning-rate schedule `restorelab.lr_schedules`.
"""

from __future__ import annotations

import inspect
import logging
from functools import partial
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from restorelab.errors import NonFiniteLossError
from restorelab.lr_schedules import scheduler_config
from restorelab.models.conditioning import restore, takes_noise_level
from restorelab.module_batches import batch_pair
from restorelab.module_checks import (
    check_level_source,
    check_noisy_eval_monitor,
    check_noisy_only,
    check_pairs,
)
from restorelab.module_metrics import add_metrics, damaged_psnr, noise_seed
from restorelab.objectives import Objective, Supervised, TrainingStep, fixed_sigma

log = logging.getLogger(__name__)


class DenoisingModule(L.LightningModule):
    """Trains any restoration net on (corrupted, clean) pairs.

    Batches are either clean images `[B, C, H, W]`, which `corruption` damages on the device inside
    the step, or `(noisy, clean)` pairs from datasets with real noise, used as they are. Training
    draws fresh noise every step; validation and test draw it from generators seeded by
    `val_seed` and the batch index, so every epoch (and every method) scores the same noisy inputs.

    A net that takes the noise level (`restorelab.models.conditioning`) is called
    `net(noisy, sigma)` in every stage, with the level each image got from the corruption
    (`Corruption.apply_with_level`); other nets are called `net(noisy)`.

    Args:
        net: the restoration network, `forward(x) -> x_hat` with the shape of `x`, or
            `forward(x, sigma)` for a noise-conditional net.
        corruption: a `restorelab.corruptions.Corruption` (`Identity` for paired data); one
            that knows its noise level when the net takes it.
        loss: a callable `loss(restored, clean) -> scalar`.
        optimizer: a partial taking the parameters (Hydra `_partial_: true`).
        scheduler: an optional partial taking the optimizer; `T_max` / `total_steps` left `None`
            are filled in from the trainer's budget.
        compile: compile the net with `torch.compile` (parameter names are unchanged).
        channels_last: run the net in NHWC memory format.
        val_seed: base seed of the validation and test noise.
        num_grid_images: images kept from the first validation and test batch for image grids.
        monitor, monitor_mode: the metric schedulers such as ReduceLROnPlateau watch.
        objective: how a training batch becomes a loss (`restorelab.objectives`); None is
            `Supervised`. When the data module has a true `noisy_only` attribute its batches are
            noisy observations: they are never corrupted again, and validation and test, which
            have no clean image, report the objective's loss only (`val/loss`, `test/loss`),
            unless a true `clean_eval` attribute says their batches are clean images. A data
            module of real pairs states what their second image is (`pair_target`: "clean" or
            "noisy"); an objective that needs the other is refused in `setup`.
    """

    def __init__(
        self,
        net: nn.Module,
        corruption: nn.Module,
        loss: nn.Module,
        optimizer: partial,
        scheduler: partial | None = None,
        compile: bool = False,
        channels_last: bool = False,
        val_seed: int = 1234,
        num_grid_images: int = 4,
        monitor: str = "val/psnr",
        monitor_mode: str = "max",
        objective: Objective | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(
            ignore=["net", "corruption", "loss", "optimizer", "scheduler", "objective"],
            logger=False,
        )
        self.net = net
        self.corruption = corruption
        self._net_takes_level = takes_noise_level(net)
        if self._net_takes_level:
            check_level_source(net, corruption)
        self.loss = loss
        self._loss_takes_mask = "mask" in inspect.signature(loss.forward).parameters
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.objective = objective if objective is not None else Supervised()
        self.objective.check_sigma_source(corruption)
        if not self.objective.uses_loss and not isinstance(loss, nn.MSELoss):
            log.warning(
                "objective %s trains with the MSE its method is derived for; the configured "
                "loss %s is used for val/loss only", type(self.objective).__name__,
                type(loss).__name__,
            )
        # Set in `setup` from the data module: training batches are already noisy observations,
        # and (noisy_eval) so are validation and test batches, with no clean set beside them.
        self.noisy_only = False
        self.noisy_eval = False
        self._stated_sigma = fixed_sigma(corruption)

        # Losses, PSNR / SSIM, the fixed-level copies of a blind corruption and their PSNR.
        add_metrics(self, corruption)

        # The first batch of the latest validation / test, for image grids (see callbacks.py).
        self.samples: dict[str, tuple[Tensor, Tensor, Tensor]] = {}

        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        if compile:
            self.net.compile()

    # ------------------------------------------------------------------ forward and pairs
    def forward(self, x: Tensor, sigma: Tensor | None = None) -> Tensor:
        """The net on `x`; `sigma` (`[B, 1, H, W]` or `[B, 1, 1, 1]`, in [0, 1] units) reaches a
        net that takes the noise level and is unused by the others."""
        if self.hparams.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return restore(self.net, x, sigma)

    def _noise_generator(self, stage: str, batch_idx: int, salt: int = 0) -> torch.Generator:
        generator = torch.Generator(device=self.device)
        generator.manual_seed(
            noise_seed(self.hparams.val_seed, stage, self.global_rank, batch_idx, salt)
        )
        return generator

    def _pair(
        self, batch: Any, corruption: nn.Module, generator: torch.Generator | None
    ) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """(noisy, clean, mask of damaged pixels or None, sigma or None) for a clean batch or a
        real pair (`restorelab.module_batches.batch_pair`)."""
        return batch_pair(batch, corruption, generator, self.net, self._net_takes_level)

    def _loss(self, restored: Tensor, clean: Tensor, mask: Tensor | None) -> Tensor:
        if self._loss_takes_mask:
            return self.loss(restored, clean, mask=mask)
        return self.loss(restored, clean)

    def _step(self, batch: Any) -> TrainingStep:
        return TrainingStep(
            batch=batch,
            noisy_only=self.noisy_only,
            pair=lambda b: self._pair(b, self.corruption, None),
            restore=self,
            loss=self._loss,
            # Moved per step: `setup` runs before Lightning puts the module on its device.
            sigma=None if self._stated_sigma is None else self._stated_sigma.to(self.device),
        )

    # ------------------------------------------------------------------ steps
    def setup(self, stage: str) -> None:
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer else None
        self.noisy_only = bool(getattr(datamodule, "noisy_only", False))
        # Noisy-only training may still validate and test on clean images (`data.val_root`).
        self.noisy_eval = self.noisy_only and not getattr(datamodule, "clean_eval", False)
        check_pairs(self.objective, self.corruption, datamodule)
        if not self.noisy_only:
            return
        check_noisy_only(self.objective, self.net, self._net_takes_level, self._stated_sigma)
        if not self.noisy_eval:
            log.info(
                "data.noisy_only: training reads noisy images only; validation and test score "
                "the clean images of data.val_root (corrupted by `noise`, as in every clean run)"
            )
            return
        check_noisy_eval_monitor(self.hparams.monitor)
        log.info(
            "data.noisy_only: no clean images; validation and test report the self-supervised "
            "loss (val/loss, test/loss) and the image grids only, no PSNR or SSIM"
        )

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        loss = self.objective(self._step(batch))
        if not torch.isfinite(loss):
            # Raised before backward: the weights and every checkpoint on disk stay finite.
            raise NonFiniteLossError(
                f"the training loss became {loss.item()} at step {self.global_step} "
                f"(epoch {self.current_epoch}). Checkpoints saved so far are kept. Try a lower "
                "learning rate (optimizer.lr), gradient clipping (trainer.gradient_clip_val=1.0) "
                "or full precision (trainer.precision=32), and check the data for NaN values."
            )
        self.train_loss(loss.detach())
        self.log("train/loss", loss.detach(), on_step=True, on_epoch=False, prog_bar=True)
        return loss

    def on_train_epoch_end(self) -> None:
        self.log("train/loss_epoch", self.train_loss, on_epoch=True)

    def on_train_start(self) -> None:
        # The sanity check ran validation on an untrained net; it must not count as a best.
        self.val_psnr_best.reset()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        if self.noisy_eval:
            return self._noisy_only_eval("val", batch, batch_idx)
        noisy, clean, mask, sigma = self._pair(
            batch, self.corruption, self._noise_generator("val", batch_idx)
        )
        restored = self(noisy, sigma)
        self.val_loss(self._loss(restored, clean, mask))
        restored = restored.float().clamp(0.0, 1.0)
        clean = clean.float()
        self.val_metrics.update(restored, clean)
        self.val_noisy_psnr.update(noisy.float().clamp(0.0, 1.0), clean)
        self.log("val/loss", self.val_loss, on_epoch=True, prog_bar=False)
        self.log_dict(self.val_metrics, on_epoch=True, prog_bar=True)
        self.log("val/psnr_noisy", self.val_noisy_psnr, on_epoch=True)
        if mask is not None:
            self._update_damaged("val", restored, clean, mask)
        if not isinstance(batch, (list, tuple)):
            for salt, (name, corruption) in enumerate(self.level_corruptions.items(), start=1):
                generator = self._noise_generator("val", batch_idx, salt)
                level_noisy, _, _, level_sigma = self._pair(clean, corruption, generator)
                level_restored = self(level_noisy, level_sigma).float().clamp(0.0, 1.0)
                self.level_psnr[name].update(level_restored, clean)
                self.log(f"val/psnr_{name}", self.level_psnr[name], on_epoch=True)
        if batch_idx == 0:
            self._keep_samples("val", noisy, restored, clean)

    def _noisy_only_eval(self, stage: str, batch: Tensor, batch_idx: int) -> None:
        """Validation or test on noisy observations: the objective's loss, with its random
        masks and noises drawn from a fixed seed so every epoch scores the same loss."""
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self._noise_generator(stage, batch_idx).initial_seed())
            loss = self.objective(self._step(batch))
        metric = self.val_loss if stage == "val" else self.test_loss
        metric(loss)
        self.log(f"{stage}/loss", metric, on_epoch=True, prog_bar=stage == "val")
        if batch_idx == 0:
            restored = self(batch, self._step(batch).sigma)
            self._keep_samples(stage, batch, restored, batch)

    def on_validation_epoch_end(self) -> None:
        if self.noisy_eval:
            return
        psnr = self.val_metrics["psnr"].compute()
        self.val_psnr_best(psnr)
        self.log("val/psnr_best", self.val_psnr_best.compute(), prog_bar=False)
        if len(self.level_psnr) and all(m.update_called for m in self.level_psnr.values()):
            # The mean over the fixed levels: a blind model's selection metric. `val/psnr` draws
            # one level per image, so on a few images it swings with the draw's lowest levels.
            levels = torch.stack([metric.compute() for metric in self.level_psnr.values()])
            self.log("val/psnr_levels", levels.mean(), prog_bar=False)

    def test_step(self, batch: Any, batch_idx: int) -> None:
        if self.noisy_eval:
            return self._noisy_only_eval("test", batch, batch_idx)
        noisy, clean, mask, sigma = self._pair(
            batch, self.corruption, self._noise_generator("test", batch_idx)
        )
        restored = self(noisy, sigma).float().clamp(0.0, 1.0)
        clean = clean.float()
        noisy = noisy.float().clamp(0.0, 1.0)
        self.test_metrics.update(restored, clean)
        self.test_noisy_metrics.update(noisy, clean)
        self.log_dict(self.test_metrics, on_epoch=True)
        self.log_dict(self.test_noisy_metrics, on_epoch=True)
        if mask is not None:
            self._update_damaged("test", restored, clean, mask)
        if batch_idx == 0:
            self._keep_samples("test", noisy, restored, clean)

    def _update_damaged(self, stage: str, restored: Tensor, clean: Tensor, mask: Tensor) -> None:
        # PSNR over the damaged pixels only (occlusions, flipped pixels).
        psnr, weight = damaged_psnr(restored, clean, mask)
        metric = self.damaged_psnr[stage]
        metric.update(psnr, weight=weight)  # images left intact do not count
        self.log(f"{stage}/psnr_damaged", metric, on_epoch=True)

    def _keep_samples(self, stage: str, noisy: Tensor, restored: Tensor, clean: Tensor) -> None:
        n = self.hparams.num_grid_images
        self.samples[stage] = tuple(
            t[:n].detach().float().clamp(0.0, 1.0).cpu() for t in (noisy, restored, clean)
        )

    # ------------------------------------------------------------------ optimization
    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        config = scheduler_config(
            self.scheduler_factory, optimizer, self.trainer, self.hparams.monitor
        )
        return {"optimizer": optimizer, "lr_scheduler": config}
