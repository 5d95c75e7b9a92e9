"""The Lightning Trainer of a training run: the config's callbacks and loggers, the callbacks
every run has (the step timer, the interrupt checkpoint, the hand-over of a signal that came
early, each rank's own seed), and the checkpoint plugin that writes atomically."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from lightning.pytorch.callbacks import Callback, LearningRateMonitor
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig

from restorelab import interrupts
from restorelab.callbacks import InterruptCheckpoint
from restorelab.checkpoint_io import AtomicCheckpointIO
from restorelab.distributed import RankSeeds
from restorelab.loggers import RunCSVLogger
from restorelab.run_metrics import StepTimer


def instantiate_group(cfg: DictConfig | None) -> list[Any]:
    """Instantiates every entry of a group such as `callbacks` or `logger` (a dict of configs)."""
    if not cfg:
        return []
    if not isinstance(cfg, DictConfig):
        raise TypeError(f"expected a dict of configs, got {type(cfg).__name__}")
    return [hydra.utils.instantiate(entry) for entry in cfg.values()
            if entry and "_target_" in entry]


class _TellLightningOfSignals(Callback):
    """Passes a Ctrl-C or SIGTERM that came while the Trainer set up (data, model, checkpoint)
    to Lightning, whose loops then stop after their first step: see `restorelab.interrupts`."""

    def on_sanity_check_start(self, *args: Any) -> None:
        interrupts.tell_lightning()

    on_train_start = on_test_start = on_sanity_check_start


@dataclass
class TrainerParts:
    """The Trainer with its callbacks and loggers, and the two callbacks the run reads back."""

    trainer: L.Trainer
    callbacks: list[Callback]
    loggers: list[Logger]
    step_timer: StepTimer
    interrupt: InterruptCheckpoint


def build_trainer(cfg: DictConfig, output_dir: Path, resumed_step: int | None) -> TrainerParts:
    """The run's Trainer; a run continued in its own folder (`resumed_step`) keeps the rows of
    `metrics.csv` logged up to its checkpoint."""
    step_timer = StepTimer()
    interrupt = InterruptCheckpoint(output_dir / "checkpoints")
    callbacks: list[Callback] = instantiate_group(cfg.get("callbacks")) + [
        step_timer, interrupt, _TellLightningOfSignals()]
    if cfg.get("seed") is not None:  # each rank of a distributed run its own data and noise
        callbacks.append(RankSeeds(cfg.seed))
    loggers: list[Logger] = instantiate_group(cfg.get("logger"))
    if resumed_step is not None:  # metrics.csv keeps what was logged up to the checkpoint
        for logger in loggers:
            if isinstance(logger, RunCSVLogger):
                logger.continue_from(resumed_step)
    if not loggers:  # `~logger`: nothing to plot learning rates into
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    trainer: L.Trainer = hydra.utils.instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False,
        plugins=_with_atomic_checkpoints(cfg.trainer.get("plugins")),
    )
    return TrainerParts(trainer, callbacks, loggers, step_timer, interrupt)


def _with_atomic_checkpoints(plugins: Any) -> list[Any]:
    """The trainer's plugins with RestoreLab's atomic checkpoint writer, unless the config
    already names a checkpoint plugin of its own."""
    from lightning.pytorch.plugins.io import CheckpointIO

    chosen = [hydra.utils.instantiate(p) for p in (plugins or [])]
    if not any(isinstance(p, CheckpointIO) for p in chosen):
        chosen.append(AtomicCheckpointIO())
    return chosen
