"""The training job behind `python train.py` and `restorelab train`: compose, fit, test, write
`metrics.json`.

The Trainer it builds is `restorelab.run_trainer`, fitting and testing with it
`restorelab.run_stages`, what it records `restorelab.run_metrics`, and continuing a run
`restorelab.resumed_run`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict

from restorelab import interrupts
from restorelab.callbacks import EMAWeights
from restorelab.checkpoints import check_resume_checkpoint
from restorelab.console import print_config_tree, print_results, quiet_third_party
from restorelab.distributed import rendezvous_failure, teardown, use_job_command_for_ranks
from restorelab.error_lines import one_line
from restorelab.errors import ConfigError, TrainingInterrupted
from restorelab.models.stats import example_input, macs_per_pixel
from restorelab.module import DenoisingModule
from restorelab.preflight import check_config, check_model, monitor_noisy_only
from restorelab.resume import previous_run
from restorelab.resumed_run import (
    finish_wandb,
    remember_wandb_run,
    resume_wandb_run,
    resumed_config,
)
from restorelab.run_metrics import (
    SIGNAL_EXIT,
    count_items,
    resumes,
    write_metrics,
)
from restorelab.run_metrics import StepTimer as StepTimer  # re-exported
from restorelab.run_stages import fit_and_test
from restorelab.run_trainer import TrainerParts, build_trainer
from restorelab.run_trainer import instantiate_group as instantiate_group  # re-exported

log = logging.getLogger(__name__)


def build_module(cfg: DictConfig) -> DenoisingModule:
    """The DenoisingModule described by a composed config (also used to reload a run)."""
    scheduler_cfg = cfg.get("scheduler")
    scheduler = hydra.utils.instantiate(scheduler_cfg) if scheduler_cfg else None
    return DenoisingModule(
        net=hydra.utils.instantiate(cfg.model),
        corruption=hydra.utils.instantiate(cfg.noise),
        loss=hydra.utils.instantiate(cfg.loss),
        objective=hydra.utils.instantiate(cfg.objective) if cfg.get("objective") else None,
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


def model_statistics(net: torch.nn.Module, channels: int) -> dict[str, int | float]:
    """Parameters, receptive field (where finite) and multiply-accumulates per pixel, counted
    on one 64 x 64 forward pass (a sigma map included for nets that take the level)."""
    stats: dict[str, int | float] = {"num_parameters": sum(p.numel() for p in net.parameters())}
    stats["macs_per_pixel"] = round(macs_per_pixel(net, channels), 1)
    receptive_field = getattr(net, "receptive_field", None)
    if receptive_field is not None:
        stats["receptive_field"] = int(receptive_field)
    return stats


def run(cfg: DictConfig) -> dict[str, Any]:
    """Trains and tests as `cfg` says; returns the content of the run's `metrics.json`.

    A run stopped by SIGTERM or Ctrl-C saves `checkpoints/interrupted.ckpt`, writes
    `metrics.json` with status "interrupted", and raises `TrainingInterrupted`.
    """
    quiet_third_party()
    _print_each_log_line_once()
    if cfg.get("resume"):
        cfg = resumed_config(cfg)
    output_dir = Path(cfg.paths.output_dir)
    resumed_step = _prepare(cfg, output_dir)
    datamodule, module, stats, parts = _build(cfg, output_dir, resumed_step)

    result: dict[str, Any] = {"status": "completed", **stats}
    metrics_path = output_dir / "metrics.json"
    if resumed_step is not None:
        result["resumes"] = resumes(metrics_path, cfg.ckpt_path, resumed_step)
    averaging = next((c for c in parts.callbacks if isinstance(c, EMAWeights)), None)
    if averaging is not None:  # what every checkpoint, the test and the exports hold
        result["weights"] = averaging.description
    fit_and_test(cfg, datamodule, module, parts, result, metrics_path)
    result["run_dir"] = str(output_dir)
    result["val_images"] = count_items(datamodule, "val")  # what the study's curves average
    write_metrics(metrics_path, result)
    print_results(result, output_dir, result.get("best_checkpoint"))
    finish_wandb(parts.loggers)
    teardown(parts.trainer)
    return result


def _prepare(cfg: DictConfig, output_dir: Path) -> int | None:
    """Checks the config before anything is built; the step a run continued in its own folder
    resumes from (None for a new run)."""
    ckpt_path = _requeued_checkpoint(output_dir, cfg.get("ckpt_path")) or cfg.get("ckpt_path")
    if ckpt_path and str(ckpt_path) != str(cfg.get("ckpt_path")):
        log.info("Slurm requeued this job (SLURM_RESTART_COUNT=%s): it continues from %s",
                 os.environ.get("SLURM_RESTART_COUNT"), ckpt_path)
        with open_dict(cfg):  # the checkpoint holds the whole state: init_weights is spent
            cfg.ckpt_path = str(ckpt_path)
            cfg.init_weights = None
    in_place = bool(ckpt_path) and Path(ckpt_path).resolve().parent.parent == output_dir.resolve()
    if not in_place:
        _refuse_another_runs_folder(output_dir)
    print_config_tree(cfg, output_dir / "config_tree.log")
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    if cfg.get("ckpt_path") and cfg.get("init_weights"):
        raise ConfigError(
            "ckpt_path resumes a run (weights, optimizer, schedule, epoch) and init_weights starts "
            "a new one from trained weights: give one of them"
        )
    check_config(cfg)  # bad keys are one clear line before anything is built
    resumed_step = None  # the step a run continued in its own folder resumes from
    if ckpt_path:
        step = check_resume_checkpoint(ckpt_path)
        if in_place:
            resumed_step = step

    if HydraConfig.initialized():
        use_job_command_for_ranks()  # DDP ranks of a multirun job run that job only
    if cfg.get("ckpt_path"):
        resume_wandb_run(cfg)
    return resumed_step


def _requeued() -> bool:
    """Whether Slurm requeued this job (`SLURM_RESTART_COUNT` above 0): its command runs again,
    in the same folder when the folder was fixed (a multirun's job, `hydra.run.dir=`)."""
    return os.environ.get("SLURM_RESTART_COUNT", "0") not in ("", "0")


def _requeued_checkpoint(output_dir: Path, given: str | None = None) -> Path | None:
    """The checkpoint a job Slurm requeued continues from: the newest of its own
    `checkpoints/last.ckpt` and `interrupted.ckpt` (saved when Slurm's time-limit warning or a
    preemption stopped it), and the `ckpt_path` it was started with when that is one of this
    folder's (a job given an older checkpoint does not go back to it at each requeue).

    None for a job that was not requeued, one given a checkpoint of another run, one that saved
    no checkpoint before it stopped (it starts again), or one whose newest state is Lightning's
    own requeue checkpoint (`hpc_ckpt_*.ckpt`), which Lightning resumes from by itself."""
    if not _requeued():
        return None
    if given and Path(given).resolve().parent.parent != output_dir.resolve():
        return None
    saved = [output_dir / "checkpoints" / name for name in ("last.ckpt", "interrupted.ckpt")]
    saved += [Path(given)] if given else []
    saved = [path for path in saved if path.is_file()]
    if not saved:
        return None
    newest = max(saved, key=lambda path: path.stat().st_mtime)
    hpc = [path.stat().st_mtime for path in output_dir.glob("hpc_ckpt_*.ckpt")]
    if hpc and max(hpc) >= newest.stat().st_mtime:
        return None
    return newest


def _refuse_another_runs_folder(output_dir: Path) -> None:
    """A new job in a folder where a run already wrote (`hydra.run.dir=` given twice) would
    replace its metrics, log and image grids: refused before anything is written. (Resuming in
    place, `resume=<run>` or `ckpt_path=` one of the folder's checkpoints, does not come here.)"""
    if getattr(rank_zero_only, "rank", 0) != 0:  # DDP ranks start in rank 0's folder
        return
    if _requeued():
        return  # the same job again: it continues from its checkpoint, or starts over
    found = previous_run(output_dir)
    if found is not None:
        raise ConfigError(
            f"{output_dir} already holds a run ({found}): continue it with resume={output_dir}, "
            "or give this job a folder of its own (another hydra.run.dir, or none for a new one)"
        )


def _build(
    cfg: DictConfig, output_dir: Path, resumed_step: int | None
) -> tuple[L.LightningDataModule, DenoisingModule, dict[str, int | float], TrainerParts]:
    """The data, the module and the trainer of the run, with its callbacks and loggers."""
    log.info("instantiating data <%s>", cfg.data._target_)
    datamodule: L.LightningDataModule = hydra.utils.instantiate(cfg.data)
    log.info("instantiating model <%s>", cfg.model._target_)
    check_model(cfg, datamodule)  # on the meta device: refused before anything is allocated
    monitor_noisy_only(cfg, datamodule)  # no clean set: select on val/loss
    module = build_module(cfg)
    if cfg.get("init_weights"):
        load_initial_weights(module.net, cfg.init_weights)
    stats = model_statistics(module.net, datamodule.channels)
    # Lightning's model summary counts FLOPs (and in / out sizes) on this input; without one
    # it printed "Total FLOPs: 0". One 64 x 64 image: the same forward as `macs_per_pixel`.
    module.example_input_array = example_input(module.net, datamodule.channels)
    parts = build_trainer(cfg, output_dir, resumed_step)
    hyperparameters = {**OmegaConf.to_container(cfg, resolve=True), "model/stats": stats}
    for logger in parts.loggers:
        logger.log_hyperparams(hyperparameters)
    remember_wandb_run(parts.loggers, output_dir)
    return datamodule, module, stats, parts


def objective(cfg: DictConfig, result: dict[str, Any]) -> float | None:
    """The value a Hydra sweeper optimizes: the best value of `cfg.monitor` seen in validation."""
    value = result.get(f"best_{cfg.monitor}", result.get(cfg.monitor))
    return float(value) if isinstance(value, (int, float)) else None


def main(cfg: DictConfig) -> float | None:
    """Runs one job and turns expected errors into one clear line and a non-zero exit status.

    RestoreLab's own errors, bad config values (a constructor's ValueError, also when Hydra wraps
    it), DDP nodes that never joined and interruptions (exit 143 after SIGTERM, 130 after Ctrl-C)
    print one line; set HYDRA_FULL_ERROR=1 for the traceback. After a Ctrl-C or SIGTERM, the
    jobs of a multirun that follow are not started: the process exits after the running one.
    """
    import os

    from hydra.errors import InstantiationException

    from restorelab.errors import RestoreLabError

    interrupts.install()  # kept for the process: every later job of a multirun shares it
    stopped_by = interrupts.received()
    if stopped_by is not None:  # came between two jobs of a multirun, or as a job began
        output_dir = Path(cfg.paths.output_dir)
        if previous_run(output_dir) is None:  # a requeued job's folder keeps its run's record
            write_metrics(output_dir / "metrics.json",
                          {"status": "not started", "signal": stopped_by})
        log.error("not started: %s came before this job began", stopped_by)
        raise interrupts.SignalReceived(stopped_by)
    full = os.environ.get("HYDRA_FULL_ERROR") == "1"
    try:
        result = run(cfg)
    except TrainingInterrupted as error:
        log.error("interrupted: %s", error)
        raise interrupts.RunStopped(error.exit_code) from None
    except (RestoreLabError, ValueError, InstantiationException) as error:
        if full:
            raise
        log.error("%s", one_line(error))
        raise SystemExit(1) from None
    except torch.distributed.DistError as error:
        message = rendezvous_failure(error, cfg)  # the other nodes never joined
        if full or message is None:
            raise
        log.error("%s", message)
        raise SystemExit(1) from None
    stopped_by = interrupts.received()
    if stopped_by is not None:  # came as the job ended: it completed, and no other job starts
        log.error("%s came as this job completed: no further job starts", stopped_by)
        raise SystemExit(SIGNAL_EXIT[stopped_by])
    return objective(cfg, result)


@hydra.main(version_base="1.3", config_path="pkg://restorelab.conf", config_name="train")
def hydra_main(cfg: DictConfig) -> float | None:
    """`restorelab train`: the job of `python train.py`, from the config tree in the package.

    Defined in this file so that Hydra names the job `train`, as it does for `train.py`.
    """
    return main(cfg)
