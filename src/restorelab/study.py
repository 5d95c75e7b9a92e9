"""The runs of a study folder, read back: each job's metrics, overrides and logged curves, and
the jobs that are missing with the reason.

A job folder is one with `.hydra/config.yaml`; it counts as a run once its `metrics.json` says
"completed". The planned grid comes from the `multirun.yaml` Hydra writes first, so jobs that
never started are listed too. `restorelab.report` draws and tabulates what is read here.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf


@dataclass
class Study:
    """The runs of one study folder: finished ones with their metrics, and the missing ones
    (`reasons` says why each is missing; `grid` is the planned overrides of every job, when the
    multirun folder says what was planned)."""

    root: Path
    runs: list[dict[str, Any]] = field(default_factory=list)
    missing: list[Path] = field(default_factory=list)
    reasons: dict[Path, str] = field(default_factory=dict)
    grid: list[dict[str, str]] | None = None

    @property
    def varying(self) -> list[str]:
        """Override keys whose value differs between jobs: the study's variables (from the
        planned grid when there is one, so a partial study keeps all its columns, and from the
        runs, so a job added beside the grid, e.g. a max-pool variant, shows what it changed)."""
        keys: dict[str, set[str]] = {}
        jobs = [*(self.grid or []), *(run["overrides"] for run in self.runs)]
        for overrides in jobs:
            for key, value in overrides.items():
                keys.setdefault(key, set()).add(value)
        single = len(self.grid or self.runs) == 1  # one job: every key it was given
        return [k for k, values in keys.items() if len(values) > 1 or single]

    def planned(self, job_dir: Path) -> dict[str, str]:
        """The overrides job `job_dir` was (or would have been) run with."""
        if self.grid and job_dir.name.isdigit() and int(job_dir.name) < len(self.grid):
            return self.grid[int(job_dir.name)]
        return _overrides(job_dir)


def planned_grid(root: Path) -> list[dict[str, str]] | None:
    """Every job's overrides of a basic-sweeper multirun, from its `multirun.yaml`, in job order
    (as Hydra's BasicSweeper numbers them); None for other sweepers (Optuna picks as it goes)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    path = root / "multirun.yaml"
    if not path.is_file():
        return None
    hydra_cfg = OmegaConf.load(path).get("hydra", {})
    sweeper = hydra_cfg.get("sweeper", {})
    if not str(sweeper.get("_target_", "")).endswith("BasicSweeper"):
        return None
    # A plain `train.py -m a=1,2` has no sweeper params: its grid is all in the overrides.
    params = sweeper.get("params")
    params = OmegaConf.to_container(params, resolve=False) if params else {}
    arguments = [f"{key}={value}" for key, value in params.items()]
    arguments += list(hydra_cfg.get("overrides", {}).get("task", []))  # as the sweeper merges
    try:
        parsed = OverridesParser.create().parse_overrides(arguments)
        (batch,) = BasicSweeper.split_arguments(parsed, None)
    except Exception:  # noqa: BLE001  an unreadable plan: report what ran, as before
        return None
    grid = []
    for job in batch:
        pairs = (item.split("=", 1) for item in job)
        grid.append({k.lstrip("+~"): v for k, v in pairs if not k.startswith("hydra.")})
    return grid


def _overrides(job_dir: Path) -> dict[str, str]:
    path = job_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return {}
    pairs = (str(item).split("=", 1) for item in OmegaConf.load(path))
    return {key.lstrip("+~"): value for key, value in pairs if not key.startswith("hydra.")}


def collect(root: Path) -> Study:
    """Every job folder under `root` (a multirun folder, or any folder of run folders)."""
    study = Study(root=root, grid=planned_grid(root))
    job_dirs = sorted(
        {p.parent.parent for p in root.rglob(".hydra/config.yaml")},
        key=lambda p: (len(p.parts), int(p.name) if p.name.isdigit() else 0, str(p)),
    )
    for job_dir in job_dirs:
        metrics_path = job_dir / "metrics.json"
        if not metrics_path.is_file():
            study.missing.append(job_dir)
            study.reasons[job_dir] = "no metrics.json"
            continue
        metrics = json.loads(metrics_path.read_text())
        status = metrics.get("status", "completed")
        if status != "completed":
            study.missing.append(job_dir)
            # "not started": the folder of a job that a signal stopped the multirun before
            step = metrics.get("global_step")
            study.reasons[job_dir] = status if step is None else f"{status} at step {step}"
            continue
        study.runs.append(
            {"job": str(job_dir.relative_to(root)), "overrides": _overrides(job_dir), **metrics}
        )
    started = {p.name for p in job_dirs}
    for number in range(len(study.grid or [])):
        if str(number) not in started:
            study.missing.append(root / str(number))
            study.reasons[root / str(number)] = "not started"
    return study


def run_label(study: Study, run: dict[str, Any], separator: str = " ") -> str:
    """The values that set this run apart, short: `kernel_size=5 depth=2 skip=none`."""
    parts = [f"{key.rsplit('.', 1)[-1]}={run['overrides'].get(key, '')}" for key in study.varying]
    return separator.join(parts) or run["job"]


def logged_curves(job_dir: Path) -> dict[str, list[tuple[float, float]]]:
    """(step, value) pairs of val/psnr and train/loss from the job's CSV log."""
    history: dict[str, list[tuple[float, float]]] = {"val/psnr": [], "train/loss": []}
    for file in job_dir.glob("csv/**/metrics.csv"):
        with open(file, newline="") as handle:
            for row in csv.DictReader(handle):
                for key in history:
                    if row.get(key) not in (None, "") and row.get("step") not in (None, ""):
                        history[key].append((float(row["step"]), float(row[key])))
    return history


def validation_images(study: Study) -> str:
    """What the validation PSNR averages, for a title: "10 validation images" when the runs
    say how many (`val_images` in `metrics.json`, or `data.val_images` in their config) and
    agree, else "the validation split" with the dataset's config name where it is known."""
    counts, choices = set(), set()
    for run in study.runs:
        job_dir = study.root / run["job"]
        count = run.get("val_images")
        config_path = job_dir / ".hydra" / "config.yaml"
        if count is None and config_path.is_file():
            try:
                count = (OmegaConf.load(config_path).get("data") or {}).get("val_images")
            except Exception:  # noqa: BLE001  an interpolation only a run can resolve: no count
                count = None
        counts.add(count)
        hydra_path = job_dir / ".hydra" / "hydra.yaml"
        if hydra_path.is_file():
            choice = OmegaConf.select(OmegaConf.load(hydra_path), "hydra.runtime.choices.data")
            choices.add(choice)
    if len(counts) == 1 and isinstance(next(iter(counts)), int):
        what = f"{next(iter(counts))} validation images"
    else:
        what = "the validation split"
    if len(choices) == 1 and next(iter(choices)):
        what += f" of data={next(iter(choices))}"
    return what
