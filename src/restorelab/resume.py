"""Resuming a run in its own folder: `resume=<run>` or `ckpt_path=<run>/checkpoints/last.ckpt`.

Hydra's run folder is chosen before the job starts, from `hydra.run.dir`; its resolvers here make
it the resumed run's folder, so checkpoints, `metrics.csv`, `metrics.json`, image grids and the
log continue there instead of in a new folder. Hydra records a resumed job's config under
`.hydra/resumed/<time>/`, leaving the run's first `.hydra/config.yaml` as it was.

`resume=<run>` also takes the run's own overrides (the latest job's, when it was resumed
before), then the ones given now, and its newest checkpoint (`interrupted.ckpt` when a signal
stopped it after the last `last.ckpt`).
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import yaml

CHECKPOINTS = ("last.ckpt", "interrupted.ckpt")
# Keys a resumed job decides for itself, never taken from the run's saved overrides.
_OWN_KEYS = ("ckpt_path", "resume", "init_weights")


def in_place_run(resume: str | None, ckpt_path: str | None) -> Path | None:
    """The run folder a job continues in place: `resume`, or the run `ckpt_path` was saved in
    (`<run>/checkpoints/*.ckpt` of a folder `train.py` wrote); None for a new folder."""
    if resume:
        return Path(str(resume)).expanduser()
    if ckpt_path:
        path = Path(str(ckpt_path)).expanduser()
        run = path.parent.parent
        if path.parent.name == "checkpoints" and (run / ".hydra" / "config.yaml").is_file():
            return run
    return None


def run_dir(resume: str | None, ckpt_path: str | None, new: str) -> str:
    """`hydra.run.dir`: the resumed run's folder, else `new`."""
    run = in_place_run(resume, ckpt_path)
    return str(run) if run is not None else new


def output_subdir(resume: str | None, ckpt_path: str | None, output_dir: str) -> str | None:
    """`hydra.output_subdir`: `.hydra`, or `.hydra/resumed/<time>` for a job that resumes in its
    run's folder (not for one given a folder of its own with `hydra.run.dir=`), or None (nothing
    saved) for a new job pointed at a folder where another run already wrote."""
    run = in_place_run(resume, ckpt_path)
    folder = Path(output_dir).expanduser()
    if run is not None and run.resolve() == folder.resolve():
        return f".hydra/resumed/{_started()}"
    if previous_run(folder) is not None:
        # The job refuses this folder as it starts (`restorelab.train`); Hydra must not replace
        # the earlier run's .hydra/config.yaml and overrides.yaml first: `resume=` reads them.
        return None
    return ".hydra"


def previous_run(folder: Path) -> str | None:
    """What shows that a training job already wrote in `folder` (a checkpoint, its metrics.csv,
    a metrics.json of a job that started), or None when a new job may use it."""
    checkpoints = sorted((folder / "checkpoints").glob("*.ckpt"))
    if checkpoints:
        return f"checkpoints/{checkpoints[0].name}"
    if (folder / "csv" / "metrics.csv").is_file():
        return "csv/metrics.csv"
    metrics = folder / "metrics.json"
    if metrics.is_file():
        try:
            status = json.loads(metrics.read_text()).get("status")
        except (OSError, ValueError, AttributeError):
            status = None
        if status != "not started":  # a multirun job a signal kept from starting wrote nothing
            return "metrics.json"
    return None


@functools.cache
def _started() -> str:
    # Once per process: Hydra resolves its config more than once, and every reading must name
    # the same folder.
    return time.strftime("%Y-%m-%d_%H-%M-%S")


def newest_checkpoint(run: Path) -> Path:
    """The checkpoint `resume=<run>` continues from: the newer of last.ckpt and interrupted.ckpt."""
    from restorelab.checkpoints import CheckpointError

    found = [run / "checkpoints" / name for name in CHECKPOINTS]
    found = [path for path in found if path.is_file()]
    if not found:
        raise CheckpointError(
            f"resume={run}: no {' or '.join(CHECKPOINTS)} in {run / 'checkpoints'}; give the run "
            "folder `python train.py` wrote (logs/train/runs/<run>)"
        )
    return max(found, key=lambda path: path.stat().st_mtime)


def saved_overrides(run: Path, current: str | None = None) -> list[str]:
    """The overrides the run was last started with (its latest resumed job's, if any, other
    than the `current` job's record, which Hydra has written already)."""
    latest = sorted(path for path in (run / ".hydra" / "resumed").glob("*/overrides.yaml")
                    if current is None or path.parent != run / current)
    path = latest[-1] if latest else run / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return []
    return [str(item) for item in yaml.safe_load(path.read_text()) or []]


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def merge_overrides(saved: list[str], given: list[str]) -> list[str]:
    """`saved` then `given`, a given key replacing the saved one; a key the saved overrides
    added (`+key=...`) is still added when given again without the `+`."""
    given = [o for o in given if _key(o) not in _OWN_KEYS]
    given_keys = {_key(o) for o in given}
    prefixes = {_key(o): o[: len(o) - len(o.lstrip("+~"))] for o in saved}
    kept = [o for o in saved if _key(o) not in given_keys and _key(o) not in _OWN_KEYS]
    merged = []
    for override in given:
        prefix = override[: len(override) - len(override.lstrip("+~"))]
        if not prefix and prefixes.get(_key(override), "").startswith("+"):
            override = prefixes[_key(override)] + override
        merged.append(override)
    return kept + merged
