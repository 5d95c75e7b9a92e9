"""The training job behind `python train.py` and `restorelab train`: compose, fit, test, write
`metrics.json`."""

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
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict

from restorelab import interrupts
from restorelab.atomic import write_text_atomic
from restorelab.callbacks import CPUTimeBudget, EMAWeights, InterruptCheckpoint
from restorelab.checkpoints import AtomicCheckpointIO, check_resume_checkpoint
from restorelab.console import print_config_tree, print_results, quiet_third_party
from restorelab.distributed import rendezvous_failure, teardown, use_job_command_for_ranks
from restorelab.errors import ConfigError, NonFiniteLossError, TrainingInterrupted
from restorelab.loggers import RunCSVLogger
from restorelab.models.stats import example_input, macs_per_pixel
from restorelab.module import DenoisingModule
from restorelab.preflight import check_config, check_model, monitor_noisy_only

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


class StepTimer(Callback):
    """Wall and CPU time (every thread of the process) of training steps alone: no validation,
    no checkpointing. Their ratio is the threads kept busy; a loaded machine lowers it."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self.steps = 0
        self._start = self._cpu_start = 0.0

    def on_train_batch_start(self, *args: Any) -> None:
        self._start, self._cpu_start = time.perf_counter(), time.process_time()

    def on_train_batch_end(self, *args: Any) -> None:
        self.seconds += time.perf_counter() - self._start
        self.cpu_seconds += time.process_time() - self._cpu_start
        self.steps += 1


class _TellLightningOfSignals(Callback):
    """Passes a Ctrl-C or SIGTERM that came while the Trainer set up (data, model, checkpoint)
    to Lightning, whose loops then stop after their first step: see `restorelab.interrupts`."""

    def on_sanity_check_start(self, *args: Any) -> None:
        interrupts.tell_lightning()

    on_train_start = on_test_start = on_sanity_check_start


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
    safe = {key: _json_safe(value) for key, value in content.items()}
    write_text_atomic(path, json.dumps(safe, indent=2) + "\n")  # a reader never sees half


# How a stopped run exits: 128 + the signal's number, as a shell reports a process it killed,
# so that a scheduler (or `timeout`) never mistakes an interrupted run for a finished one.
_SIGNAL_EXIT = {"SIGTERM": 143, "SIGINT": 130}


def _interruption(error: BaseException, interrupt: InterruptCheckpoint) -> str | None:
    """The signal that stopped the run ("SIGTERM" or "SIGINT"), or None."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    if isinstance(error, interrupts.SignalReceived):
        return error.name
    if isinstance(error, SIGTERMException):  # Lightning's stop, for either signal
        return interrupts.received() or "SIGTERM"
    if isinstance(error, KeyboardInterrupt) or isinstance(interrupt.exception, KeyboardInterrupt):
        return "SIGINT"  # Lightning turns Ctrl-C into sys.exit(1) after its own clean-up
    return None


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
    if cfg.get("ckpt_path"):
        step = check_resume_checkpoint(cfg.ckpt_path)
        if Path(cfg.ckpt_path).resolve().parent.parent == output_dir.resolve():
            resumed_step = step

    if HydraConfig.initialized():
        use_job_command_for_ranks()  # DDP ranks of a multirun job run that job only
    if cfg.get("ckpt_path"):
        _resume_wandb_run(cfg)

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
    step_timer = StepTimer()
    interrupt = InterruptCheckpoint(output_dir / "checkpoints")
    callbacks: list[Callback] = instantiate_group(cfg.get("callbacks")) + [
        step_timer, interrupt, _TellLightningOfSignals()]
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
    hyperparameters = {**OmegaConf.to_container(cfg, resolve=True), "model/stats": stats}
    for logger in loggers:
        logger.log_hyperparams(hyperparameters)
    _remember_wandb_run(loggers, output_dir)

    checkpoint = next((c for c in callbacks if isinstance(c, ModelCheckpoint)), None)
    result: dict[str, Any] = {"status": "completed", **stats}
    metrics_path = output_dir / "metrics.json"
    if resumed_step is not None:
        result["resumes"] = _resumes(metrics_path, cfg.ckpt_path, resumed_step)
    averaging = next((c for c in callbacks if isinstance(c, EMAWeights)), None)
    if averaging is not None:  # what every checkpoint, the test and the exports hold
        result["weights"] = averaging.description
    start = time.perf_counter()
    stage = "fit"
    try:
        if cfg.get("train", True):
            interrupts.raise_if_received()  # it came while the run was being built
            trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
            if trainer.interrupted:
                result["status"] = "interrupted"
        _record_fit(result, trainer, step_timer, checkpoint, cfg, start)
        if cfg.get("test", True):
            stage = "test"
            interrupts.raise_if_received()  # it came as fitting ended: no test
            _test(cfg, trainer, module, datamodule, result)
    except NonFiniteLossError as error:
        _record_fit(result, trainer, step_timer, checkpoint, cfg, start)
        result.update(status="failed", error=str(error))
        write_metrics(metrics_path, result)
        raise
    except (KeyboardInterrupt, SystemExit) as error:
        signal_name = _interruption(error, interrupt)
        if signal_name is None:
            raise
        _record_fit(result, trainer, step_timer, checkpoint, cfg, start)
        raise _stopped(result, signal_name, stage, interrupt, metrics_path) from None
    except Exception as error:
        # Any other failure still leaves a metrics.json that says so (and what was saved).
        _record_fit(result, trainer, step_timer, checkpoint, cfg, start)
        result.update(status="failed", stage=stage, error=f"{type(error).__name__}: {error}")
        result["interrupted_checkpoint"] = str(interrupt.saved) if interrupt.saved else None
        write_metrics(metrics_path, result)
        raise
    result["run_dir"] = str(output_dir)
    result["val_images"] = _count(datamodule, "val")  # what the study's curves average
    write_metrics(metrics_path, result)
    print_results(result, output_dir, result.get("best_checkpoint"))
    _finish_wandb(loggers)
    teardown(trainer)
    return result


