"""Writing the image shards that `data=streaming` reads (`restorelab.data.streaming`):
`restorelab shards FOLDER -o SHARDS` decodes each file of a folder once to check it, splits the
files as `data=folder` splits them, and writes each split as a LitData dataset of the files' bytes.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from restorelab.atomic import write_text_atomic
from restorelab.data.files import (
    DECODE_ERRORS,
    find_images,
    read_image,
    reason,
    report_bad,
    require_dir,
)
from restorelab.data.patches import split_by_group
from restorelab.errors import DataError

try:
    from litdata import optimize
except ImportError as error:  # an optional extra: say how to get it
    raise ImportError(
        "data=streaming and `restorelab shards` need LitData: pip install 'restorelab[streaming]'"
    ) from error

SPLITS = ("train", "val", "test")
# Written beside the three splits: where the shards came from and which files each split holds.
INFO_FILE = "restorelab.json"


def write_shards(
    source: str | Path,
    output: str | Path,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    recursive: bool = True,
    chunk_bytes: str = "64MB",
    num_workers: int | None = None,
    strict: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Writes the images under `source` as LitData shards in `output/{train,val,test}`.

    The files are split by name with `split_seed` exactly as `data=folder` (and
    `data=lazy_folder`) split the same folder, and each file is decoded once first: unreadable
    ones are left out and named in one warning (an error with `strict`). Returns the content of
    `output/restorelab.json`.
    """
    how = "Give a folder of PNG, JPEG, TIFF or BMP images."
    root = require_dir(Path(source), "image folder", how)
    output = Path(output)
    if output.exists() and any(output.iterdir()) and not overwrite:
        raise DataError(f"{output} is not empty: pass --overwrite to replace its shards")
    paths = {p.relative_to(root).as_posix(): p for p in find_images(root, recursive)}
    if len(paths) < 3:
        raise DataError(f"{root} holds {len(paths)} image file(s); train / val / test need 3")
    sizes, splits = _usable_splits(root, paths, val_fraction, test_fraction, split_seed, strict)
    entries = [[(str(paths[n]), n, *sizes[n]) for n in names] for names in splits]
    _write_splits(output, entries, chunk_bytes, num_workers, overwrite)
    info = {
        "source": str(root.resolve()),
        "format": "LitData optimize; each item: name, data (the file's bytes), height, width",
        "val_fraction": val_fraction,
        "test_fraction": test_fraction,
        "split_seed": split_seed,
        "recursive": recursive,
        "skipped": sorted(set(paths) - set(sizes)),
        "splits": dict(zip(SPLITS, splits)),
    }
    write_text_atomic(output / INFO_FILE, json.dumps(info, indent=1) + "\n")
    return info


def _usable_splits(
    root: Path, paths: dict[str, Path], val_fraction: float, test_fraction: float,
    split_seed: int, strict: bool,
) -> tuple[dict[str, tuple[int, int]], list[list[str]]]:
    """(height, width) of each file that decodes, by name (the others are named in one warning,
    an error with `strict`), and the names of the usable files of each split."""
    what = f"shards of {root}"
    with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
        checked = dict(zip(paths, pool.map(_checked_size, paths.values())))
    report_bad(what, [c for c in checked.values() if isinstance(c, str)], strict, "unreadable")
    sizes = {name: size for name, size in checked.items() if not isinstance(size, str)}
    try:  # every file found, as data=folder splits them, before the unreadable ones leave
        found = split_by_group({n: n for n in paths}, val_fraction, test_fraction, split_seed)
    except ValueError as error:
        raise DataError(f"{what}: {error}") from error
    splits = [[n for n in names if n in sizes] for names in found]
    for split, names in zip(SPLITS, splits):
        if not names:
            raise DataError(f"{what}: the {split} split is empty; it needs more usable images")
    return sizes, splits


def _checked_size(path: Path) -> tuple[int, int] | str:
    """(height, width) of a file that decodes, or why it does not (the pixels are dropped)."""
    try:
        image = read_image(path, 1)
    except DECODE_ERRORS as error:
        return f"{path} ({reason(error)})"
    return int(image.shape[-2]), int(image.shape[-1])


def _write_splits(
    output: Path, entries: list[list[tuple[str, str, int, int]]], chunk_bytes: str,
    num_workers: int | None, overwrite: bool,
) -> None:
    """Runs LitData's writer on each split's (path, name, height, width) entries, into
    `output/<split>`."""
    workers = num_workers or min(4, os.cpu_count() or 1)
    # LitData's writer sets the process's start method; DataLoaders of the same process (a test
    # session, a notebook) keep the one they had. Its processes only read files, so on Linux they
    # fork instead of spawning (which re-imports torch in each, seconds per process).
    start_method = multiprocessing.get_start_method(allow_none=True)
    writer_start = "fork" if sys.platform.startswith("linux") else None
    try:
        for split, items in zip(SPLITS, entries):
            optimize(
                fn=_shard_item, inputs=items, output_dir=str(output / split),
                chunk_bytes=chunk_bytes, num_workers=min(workers, len(items)),
                mode="overwrite" if overwrite else None, reorder_files=False, verbose=False,
                start_method=writer_start,
            )
    finally:
        multiprocessing.set_start_method(start_method, force=True)


def _shard_item(entry: tuple[str, str, int, int]) -> dict[str, Any]:
    # Module level: LitData's writer processes are spawned and import it by name.
    path, name, height, width = entry
    return {"name": name, "data": Path(path).read_bytes(), "height": height, "width": width}
