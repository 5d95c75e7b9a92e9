"""The methods the demo offers: the shipped models (`experiments/*/model.safetensors`), runs
under `logs/`, a checkpoint handed over by `restorelab demo --checkpoint`, and the classical
baselines; and how the model picker names each."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

CHECKPOINT_ENV = "RESTORELAB_CHECKPOINT"
# Folders (os.pathsep-separated) searched for `*/model.safetensors`; unset: the repository's
# `experiments/` and the working directory's; empty: none.
MODELS_ENV = "RESTORELAB_MODELS"


def restore_with_baseline(method: str, noisy: np.ndarray, sigma: float | None) -> np.ndarray:
    """The restored image by a classical method (the true sigma for Gaussian noise)."""
    from restorelab.baselines import BASELINES

    return BASELINES[method](noisy, sigma).astype(np.float32)


def cpu_denoiser(checkpoint: str):
    """The checkpoint's `Denoiser`, on the CPU."""
    from restorelab.inference import load_denoiser

    return load_denoiser(checkpoint, device="cpu")


def find_checkpoints(root: Path) -> list[str]:
    """Run folders under `root` that hold checkpoints, newest first."""
    if not root.is_dir():
        return []
    runs = {p.parent.parent for p in root.glob("**/checkpoints/*.ckpt")}
    return [str(p) for p in sorted(runs, key=lambda p: p.stat().st_mtime, reverse=True)]


def model_folders() -> list[Path]:
    """Where shipped models are looked for: MODELS_ENV's folders when it is set, else the
    `experiments/` of the repository this package runs from and of the working directory."""
    import restorelab

    listed = os.environ.get(MODELS_ENV)
    if listed is not None:
        return [Path(folder) for folder in listed.split(os.pathsep) if folder]
    repository = Path(restorelab.__file__).resolve().parents[2]  # src/restorelab/ -> the repo
    return [repository / "experiments", Path.cwd() / "experiments"]


def find_shipped_models(folders: list[Path]) -> list[str]:
    """The `<folder>/*/model.safetensors` files, each once (by resolved path), by name."""
    found: dict[Path, None] = {}
    for folder in folders:
        for path in sorted(folder.glob("*/model.safetensors")):
            found.setdefault(path.resolve(), None)
    return [str(path) for path in found]


def model_label(path: str, shipped: set[str]) -> str:
    """How the model picker names a checkpoint: a shipped model by its folder."""
    return f"{Path(path).parent.name} (shipped)" if path in shipped else path
