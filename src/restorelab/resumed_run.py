"""A training job that continues a run: the config `resume=<run>` composes, and the W&B run the
job logs into, kept across resumes.

`restorelab.resume` holds the rules (the run's folder, its saved overrides, its newest
checkpoint); `restorelab.train.run` calls the functions here as a job starts and ends.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict

from restorelab.atomic import write_text_atomic
from restorelab.errors import ConfigError

log = logging.getLogger("restorelab.train")  # lines of the training job's log, named as such

_WANDB_ID_FILE = "wandb_id.txt"


def resumed_config(cfg: DictConfig) -> DictConfig:
    """`resume=<run>`: the config of the run's last job with the overrides given now on top, to
    continue from the run's newest checkpoint; `paths` stay this job's (the run's folder)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from restorelab.conf import CONF_DIR
    from restorelab.resume import merge_overrides, newest_checkpoint, saved_overrides

    run = Path(cfg.resume).expanduser()
    if not (run / "checkpoints").is_dir():
        raise ConfigError(f"resume={run} is not a run folder (it has no checkpoints/)")
    if cfg.get("ckpt_path") and Path(cfg.ckpt_path).resolve().parent.parent != run.resolve():
        raise ConfigError(f"resume={run} and ckpt_path={cfg.ckpt_path} name different runs")
    hydra_cfg = HydraConfig.get() if HydraConfig.initialized() else None
    given = list(hydra_cfg.overrides.task) if hydra_cfg is not None else []
    record = hydra_cfg.output_subdir if hydra_cfg is not None else None
    overrides = merge_overrides(saved_overrides(run, record), given)
    if GlobalHydra.instance().is_initialized():
        resumed = compose(config_name="train", overrides=overrides)
    else:
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
            resumed = compose(config_name="train", overrides=overrides)
    with open_dict(resumed):
        resumed.paths = cfg.paths
        resumed.resume = str(run)
        resumed.ckpt_path = cfg.get("ckpt_path") or str(newest_checkpoint(run))
    if record and record.startswith(".hydra/resumed/"):
        # What this job runs, where Hydra recorded the command line it was given.
        folder = Path(cfg.paths.output_dir) / record
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(folder / "config.yaml", OmegaConf.to_yaml(resumed))
        write_text_atomic(folder / "overrides.yaml", OmegaConf.to_yaml(
            OmegaConf.create([*overrides, f"resume={run}"])))
    log.info("resuming %s from %s", run, resumed.ckpt_path)
    return resumed


def remember_wandb_run(loggers: list[Logger], output_dir: Path) -> None:
    """Keeps the W&B run's id in the run folder."""
    # The run id, kept in the run folder, lets `ckpt_path=<run>/checkpoints/last.ckpt` continue
    # the same W&B run instead of starting a new one.
    from lightning.pytorch.loggers import WandbLogger

    for logger in loggers:
        if isinstance(logger, WandbLogger) and rank_zero_only.rank == 0:
            write_text_atomic(output_dir / _WANDB_ID_FILE, str(logger.version) + "\n")


def resume_wandb_run(cfg: DictConfig) -> None:
    """Points `logger.wandb.id` at the W&B run of the run `ckpt_path` continues, if it had one."""
    wandb_cfg = (cfg.get("logger") or {}).get("wandb")
    id_file = Path(cfg.ckpt_path).resolve().parent.parent / _WANDB_ID_FILE
    if wandb_cfg is None or wandb_cfg.get("id") or not id_file.is_file():
        return
    with open_dict(cfg):
        cfg.logger.wandb.id = id_file.read_text().strip()
    log.info("resuming W&B run %s", cfg.logger.wandb.id)


def finish_wandb(loggers: list[Logger]) -> None:
    """Closes the job's W&B run."""
    # Each job of a multirun must close its W&B run, or the next job logs into it.
    from lightning.pytorch.loggers import WandbLogger

    if any(isinstance(logger, WandbLogger) for logger in loggers):
        import wandb

        wandb.finish()
