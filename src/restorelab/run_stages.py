"""The two stages of a training run, fitting then testing (`restorelab.train.run` calls them once
the run is built), each one's outcome put in the run's record: a failure or a signal still
writes a `metrics.json` that says how the run ended and what was saved."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig

from restorelab import interrupts
from restorelab.errors import NonFiniteLossError
from restorelab.module import DenoisingModule
from restorelab.run_metrics import interruption, record_fit, scalars, stopped, write_metrics
from restorelab.run_trainer import TrainerParts

log = logging.getLogger("restorelab.train")  # lines of the training job's log, named as such


def fit_and_test(
    cfg: DictConfig,
    datamodule: L.LightningDataModule,
    module: DenoisingModule,
    parts: TrainerParts,
    result: dict[str, Any],
    metrics_path: Path,
) -> None:
    """Fits and tests into `result`; a failure or a signal still writes metrics.json."""
    trainer, step_timer, interrupt = parts.trainer, parts.step_timer, parts.interrupt
    checkpoint = next((c for c in parts.callbacks if isinstance(c, ModelCheckpoint)), None)
    start = time.perf_counter()
    stage = "fit"
    try:
        if cfg.get("train", True):
            interrupts.raise_if_received()  # it came while the run was being built
            trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
            if trainer.interrupted:
                result["status"] = "interrupted"
        record_fit(result, trainer, step_timer, checkpoint, cfg, start)
        if cfg.get("test", True):
            stage = "test"
            interrupts.raise_if_received()  # it came as fitting ended: no test
            _test(cfg, trainer, module, datamodule, result)
    except NonFiniteLossError as error:
        record_fit(result, trainer, step_timer, checkpoint, cfg, start)
        result.update(status="failed", error=str(error))
        write_metrics(metrics_path, result)
        raise
    except (KeyboardInterrupt, SystemExit) as error:
        signal_name = interruption(error, interrupt)
        if signal_name is None:
            raise
        record_fit(result, trainer, step_timer, checkpoint, cfg, start)
        raise stopped(result, signal_name, stage, interrupt, metrics_path) from None
    except Exception as error:
        # Any other failure still leaves a metrics.json that says so (and what was saved).
        record_fit(result, trainer, step_timer, checkpoint, cfg, start)
        result.update(status="failed", stage=stage, error=f"{type(error).__name__}: {error}")
        result["interrupted_checkpoint"] = str(interrupt.saved) if interrupt.saved else None
        write_metrics(metrics_path, result)
        raise


def _test(
    cfg: DictConfig,
    trainer: L.Trainer,
    module: DenoisingModule,
    datamodule: L.LightningDataModule,
    result: dict[str, Any],
) -> None:
    ckpt_path = result.get("best_checkpoint") if cfg.get("train", True) else cfg.get("ckpt_path")
    if cfg.get("train", True) and not ckpt_path:
        log.warning("no best checkpoint was saved: testing the weights in memory")
    tested = trainer.test(module, datamodule=datamodule, ckpt_path=ckpt_path or None, verbose=False)
    result.update(scalars(tested[0]) if tested else {})
    result["tested_checkpoint"] = ckpt_path