def _resumes(metrics_path: Path, ckpt_path: str, step: int) -> list[dict[str, Any]]:
    """The run's earlier resumes (from its metrics.json) and this one: from which checkpoint and
    step, and how the job before it had ended and how long it had trained."""
    try:
        previous = json.loads(metrics_path.read_text())
    except (OSError, ValueError):
        previous = {}
    this = {"checkpoint": str(ckpt_path), "global_step": step,
            "previous_status": previous.get("status"),
            "previous_train_seconds": previous.get("train_seconds")}
    return [*previous.get("resumes", []), this]


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
        OmegaConf.save(resumed, folder / "config.yaml")
        write_text_atomic(folder / "overrides.yaml", OmegaConf.to_yaml(
            OmegaConf.create([*overrides, f"resume={run}"])))
    log.info("resuming %s from %s", run, resumed.ckpt_path)
    return resumed


def _count(datamodule: L.LightningDataModule, split: str) -> int | None:
    """Images (or items) in a split of a set-up DataModule, None when it cannot say."""
    names = getattr(datamodule, "splits", {}).get(split)
    if names:
        return len(names)
    dataset = getattr(datamodule, "datasets", {}).get(split)
    try:
        return len(dataset) if dataset is not None else None
    except TypeError:
        return None


def _with_atomic_checkpoints(plugins: Any) -> list[Any]:
    """The trainer's plugins with RestoreLab's atomic checkpoint writer, unless the config
    already names a checkpoint plugin of its own."""
    from lightning.pytorch.plugins.io import CheckpointIO

    chosen = [hydra.utils.instantiate(p) for p in (plugins or [])]
    if not any(isinstance(p, CheckpointIO) for p in chosen):
        chosen.append(AtomicCheckpointIO())
    return chosen


def _record_fit(
    result: dict[str, Any],
    trainer: L.Trainer,
    step_timer: StepTimer,
    checkpoint: ModelCheckpoint | None,
    cfg: DictConfig,
    start: float,
) -> None:
    """What fitting left behind: time, steps, the latest metrics and the checkpoints."""
    result["train_seconds"] = round(time.perf_counter() - start, 2)
    result["global_step"] = trainer.global_step
    if step_timer.steps:
        result["seconds_per_step"] = step_timer.seconds / step_timer.steps
        result["cpu_seconds_per_step"] = step_timer.cpu_seconds / step_timer.steps
    budget = next((c for c in trainer.callbacks if isinstance(c, CPUTimeBudget)), None)
    if budget is not None:
        result["train_cpu_seconds"] = round(budget.used, 2)
        result["cpu_budget_seconds"] = budget.budget
    result.update(_scalars({k: v for k, v in trainer.callback_metrics.items() if "/" in k}))
    if checkpoint is not None:
        result["best_checkpoint"] = checkpoint.best_model_path or None
        result["last_checkpoint"] = checkpoint.last_model_path or None
        if checkpoint.best_model_score is not None:
            result[f"best_{cfg.monitor}"] = float(checkpoint.best_model_score)


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
    result.update(_scalars(tested[0]) if tested else {})
    result["tested_checkpoint"] = ckpt_path


