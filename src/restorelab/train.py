"""The training job behind `python train.py`: compose, fit, test, write `metrics.json`."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from restorelab.console import print_config_tree, print_results
from restorelab.distributed import teardown, use_job_command_for_ranks
from restorelab.errors import NonFiniteLossError
from restorelab.module import DenoisingModule

log = logging.getLogger(__name__)


def instantiate_group(cfg: DictConfig | None) -> list[Any]:
    """Instantiates every entry of a group such as `callbacks` or `logger` (a dict of configs)."""
    if not cfg:
        return []
    if not isinstance(cfg, DictConfig):
        raise TypeError(f"expected a dict of configs, got {type(cfg).__name__}")
    return [hydra.utils.instantiate(entry) for entry in cfg.values() if entry and "_target_" in entry]


def build_module(cfg: DictConfig) -> DenoisingModule:
    """The DenoisingModule described by a composed config (also used to reload a run)."""
    scheduler_cfg = cfg.get("scheduler")
    scheduler = hydra.utils.instantiate(scheduler_cfg) if scheduler_cfg else None
    return DenoisingModule(
        net=hydra.utils.instantiate(cfg.model),
        corruption=hydra.utils.instantiate(cfg.noise),
        loss=hydra.utils.instantiate(cfg.loss),
        optimizer=hydra.utils.instantiate(cfg.optimizer),
        scheduler=scheduler,
        monitor=cfg.monitor,
        monitor_mode=cfg.monitor_mode,
        **cfg.get("module", {}),
    )


def load_initial_weights(net: torch.nn.Module, source: str) -> None:
    """Copies the weights of a trained net (run folder, .ckpt or .safetensors) into `net`.

    For fine-tuning: only the net's parameters and buffers are taken; the optimizer, the schedule
    and the epoch count start afresh. The file is read safely (no pickled code runs).
    """
    from restorelab.inference import CheckpointError, load_network

    trained, _ = load_network(source)
    try:
        net.load_state_dict(trained.state_dict(), strict=True)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise CheckpointError(
            f"init_weights={source}: its net does not fit this run's model ({first}); "
            "start from a run with the same model config"
        ) from None
    log.info("initial weights from %s", source)


def _print_each_log_line_once() -> None:
    # `import lightning` gives its logger a console handler of its own; under Hydra the root
    # logger already prints to the console and the run's log file, so every line came twice.
    if logging.getLogger().handlers:
        lightning_logger = logging.getLogger("lightning")
        for handler in list(lightning_logger.handlers):
            lightning_logger.removeHandler(handler)


def model_statistics(net: torch.nn.Module) -> dict[str, int]:
    stats = {"num_parameters": sum(p.numel() for p in net.parameters())}
    receptive_field = getattr(net, "receptive_field", None)
    if receptive_field is not None:
        stats["receptive_field"] = int(receptive_field)
    return stats


class StepTimer(Callback):
    """Wall time of training steps alone (no validation, no checkpointing)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.steps = 0
        self._start = 0.0

    def on_train_batch_start(self, *args: Any) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, *args: Any) -> None:
        self.seconds += time.perf_counter() - self._start
        self.steps += 1


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in metrics.items():
        out[key] = float(value.item() if isinstance(value, torch.Tensor) else value)
    return out


def _json_safe(value: Any) -> Any:
    # JSON has no NaN or infinity; "inf" (the PSNR of an untouched input) stays readable.
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


