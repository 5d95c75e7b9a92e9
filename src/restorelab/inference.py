"""Denoising real images of any size with a trained net, and `restorelab denoise` on files.

    from restorelab.inference import load_denoiser
    denoiser = load_denoiser("logs/train/runs/<run>")   # a run folder, a .ckpt or a .safetensors
    restored = denoiser.denoise(image)                   # H x W or H x W x C float in [0, 1]

This module is the import path of the inference API; the pieces live one concept per module:
`restorelab.loading` (resolving and safely reading checkpoints and exports),
`restorelab.denoiser` (the `Denoiser`: tiles, self-ensemble, the noise level),
`restorelab.tiling` (tile sizes and overlaps), `restorelab.codec` (reading and writing image
files). What stays here is the file job behind `restorelab denoise`: finding the inputs,
planning outputs that never overwrite what the user owns, and restoring them one by one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from restorelab.checkpoints import CheckpointError
from restorelab.codec import ImageFile, read_image_file, write_image_file
from restorelab.denoiser import (
    Denoiser,
    ImageLike,
    grid_multiple,
    load_denoiser,
    model_channels,
    pad_multiple,
)
from restorelab.errors import RestoreLabError
from restorelab.loading import SAFETENSORS_METADATA_KEY, load_network, resolve_checkpoint

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")

__all__ = [  # the inference API, from the modules that hold it
    "SAFETENSORS_METADATA_KEY",
    "CheckpointError",
    "DenoiseResult",
    "Denoiser",
    "ImageFile",
    "ImageLike",
    "OutputConflict",
    "denoise_files",
    "find_image_files",
    "grid_multiple",
    "load_denoiser",
    "load_network",
    "model_channels",
    "pad_multiple",
    "plan_outputs",
    "read_image_file",
    "resolve_checkpoint",
    "write_image_file",
]


# ---------------------------------------------------------------------------------------------
# `restorelab denoise`: image files: PNG / JPEG / TIFF, 8- or 16-bit, gray or RGB, alpha kept
# ---------------------------------------------------------------------------------------------
def find_image_files(
    inputs: Iterable[str | Path], exclude: Path | None = None
) -> list[tuple[Path, Path]]:
    """`(file, its path relative to the input it came from)` for files and folders (recursive).

    Files under `exclude` (the output folder, when it lies inside an input folder) are left out,
    so a second run never takes the first run's results for inputs."""
    found = []
    excluded = exclude.resolve() if exclude is not None else None
    for item in map(Path, inputs):
        if item.is_dir():
            # Only an output folder strictly inside this input is skipped; an output that is
            # the input folder itself is refused later, file by file (see plan_outputs).
            inside = excluded is not None and item.resolve() in excluded.parents
            for path in sorted(item.rglob("*")):
                if not (path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES):
                    continue
                if inside and excluded in path.resolve().parents:
                    continue
                found.append((path, path.relative_to(item)))
        elif item.is_file():
            found.append((item, Path(item.name)))
        else:
            raise FileNotFoundError(f"{item} does not exist")
    return found


class OutputConflict(RestoreLabError):
    """Restoring would replace a file the user has: an input, or an earlier output."""


@dataclass
class DenoiseResult:
    """What `denoise_files` did: the files written, and the inputs that could not be restored
    with the reason for each."""

    written: list[Path]
    failed: list[tuple[Path, str]]
    # The noise level each image was restored at (0-255), for nets that take it; "given",
    # "trained" or "estimated" says where the levels came from.
    levels: dict[Path, float] = field(default_factory=dict)
    sigma_source: str | None = None


def plan_outputs(
    files: list[tuple[Path, Path]], output: Path, overwrite: bool = False, in_place: bool = False
) -> list[tuple[Path, Path]]:
    """`(input, target)` pairs, refused up front (before any file is written) when a target is
    one of the inputs (unless `in_place`) or an existing file (unless `overwrite`)."""
    plan = [(path, output / relative) for path, relative in files]
    inputs = {path.resolve() for path, _ in plan}
    targets: dict[Path, Path] = {}
    for path, target in plan:
        resolved = target.resolve()
        if resolved in targets:
            raise OutputConflict(
                f"{targets[resolved]} and {path} would both be written to {target}: give them "
                "separate runs or rename one"
            )
        targets[resolved] = path
        if resolved in inputs and not in_place:
            raise OutputConflict(
                f"--output {output} would replace the input {path} with its restored version: "
                "choose another output folder, or pass --in-place to replace the originals"
            )
        if resolved not in inputs and target.exists() and not overwrite:
            raise OutputConflict(
                f"{target} already exists: pass --overwrite to replace it, or choose another "
                "output folder"
            )
    return plan


def denoise_files(
    denoiser: Denoiser,
    inputs: Iterable[str | Path],
    output: str | Path,
    progress: bool = True,
    overwrite: bool = False,
    in_place: bool = False,
    sigma: float | None = None,
) -> DenoiseResult:
    """Restores every image file under `inputs` into the folder `output`, keeping relative
    paths, formats, bit depths and alpha channels.

    Nothing the user has is replaced unless asked: an output that is one of the inputs needs
    `in_place`, an existing output needs `overwrite` (both checked before anything is written).
    A file that cannot be read or restored is listed in the result's `failed` and the others are
    still restored; every file is written atomically. `sigma` (0-255) is the noise level for a
    net that takes it; None estimates it per image.
    """
    inputs = list(inputs)
    output = Path(output)
    files = find_image_files(inputs, exclude=output)
    if not files:
        raise FileNotFoundError(f"no PNG, JPEG or TIFF files in {list(map(str, inputs))}")
    plan = plan_outputs(files, output, overwrite=overwrite, in_place=in_place)
    result = DenoiseResult([], [])
    iterator: Iterable[tuple[Path, Path]] = plan
    if progress:  # a bar on a terminal, a line a minute in a job's log
        from restorelab.progress_log import track

        iterator = track(plan, total=len(plan), description="denoising",
                         describe=lambda pair: pair[0].name)
    for path, target in iterator:
        try:
            image = read_image_file(path)
        except (OSError, ValueError, SyntaxError) as error:  # truncated, corrupt, unsupported
            result.failed.append((path, _reason(error)))
            continue
        restored = ImageFile(
            denoiser.denoise(image.pixels, sigma), image.alpha, image.bit_depth
        )
        write_image_file(target, restored)
        result.written.append(target)
        if denoiser.last_sigma is not None:
            result.levels[target] = denoiser.last_sigma
            result.sigma_source = denoiser.sigma_source
    return result


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split()) or "unreadable"
    return f"{type(error).__name__}: {text}"
