"""The Lightning checkpoint plugin every run uses: a checkpoint is written to a temporary file
beside its final name and renamed only once complete, so a full disk, a signal or a crash
mid-write never leaves a truncated `epochNNN.ckpt` for a later run (or `load_denoiser`) to pick
up. Reading checkpoints is `restorelab.checkpoints`, which does not import Lightning."""

from __future__ import annotations

import io
from typing import Any

import torch
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.plugins.io import TorchCheckpointIO

from restorelab.atomic import atomic_path


class AtomicCheckpointIO(TorchCheckpointIO):
    """`TorchCheckpointIO` whose local writes are atomic (temporary file, fsync, rename).

    Remote paths (s3://, gs://, ...) keep Lightning's own writer: object stores publish an object
    only once its upload completes.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None or "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        fs = get_filesystem(path)
        if type(fs).__name__ != "LocalFileSystem":
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)  # serialize first: nothing touches the disk on failure
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as file:
                file.write(buffer.getbuffer())