@rank_zero_only
def write_metrics(path: Path, content: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    safe = {key: _json_safe(value) for key, value in content.items()}
    tmp.write_text(json.dumps(safe, indent=2) + "\n")
    tmp.replace(path)  # atomic: a reader never sees half a file


def run(cfg: DictConfig) -> dict[str, Any]:
    """Trains and tests as `cfg` says; returns the content of the run's `metrics.json`."""
    _print_each_log_line_once()
    output_dir = Path(cfg.paths.output_dir)
    print_config_tree(cfg, output_dir / "config_tree.log")
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    if cfg.get("ckpt_path") and cfg.get("init_weights"):
        raise ValueError(
            "ckpt_path resumes a run (weights, optimizer, schedule, epoch) and init_weights starts "
            "a new one from trained weights: give one of them"
        )

    if cfg.get("ckpt_path") and not Path(cfg.ckpt_path).is_file():
        raise FileNotFoundError(
            f"ckpt_path={cfg.ckpt_path} does not exist; a run keeps its checkpoints in "
            "<run folder>/checkpoints/ (last.ckpt to resume, epochNNN.ckpt for the best)"
        )

    if HydraConfig.initialized():
        use_job_command_for_ranks()  # DDP ranks of a multirun job run that job only
    if cfg.get("ckpt_path"):
        _resume_wandb_run(cfg)

    log.info("instantiating data <%s>", cfg.data._target_)
    datamodule: L.LightningDataModule = hydra.utils.instantiate(cfg.data)
    log.info("instantiating model <%s>", cfg.model._target_)
    module = build_module(cfg)
    if cfg.get("init_weights"):
        load_initial_weights(module.net, cfg.init_weights)
    stats = model_statistics(module.net)
    step_timer = StepTimer()
    callbacks: list[Callback] = instantiate_group(cfg.get("callbacks")) + [step_timer]
    loggers: list[Logger] = instantiate_group(cfg.get("logger"))
    if not loggers:  # `~logger`: nothing to plot learning rates into
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    trainer: L.Trainer = hydra.utils.instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False
    )
    hyperparameters = {**OmegaConf.to_container(cfg, resolve=True), "model/stats": stats}
    for logger in loggers:
        logger.log_hyperparams(hyperparameters)
    _remember_wandb_run(loggers, output_dir)

    checkpoint = next((c for c in callbacks if isinstance(c, ModelCheckpoint)), None)
    result: dict[str, Any] = {"status": "completed", **stats}
    metrics_path = output_dir / "metrics.json"
    start = time.perf_counter()
    try:
        if cfg.get("train", True):
            trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
            if trainer.interrupted:
                result["status"] = "interrupted"
    except NonFiniteLossError as error:
        result.update(status="failed", error=str(error))
        raise
    finally:
        result["train_seconds"] = round(time.perf_counter() - start, 2)
        result["global_step"] = trainer.global_step
        if step_timer.steps:
            result["seconds_per_step"] = step_timer.seconds / step_timer.steps
        result.update(_scalars({k: v for k, v in trainer.callback_metrics.items() if "/" in k}))
        if checkpoint is not None:
            result["best_checkpoint"] = checkpoint.best_model_path or None
            result["last_checkpoint"] = checkpoint.last_model_path or None
            if checkpoint.best_model_score is not None:
                result[f"best_{cfg.monitor}"] = float(checkpoint.best_model_score)
        if result["status"] != "completed":
            write_metrics(metrics_path, result)

    if cfg.get("test", True):
        ckpt_path = result.get("best_checkpoint") if cfg.get("train", True) else cfg.get("ckpt_path")
        if cfg.get("train", True) and not ckpt_path:
            log.warning("no best checkpoint was saved: testing the weights in memory")
        tested = trainer.test(
            module, datamodule=datamodule, ckpt_path=ckpt_path or None, verbose=False
        )
        result.update(_scalars(tested[0]) if tested else {})
        result["tested_checkpoint"] = ckpt_path
    result["run_dir"] = str(output_dir)
    write_metrics(metrics_path, result)
    print_results(result, output_dir, result.get("best_checkpoint"))
    _finish_wandb(loggers)
    teardown(trainer)
    return result


_WANDB_ID_FILE = "wandb_id.txt"


def _remember_wandb_run(loggers: list[Logger], output_dir: Path) -> None:
    # The run id, kept in the run folder, lets `ckpt_path=<run>/checkpoints/last.ckpt` continue
    # the same W&B run instead of starting a new one.
    from lightning.pytorch.loggers import WandbLogger

    for logger in loggers:
        if isinstance(logger, WandbLogger) and rank_zero_only.rank == 0:
            output_dir.mkdir(parents=True, exist_ok=True)
            (output_dir / _WANDB_ID_FILE).write_text(str(logger.version) + "\n")


def _resume_wandb_run(cfg: DictConfig) -> None:
    wandb_cfg = (cfg.get("logger") or {}).get("wandb")
    id_file = Path(cfg.ckpt_path).resolve().parent.parent / _WANDB_ID_FILE
    if wandb_cfg is None or wandb_cfg.get("id") or not id_file.is_file():
        return
    with open_dict(cfg):
        cfg.logger.wandb.id = id_file.read_text().strip()
    log.info("resuming W&B run %s", cfg.logger.wandb.id)


def _finish_wandb(loggers: list[Logger]) -> None:
    # Each job of a multirun must close its W&B run, or the next job logs into it.
    from lightning.pytorch.loggers import WandbLogger

    if any(isinstance(logger, WandbLogger) for logger in loggers):
        import wandb

        wandb.finish()


def objective(cfg: DictConfig, result: dict[str, Any]) -> float | None:
    """The value a Hydra sweeper optimizes: the best value of `cfg.monitor` seen in validation."""
    value = result.get(f"best_{cfg.monitor}", result.get(cfg.monitor))
    return float(value) if isinstance(value, (int, float)) else None


def main(cfg: DictConfig) -> float | None:
    """Runs one job and turns RestoreLab's own errors into one clear line and exit status 1."""
    from restorelab.errors import RestoreLabError

    try:
        result = run(cfg)
    except RestoreLabError as error:
        log.error("%s: %s", type(error).__name__, error)
        raise SystemExit(1) from None
    return objective(cfg, result)
