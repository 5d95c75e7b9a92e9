"""Atomic file writes: a reader (or a crash, or a full disk) never leaves half a file behind.

Every file RestoreLab writes goes through here: the content is written to a temporary file in
the same folder (so the final rename stays on one filesystem), flushed to disk, then renamed over
the final name with `os.replace`, which is atomic on POSIX and Windows. On any error the
temporary file is removed and the final name keeps what it had before (or stays absent).

    with atomic_path("results.png") as tmp:   # tmp keeps the suffix: writers that pick the
        figure.savefig(tmp)                    # format from it (PIL, matplotlib, tifffile) work
    write_text_atomic("metrics.json", text)
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yields a temporary path beside `path` with the same suffix; renames it to `path` when the
    block ends without an error, removes it otherwise."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A hidden name with the real suffix: `.metrics.json.tmp-ab12cd.json` is neither picked up
    # by glob("*.json")-style readers looking for finished files nor mistaken for the target.
    handle, name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.tmp-", suffix=target.suffix
    )
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    # mkstemp creates files readable by the owner only; give the file the usual permissions.
    with contextlib.suppress(OSError):
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(target, 0o666 & ~umask)


def _fsync(path: Path) -> None:
    # The data must be on disk before the rename makes it visible, or a power cut could leave
    # an empty file under the final name.
    with contextlib.suppress(OSError), open(path, "rb+") as file:
        os.fsync(file.fileno())


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Writes `data` to `path` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Writes `text` (UTF-8) to `path` atomically; returns the path."""
    return write_bytes_atomic(path, text.encode("utf-8"))
