"""Shared fixtures: compose the real Hydra config with its outputs redirected to tmp_path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Threads per test process: the cores shared out among pytest-xdist's workers (`make test` runs
# 2), at most 2, so that parallel workers do not oversubscribe the cores (OpenMP threads that
# wait for a busy core spin). Set before torch is imported; subprocesses inherit it.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
THREADS = max(1, min(2, (os.cpu_count() or 1) // _WORKERS))
if _WORKERS > 1:
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(THREADS)

import lightning as L
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict
from torch.utils.data import DataLoader

import restorelab  # noqa: F401  (registers the config resolvers, as train.py does)
from restorelab.conf import CONF_DIR

ROOT = Path(__file__).resolve().parents[1]
CONF = CONF_DIR

# Small and fast: the spine is under test here, not the model's quality.
FAST = [
    "data.batch_size=4",
    "trainer.accelerator=cpu",
    "trainer.detect_anomaly=false",
    "logger=csv",
    "callbacks.rich_progress_bar=null",
    "callbacks.model_summary=null",
]
# Added when the run keeps the default dataset (no `data=` or `experiment=` override).
FAST_NATURAL = ["data.patch_size=32", "data.eval_size=64", "data.samples_per_epoch=16"]


def config_files(group: str) -> list[str]:
    """The choices of a config group, read from the files on disk."""
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def compose_train(tmp_path: Path, overrides: list[str] | None = None) -> DictConfig:
    """The config `python train.py <overrides>` would run, writing under tmp_path."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose(
            config_name="train", return_hydra_config=True, overrides=list(overrides or [])
        )
    with open_dict(cfg):
        cfg.paths.root_dir = str(ROOT)
        cfg.paths.output_dir = str(tmp_path)
        cfg.paths.log_dir = str(tmp_path / "logs")
        cfg.paths.data_dir = str(tmp_path / "data")
        cfg.hydra.runtime.output_dir = str(tmp_path)
        cfg.hydra.job.num = 0
    return cfg


def run_train(tmp_path: Path, overrides: list[str] | None = None) -> dict:
    """Runs the training job in-process, as train.py would."""
    from restorelab.train import run

    overrides = list(overrides or [])
    if not any(o.startswith(("data=", "experiment=")) for o in overrides):
        overrides = FAST_NATURAL + overrides
    cfg = compose_train(tmp_path, FAST + overrides)
    HydraConfig().set_config(cfg)
    try:
        return run(cfg)
    finally:
        GlobalHydra.instance().clear()


@pytest.fixture(autouse=True)
def _quiet_and_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    torch.set_num_threads(THREADS)
    # The CLI's denoise / eval / benchmark set glibc's malloc up process-wide; the test
    # processes keep its defaults (tests/test_cpu_memory.py checks it in a subprocess).
    monkeypatch.setattr("restorelab.cpu_memory.keep_freed_memory", lambda: False)


class NaNAfterSteps(torch.nn.Module):
    """MSE that turns NaN from the `after`-th call on: a stand-in for a diverging run."""

    def __init__(self, after: int = 3) -> None:
        super().__init__()
        self.after = after
        self.calls = 0

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = torch.nn.functional.mse_loss(input, target)
        if self.training:
            self.calls += 1
            if self.calls > self.after:
                return loss * float("nan")
        return loss


# A tiny budget for jobs started through the command line (train.py / sweep.py).
CLI_TINY = [
    "trainer.max_epochs=1",
    "+trainer.limit_train_batches=2",
    "+trainer.limit_val_batches=1",
    "+trainer.limit_test_batches=1",
    "data.patch_size=32",
    "data.eval_size=64",
    "data.batch_size=2",
    "callbacks.rich_progress_bar=null",
    "callbacks.model_summary=null",
]


def run_cli(script: str, *args: str, cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    """Runs `python <script> <args>` from `cwd` as a user would, outputs under `cwd/logs`."""
    env = {**os.environ, "RESTORELAB_ROOT": str(cwd), "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    env.pop("WANDB_API_KEY", None)
    return subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )



class CleanImages(L.LightningDataModule):
    """A tiny data module of clean images for `validate` / `test` calls, in batches of 8."""

    def __init__(self, images: torch.Tensor) -> None:
        super().__init__()
        self.images = images

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.images, batch_size=8)

    test_dataloader = val_dataloader


def eval_trainer() -> L.Trainer:
    """A quiet CPU trainer without loggers or checkpoints, for `validate` / `test` calls."""
    return L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False)
