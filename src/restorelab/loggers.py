"""Logger factories for what the Lightning loggers do not decide on their own."""

from __future__ import annotations

import csv
import io
import netrc
import os
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger, WandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment

from restorelab.atomic import atomic_path, write_text_atomic


def wandb_api_key_available() -> bool:
    """True when W&B could authenticate: WANDB_API_KEY is set or `wandb login` wrote ~/.netrc."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        hosts = netrc.netrc(os.environ.get("NETRC")).hosts
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False
    return any("wandb" in host for host in hosts)


def wandb_logger(
    save_dir: str,
    project: str = "restorelab",
    name: str | None = None,
    group: str | None = None,
    tags: list[str] | None = None,
    entity: str | None = None,
    offline: bool | None = None,
    log_model: bool = False,
    id: str | None = None,
) -> WandbLogger:
    """A WandbLogger that falls back to offline mode instead of prompting for a login.

    `offline=None` means offline when `WANDB_MODE` is offline/disabled-like or no API key is
    found; the run then lives in `<save_dir>/wandb/offline-run-*` until `wandb sync` uploads it.
    Inside a Hydra multirun, every job joins one group named after the multirun folder, is
    named after its overrides and tagged with them, so a sweep reads as one study in W&B.
    """
    job = _hydra_job()
    if job is not None:
        sweep_name, overrides = job
        group = group or sweep_name
        name = name or (" ".join(overrides) if overrides else None)
        tags = [*(tags or []), *(o[:64] for o in overrides)]  # W&B caps a tag at 64 characters
    if offline is None:
        offline = os.environ.get("WANDB_MODE") in ("offline", "dryrun") or (
            not wandb_api_key_available()
        )
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {}
    if id is not None:
        options.update(id=id, resume="allow")
    return WandbLogger(
        save_dir=save_dir,
        project=project,
        name=name or Path(save_dir).name,
        group=group,
        tags=list(dict.fromkeys(tags)) if tags else None,
        entity=entity,
        offline=offline,
        log_model=log_model,
        **options,
    )


def _hydra_job() -> tuple[str, list[str]] | None:
    """(multirun folder name, the job's overrides) inside a Hydra multirun job, else None."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return None
    return Path(hydra_cfg.sweep.dir).name, list(hydra_cfg.overrides.task)


class RunCSVLogger(CSVLogger):
    """Lightning's CSVLogger (`<run>/csv/metrics.csv`) that can continue a resumed run's file.

    Lightning's writer deletes an existing metrics.csv. After `continue_from(step)` (called by
    `train.run` when a run resumes in its own folder, before anything is logged) the rows logged
    before that step are kept and the new ones appended; rows from `step` on were logged after
    the checkpoint the run resumes from, and are dropped.
    """

    _continue_step: int | None = None

    def continue_from(self, step: int) -> None:
        self._continue_step = step

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            if self._continue_step is not None:
                self._experiment = _ContinuedWriter(self.log_dir, self._continue_step)
            else:
                self._experiment = _AtomicWriter(self.log_dir)
        return super().experiment


class _AtomicWriter(ExperimentWriter):
    """Lightning's writer, with the files it writes whole replaced atomically on a local disk:
    metrics.csv when a new metric appears (the first validation, the test) and hparams.yaml.
    Lightning truncates and rewrites them in place, so a job killed then lost its whole history;
    now it leaves the previous file. Rows are still appended in place between those rewrites."""

    def _local(self) -> bool:
        from fsspec.implementations.local import LocalFileSystem

        return isinstance(self._fs, LocalFileSystem)

    def save(self) -> None:
        keys = list(self.metrics_keys)
        try:
            super().save()
        except BaseException:
            # Lightning has taken the new keys already; the file kept its header, so the next
            # save must rewrite it again (else rows with more columns than the header follow).
            self.metrics_keys = keys
            raise

    def _rewrite_with_new_header(self, fieldnames: list[str]) -> None:
        with self._fs.open(self.metrics_file_path, "r", newline="") as file:
            rows = list(csv.DictReader(file))
        self._write_rows(fieldnames, rows)

    def _write_rows(self, fieldnames: list[str], rows: list[dict[str, Any]]) -> None:
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
        if self._local():
            write_text_atomic(self.metrics_file_path, text.getvalue())
        else:  # remote (fsspec): one write of the whole file, no rename to make it atomic
            with self._fs.open(self.metrics_file_path, "w", newline="") as file:
                file.write(text.getvalue())

    def log_hparams(self, params: dict[str, Any]) -> None:
        if not self._local():
            super().log_hparams(params)
            return
        from lightning.pytorch.core.saving import save_hparams_to_yaml

        self.hparams.update(params)
        with atomic_path(os.path.join(self.log_dir, self.NAME_HPARAMS_FILE)) as tmp:
            save_hparams_to_yaml(tmp, self.hparams)


class _ContinuedWriter(_AtomicWriter):
    """An `_AtomicWriter` that keeps the rows of metrics.csv logged before `step`."""

    def __init__(self, log_dir: str, step: int) -> None:
        self._step = step
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:  # Lightning's deletes metrics.csv
        if not self._fs.isfile(self.metrics_file_path):
            return
        with self._fs.open(self.metrics_file_path, "r", newline="") as file:
            reader = csv.DictReader(file)
            keys = list(reader.fieldnames or [])
            rows = [row for row in reader if int(float(row.get("step") or 0)) < self._step]
        self._write_rows(keys, rows)
        self.metrics_keys = keys
