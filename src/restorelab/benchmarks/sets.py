"""The standard denoising benchmark sets by name: expected files, channels, where they live, and
how to get them.

A set lives in `<data_dir>/benchmarks/<name>` (`data/benchmarks/bsd68` under the directory the
command runs from, as `paths.data_dir` is for training), or in a folder the user names. The
files are checked before anything is scored: a missing or incomplete folder is one `DataError`
that names the folder, what is missing and how to get it. `download()` fetches the public
releases (GitHub raw files of cszn/DnCNN, cszn/FFDNet, SwinIR and CBSD68-dataset, the Urban100
archive on Hugging Face); each file is written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from restorelab.atomic import write_bytes_atomic
from restorelab.errors import DataError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg")
_SHOWN = 5  # missing names listed in an error; the count is always complete

_DNCNN = "https://raw.githubusercontent.com/cszn/DnCNN/master"
_FFDNET = "https://raw.githubusercontent.com/cszn/FFDNet/master"
_SWINIR = "https://raw.githubusercontent.com/JingyunLiang/SwinIR/main"
_CBSD68 = "https://raw.githubusercontent.com/clausmichele/CBSD68-dataset/master"


@dataclass(frozen=True)
class Archive:
    """A release packed as one archive: its URL, MD5, and the folder inside holding the files."""

    url: str
    md5: str
    member_dir: str


@dataclass(frozen=True)
class BenchmarkSet:
    """One named set: `names` are its files as the public release names them, `base_url` the
    folder they are fetched from one by one (or `archive`, for a set packed as one file)."""

    name: str
    title: str
    channels: int
    names: tuple[str, ...]
    description: str
    source: str
    base_url: str | None = None
    archive: Archive | None = None

    @property
    def count(self) -> int:
        return len(self.names)

    @property
    def color(self) -> str:
        return "gray" if self.channels == 1 else "RGB"

    def how_to_get(self, root: Path) -> str:
        """The sentence every error about this set ends with."""
        return (
            f"Get it with `restorelab benchmark --download --sets {self.name} --root {root}` "
            f"(from {self.source}), or copy the {self.count} files of {self.title} into {root} "
            f"(--root DIR reads DIR/{self.name}/, or DIR itself)"
        )

    def files(self, root: str | Path) -> list[Path]:
        """The set's files in `root`, in the release's order; a DataError when any is missing.

        A folder holding exactly `count` images under other names (another release of the same
        set, e.g. CBSD68 named by Berkeley image ids) is taken in sorted order."""
        root = Path(root)
        if not root.is_dir():
            raise DataError(
                f"{self.title} ({self.color}, {self.count} images) not found: {root} is not a "
                f"folder. {self.how_to_get(root)}"
            )
        present = {
            p.name: p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        }
        missing = [name for name in self.names if name not in present]
        if not missing:
            return [present[name] for name in self.names]
        if len(present) == self.count:
            log.info("%s: %s holds %d images under other names than %s, ...: using them sorted",
                     self.title, root, self.count, ", ".join(self.names[:2]))
            return [present[name] for name in sorted(present)]
        shown = ", ".join(missing[:_SHOWN]) + (", ..." if len(missing) > _SHOWN else "")
        raise DataError(
            f"{self.title} in {root} is incomplete: {len(missing)} of its {self.count} files "
            f"missing ({shown}); the folder holds {len(present)} image file(s). "
            f"{self.how_to_get(root)}"
        )

    def load(self, root: str | Path) -> list[tuple[str, np.ndarray]]:
        """(file name, `[H, W, channels]` uint8 array) for every image, as distributed."""
        paths = self.files(root)
        return [(path.name, read_uint8(path, self.channels, self.title)) for path in paths]

    def download(self, root: str | Path) -> Path:
        """Fetches the files missing from `root` from the public release; returns `root`."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        if self.archive is not None:
            missing = [n for n in self.names if not (root / n).is_file()]
            if missing:
                _fetch_archive(self.archive, root, set(missing))
            return root
        for name in self.names:
            if not (root / name).is_file():
                write_bytes_atomic(root / name, _fetch(f"{self.base_url}/{name}", self))
        log.info("%s: %d files in %s", self.title, self.count, root)
        return root


