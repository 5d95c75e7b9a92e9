"""What a training run records in its `metrics.json`: the time and steps of fitting, the latest
metrics and checkpoints, the resumes that led to it, and how a run that a signal stopped ended.

`restorelab.train.run` fills one such record as it goes and writes it whatever happens, so a
reader (a study's report, a scheduler) always finds a whole file that says how the run ended.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from restorelab import interrupts
from restorelab.atomic import write_text_atomic
from restorelab.budget import CPUTimeBudget
from restorelab.callbacks import InterruptCheckpoint
from restorelab.errors import TrainingInterrupted

# How a stopped run exits: 128 + the signal's number, as a shell reports a process it killed,
# so that a scheduler (or `timeout`) never mistakes an interrupted run for a finished one.
SIGNAL_EXIT = {"SIGTERM": 143, "SIGINT": 130}


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


def scalars(metrics: dict[str, Any]) -> dict[str, float]:
    """The metrics as plain floats (tensors read with `.item()`)."""
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


def resumes(metrics_path: Path, ckpt_path: str, step: int) -> list[dict[str, Any]]:
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


def count_items(datamodule: L.LightningDataModule, split: str) -> int | None:
    """Images (or items) in a split of a set-up DataModule, None when it cannot say."""
    names = getattr(datamodule, "splits", {}).get(split)
    if names:
        return len(names)
    dataset = getattr(datamodule, "datasets", {}).get(split)
    try:
        return len(dataset) if dataset is not None else None
    except TypeError:
        return None


def record_fit(
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
    result.update(scalars({k: v for k, v in trainer.callback_metrics.items() if "/" in k}))
    if checkpoint is not None:
        result["best_checkpoint"] = checkpoint.best_model_path or None
        result["last_checkpoint"] = checkpoint.last_model_path or None
        if checkpoint.best_model_score is not None:
            result[f"best_{cfg.monitor}"] = float(checkpoint.best_model_score)


def interruption(error: BaseException, interrupt: InterruptCheckpoint) -> str | None:
    """The signal that stopped the run ("SIGTERM" or "SIGINT"), or None."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    if isinstance(error, interrupts.SignalReceived):
        return error.name
    if isinstance(error, SIGTERMException):  # Lightning's stop, for either signal
        return interrupts.received() or "SIGTERM"
    if isinstance(error, KeyboardInterrupt) or isinstance(interrupt.exception, KeyboardInterrupt):
        return "SIGINT"  # Lightning turns Ctrl-C into sys.exit(1) after its own clean-up
    return None


def stopped(
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
        exit_code=SIGNAL_EXIT[signal_name],
    )
