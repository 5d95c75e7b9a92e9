"""Checkpoints on disk, read the safe way and checked before a run resumes from one.

- `safe_load` reads a checkpoint with `weights_only=True` and turns every failure into one
  `CheckpointError` line. Checkpoints are written atomically by
  `restorelab.checkpoint_io.AtomicCheckpointIO`, kept apart so that reading one (`denoise`,
  `export`, `load_denoiser`) does not import Lightning.
- `check_resume_checkpoint` reads a `ckpt_path=` file the safe way (no pickled code runs) and
  says in one line what is wrong with it, before Lightning's loader would answer with a
  traceback or with advice to disable the safety check.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from restorelab.errors import RestoreLabError


class CheckpointError(RestoreLabError):
    """A file that is missing, unsafe, or not a RestoreLab checkpoint; the message says which."""


def is_complete_archive(path: Path) -> bool:
    """True for a whole `torch.save` zip archive; False for a truncated or foreign file.

    A truncated archive lacks the zip's end-of-central-directory record, which `zipfile` looks
    for first, so this reads a few kilobytes at the end of the file, not the whole file.
    """
    try:
        return zipfile.is_zipfile(path)
    except OSError:
        return False


def safe_load(path: Path) -> Any:
    """`torch.load(path, weights_only=True)` with every failure turned into a CheckpointError."""
    if not is_complete_archive(path):
        raise CheckpointError(
            f"{path} is not a PyTorch checkpoint, or not a whole one (truncated, or not written "
            "by torch.save): use another file, e.g. <run>/checkpoints/last.ckpt"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # weights_only refuses any pickle that would import or call something other than
        # tensors and plain containers: a file crafted to run code ends here, unexecuted.
        lines = [line.strip() for line in str(error).splitlines()]
        reason = next((line for line in lines if "global" in line.lower()), "")
        raise CheckpointError(
            f"refused to load {path}: its pickle asks for code or objects other than tensors"
            f"{f' ({reason})' if reason else ''}. A RestoreLab checkpoint holds weights and "
            "training state only; do not load files from sources you do not trust"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else "unreadable"
        raise CheckpointError(
            f"{path} is not a PyTorch checkpoint ({type(error).__name__}: {first})"
        ) from None


def check_resume_checkpoint(path: str | Path) -> int:
    """Raises a one-line CheckpointError unless `path` is a Lightning checkpoint of a run;
    returns its global step.

    Called before `trainer.fit(ckpt_path=...)`: a missing file, a truncated or junk file, a
    pickle that asks to run code, and a torch file that is not a Lightning checkpoint each get a
    message that says what to give instead.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        hint = "" if path.suffix == ".ckpt" else " (a run folder is not enough: name the file)"
        raise CheckpointError(
            f"ckpt_path={path} does not exist{hint}; a run keeps its checkpoints in "
            "<run folder>/checkpoints/ (last.ckpt to resume, epochNNN.ckpt for the best, "
            "interrupted.ckpt after a signal)"
        )
    content = safe_load(path)
    if not isinstance(content, dict) or "pytorch-lightning_version" not in content:
        raise CheckpointError(
            f"ckpt_path={path} is a PyTorch file but not a Lightning training checkpoint (it has "
            "no training state to resume); to start a new run from its weights use "
            "init_weights= instead"
        )
    if not any(str(key).startswith("net.") for key in content.get("state_dict", {})):
        raise CheckpointError(
            f"ckpt_path={path} is a Lightning checkpoint of another program (no 'net.' weights); "
            "resume from a checkpoint written by `python train.py`"
        )
    return int(content.get("global_step", 0))