def _fetch(url: str, benchmark: BenchmarkSet | None = None, timeout: float = 60.0) -> bytes:
    """The body of `url`; offline or not found is a DataError naming the URL."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (https)
            return response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        where = f" Copy the files of {benchmark.title} by hand instead." if benchmark else ""
        raise DataError(f"could not download {url} ({reason}).{where}") from None


def _fetch_archive(archive: Archive, root: Path, wanted: set[str]) -> None:
    """Downloads a tar archive beside `root`, checks its MD5, extracts the wanted files."""
    data = _fetch(archive.url)
    digest = hashlib.md5(data).hexdigest()  # noqa: S324 (an integrity check, as published)
    if digest != archive.md5:
        raise DataError(f"{archive.url}: MD5 {digest} differs from the published {archive.md5}")
    with tempfile.TemporaryDirectory(dir=root.parent) as folder:
        packed = Path(folder) / "archive.tar.gz"
        packed.write_bytes(data)
        with tarfile.open(packed) as tar:
            for member in tar.getmembers():
                name = Path(member.name).name
                # Only the expected flat files: no paths from the archive reach the disk.
                if member.isfile() and name in wanted and archive.member_dir in member.name:
                    content = tar.extractfile(member)
                    if content is not None:
                        write_bytes_atomic(root / name, content.read())


def read_uint8(path: Path, channels: int, title: str) -> np.ndarray:
    """One 8-bit image as `[H, W, channels]` uint8. A gray set's file must be gray (or RGB with
    equal channels): converting a color file with some luma formula would change the set."""
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        if image.mode not in ("L", "RGB", "P", "RGBA", "LA"):
            raise DataError(f"{path}: {image.mode} pixels; {title} is distributed as 8-bit images")
        array = np.asarray(image.convert("RGB" if image.mode in ("P", "RGBA") else image.mode))
    array = array[..., :1] if image.mode == "LA" else array
    array = array[..., None] if array.ndim == 2 else array
    if channels == 1 and array.shape[-1] == 3:
        if not (np.array_equal(array[..., 0], array[..., 1])
                and np.array_equal(array[..., 0], array[..., 2])):
            raise DataError(
                f"{path} is a color image, but {title} is gray: use the gray release as "
                "distributed (gray BSD68 is MATLAB's rgb2gray of CBSD68, not another luma)"
            )
        array = array[..., :1]
    if channels == 3 and array.shape[-1] == 1:
        raise DataError(f"{path} is gray, but {title} is an RGB set")
    return np.array(array, order="C")  # a writable copy (PIL's buffers are read-only)


def _numbered(pattern: str, first: int, last: int) -> tuple[str, ...]:
    return tuple(pattern.format(i) for i in range(first, last + 1))


BENCHMARK_SETS: dict[str, BenchmarkSet] = {
    s.name: s
    for s in (
        BenchmarkSet(
            "bsd68", "BSD68", 1, _numbered("test{:03d}.png", 1, 68),
            "68 gray Berkeley photographs, 481x321 or 321x481 (MATLAB rgb2gray of CBSD68)",
            "github.com/cszn/DnCNN testsets/BSD68", f"{_DNCNN}/testsets/BSD68",
        ),
        BenchmarkSet(
            "set12", "Set12", 1, _numbered("{:02d}.png", 1, 12),
            "12 gray classics (cameraman, house, peppers, ...), 256x256 or 512x512",
            "github.com/cszn/DnCNN testsets/Set12", f"{_DNCNN}/testsets/Set12",
        ),
        BenchmarkSet(
            "cbsd68", "CBSD68", 3, _numbered("{:04d}.png", 0, 67),
            "the 68 color originals of BSD68, 481x321 or 321x481",
            "github.com/clausmichele/CBSD68-dataset CBSD68/original_png",
            f"{_CBSD68}/CBSD68/original_png",
        ),
        BenchmarkSet(
            "kodak24", "Kodak24", 3, _numbered("kodim{:02d}.png", 1, 24),
            "the 24 Kodak PhotoCD photographs, 768x512 or 512x768",
            "github.com/cszn/FFDNet testsets/Kodak24 (originally r0k.us/graphics/kodak)",
            f"{_FFDNET}/testsets/Kodak24",
        ),
        BenchmarkSet(
            "mcmaster", "McMaster", 3, _numbered("{}.tif", 1, 18),
            "18 color crops of 500x500 (McMaster demosaicking set), TIFF",
            "github.com/JingyunLiang/SwinIR testsets/McMaster", f"{_SWINIR}/testsets/McMaster",
        ),
        BenchmarkSet(
            "urban100", "Urban100", 3, _numbered("img_{:03d}.png", 1, 100),
            "100 color photographs of buildings (Huang et al. 2015), about 1024 px wide",
            "huggingface.co/datasets/eugenesiow/Urban100 (Urban100_HR.tar.gz)",
            archive=Archive(
                "https://huggingface.co/datasets/eugenesiow/Urban100/resolve/main/data/"
                "Urban100_HR.tar.gz",
                "65d9d84a34b72c6f7ca1e26a12df1e4c",
                "Urban100_HR",
            ),
        ),
        BenchmarkSet(
            "train400", "Train400", 1, _numbered("test_{:03d}.png", 1, 400),
            "DnCNN's 400 gray 180x180 training crops of Berkeley images (disjoint from BSD68)",
            "github.com/cszn/DnCNN TrainingCodes/DnCNN_TrainingCodes_v1.0/data/Train400",
            f"{_DNCNN}/TrainingCodes/DnCNN_TrainingCodes_v1.0/data/Train400",
        ),
    )
}


def get_set(name: str) -> BenchmarkSet:
    """The set registered under `name` (case-insensitive); a DataError lists the known ones."""
    key = name.lower()
    if key not in BENCHMARK_SETS:
        raise DataError(f"unknown benchmark set {name!r}; known: {', '.join(BENCHMARK_SETS)}")
    return BENCHMARK_SETS[key]


def folder_set(label: str, folder: str | Path) -> BenchmarkSet:
    """A folder of the user's own 8-bit images as a named set (`NAME=FOLDER` in `sets`): its
    image files in sorted order, gray when every file is gray, scored by the same protocol as
    the standard sets (no download, no published rows). The label must not be a registered name,
    whose published rows would then be set beside other images."""
    from PIL import Image

    folder = Path(folder).expanduser()
    if not label or label.lower() in BENCHMARK_SETS:
        raise DataError(
            f"a folder set needs a name of its own (NAME=FOLDER), not {label!r}: "
            f"{', '.join(BENCHMARK_SETS)} are the registered sets"
        )
    if not folder.is_dir():
        raise DataError(f"set {label}: {folder} is not a folder of images")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"set {label}: no image files in {folder} (PNG, TIFF, BMP or JPEG)")
    gray = True
    for path in files:
        with Image.open(path) as image:
            gray = gray and image.mode in ("1", "L", "LA")
    return BenchmarkSet(
        label, label, 1 if gray else 3, tuple(p.name for p in files),
        f"{len(files)} {'gray' if gray else 'RGB'} images of {folder}", str(folder),
    )


def parse_set(spec: str) -> tuple[BenchmarkSet, Path | None]:
    """A `sets` entry: a registered name (its root is resolved by the caller), or NAME=FOLDER."""
    if "=" in spec:
        label, folder = spec.split("=", 1)
        return folder_set(label.strip(), folder), Path(folder).expanduser()
    return get_set(spec), None


def default_data_dir() -> Path:
    """`paths.data_dir` as the training config resolves it: `$RESTORELAB_ROOT/data`, else `data`
    under the current directory."""
    return Path(os.environ.get("RESTORELAB_ROOT") or os.getcwd()) / "data"


def set_root(name: str, root: str | Path | None = None) -> Path:
    """Where set `name` is read from: `root/name` when that folder exists, else `root` itself;
    without `root`, `<data_dir>/benchmarks/<name>`."""
    if root is None:
        return default_data_dir() / "benchmarks" / name
    root = Path(root).expanduser()
    return root / name if (root / name).is_dir() else root