def _stopped(
    result: dict[str, Any],
    signal_name: str,
    stage: str,
    interrupt: InterruptCheckpoint,
    metrics_path: Path,
) -> TrainingInterrupted:
    """Writes the interrupted run's metrics.json; the error that tells the caller to exit."""
    saved = interrupt.saved or result.get("last_checkpoint")
    result.update(status="interrupted", signal=signal_name, stage=stage)
    result["run_dir"] = str(metrics_path.parent)
    result["interrupted_checkpoint"] = str(interrupt.saved) if interrupt.saved else None
    write_metrics(metrics_path, result)
    where = f"; resume with ckpt_path={saved}" if saved and stage == "fit" else ""
    return TrainingInterrupted(
        f"{signal_name} at step {result.get('global_step', 0)} ({stage}): metrics.json says "
        f"\"interrupted\"{where}",
        exit_code=_SIGNAL_EXIT[signal_name],
    )


_WANDB_ID_FILE = "wandb_id.txt"


def _remember_wandb_run(loggers: list[Logger], output_dir: Path) -> None:
    # The run id, kept in the run folder, lets `ckpt_path=<run>/checkpoints/last.ckpt` continue
    # the same W&B run instead of starting a new one.
    from lightning.pytorch.loggers import WandbLogger

    for logger in loggers:
        if isinstance(logger, WandbLogger) and rank_zero_only.rank == 0:
            write_text_atomic(output_dir / _WANDB_ID_FILE, str(logger.version) + "\n")


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
    if stopped_by is not None:  # came between two jobs of a multirun
        write_metrics(Path(cfg.paths.output_dir) / "metrics.json",
                      {"status": "not started", "signal": stopped_by})
        log.error("not started: %s came before this job of the multirun", stopped_by)
        raise SystemExit(_SIGNAL_EXIT[stopped_by])
    full = os.environ.get("HYDRA_FULL_ERROR") == "1"
    try:
        result = run(cfg)
    except TrainingInterrupted as error:
        log.error("interrupted: %s", error)
        raise SystemExit(error.exit_code) from None
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
        raise SystemExit(_SIGNAL_EXIT[stopped_by])
    return objective(cfg, result)


@hydra.main(version_base="1.3", config_path="pkg://restorelab.conf", config_name="train")
def hydra_main(cfg: DictConfig) -> float | None:
    """`restorelab train`: the job of `python train.py`, from the config tree in the package.

    Defined in this file so that Hydra names the job `train`, as it does for `train.py`.
    """
    return main(cfg)


def one_line(error: BaseException) -> str:
    """`Type: message` of the error that matters: Hydra's InstantiationException wraps the
    constructor's own error (a ValueError naming the bad argument) in a paragraph of context."""
    from hydra.errors import InstantiationException

    cause = error
    while isinstance(cause, InstantiationException) and cause.__cause__ is not None:
        cause = cause.__cause__
    if isinstance(cause, InstantiationException):  # no cause: keep Hydra's last line
        lines = [line for line in str(cause).strip().splitlines() if line.strip()]
        message = lines[-1].strip() if lines else "could not instantiate the config"
    else:
        message = " ".join(str(cause).split()) or type(cause).__name__
    target = _target_of(error)
    where = f" (building {target})" if target and target not in message else ""
    return f"{type(cause).__name__}: {message}{where}; set HYDRA_FULL_ERROR=1 for the traceback"


def _target_of(error: BaseException) -> str | None:
    text = str(error)
    marker = "Error in call to target '"
    if marker in text:
        return text.split(marker, 1)[1].split("'", 1)[0]
    return None
