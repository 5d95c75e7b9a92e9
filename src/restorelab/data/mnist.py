"""MNIST and Fashion-MNIST through torchvision, or Fashion-MNIST from Debian's package (offline)."""

from __future__ import annotations

import gzip
import logging
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.datasets import MNIST, FashionMNIST
from torchvision.transforms.v2.functional import resize as resize_images

from restorelab.data.base import SplitDataModule
from restorelab.data.patches import ImageStack
from restorelab.errors import DataError

log = logging.getLogger(__name__)

# dataset -> (torchvision class, where its files come from when online)
DATASETS = {
    "mnist": (MNIST, "https://ossci-datasets.s3.amazonaws.com/mnist/"),
    "fashion_mnist": (
        FashionMNIST,
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
}
RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# Where Debian's `dataset-fashion-mnist` package installs the four IDX .gz files.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
SOURCES = ("torchvision", "debian")
RESIZE_MODES = ("pad", "resize")


class MNISTDataModule(SplitDataModule):
    """MNIST or Fashion-MNIST digits / articles as clean 28x28 images (or `image_size`).

    The 10,000 test images are the test split; `val_fraction` of the 60,000 training images,
    drawn with `split_seed`, the validation split. Files are read from
    `<data_dir>/MNIST/raw/` (`FashionMNIST/raw/`), gzipped or not; `prepare_data` downloads them
    when `download` is true, or with `source="debian"` copies Debian's package files there.
    `resize="pad"` adds a black border (the digits keep their size), `"resize"` rescales.
    """

    shuffle_train = True

    def __init__(
        self,
        dataset: str = "mnist",
        data_dir: str = "data",
        download: bool = True,
        source: str = "torchvision",
        channels: int = 1,
        image_size: int = 28,
        resize: str = "pad",
        samples_per_epoch: int | None = None,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        val_fraction: float = 0.1,
        split_seed: int = 0,
    ) -> None:
        super().__init__()
        if dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {dataset!r}")
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
        if source == "debian" and dataset != "fashion_mnist":
            raise ValueError("source='debian' exists for dataset='fashion_mnist' only")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (gray) or 3 (gray copied to RGB), got {channels}")
        if resize not in RESIZE_MODES:
            raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
        if resize == "pad" and image_size < 28:
            raise ValueError(f"resize='pad' needs image_size >= 28, got {image_size}")
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        self.save_hyperparameters(logger=False)
        self.channels = channels

    @property
    def raw_dir(self) -> Path:
        """Where torchvision reads the IDX files."""
        cls, _ = DATASETS[self.hparams.dataset]
        return Path(self.hparams.data_dir) / cls.__name__ / "raw"

    def _missing(self) -> list[str]:
        return [name for name in RAW_FILES if not (self.raw_dir / name).is_file()]

    def _how_to_get(self) -> str:
        hp = self.hparams
        _, url = DATASETS[hp.dataset]
        how = (
            f"With internet, data.download=true downloads it from {url}; offline, put "
            f"the four files {', '.join(RAW_FILES)} (or their .gz) in {self.raw_dir}"
        )
        if hp.dataset == "fashion_mnist":
            how += (
                ", or install Debian's package (`sudo apt install dataset-fashion-mnist`, files "
                f"in {DEBIAN_FASHION_MNIST}) and set data.source=debian"
            )
        return how + "."

    def prepare_data(self) -> None:
        hp = self.hparams
        if hp.source == "debian":
            if not DEBIAN_FASHION_MNIST.is_dir():
                raise DataError(
                    f"Fashion-MNIST from Debian: {DEBIAN_FASHION_MNIST} not found; install it "
                    "with `sudo apt install dataset-fashion-mnist`, or set data.source=torchvision"
                )
            self.raw_dir.mkdir(parents=True, exist_ok=True)
            for name in self._missing():
                _gunzip(DEBIAN_FASHION_MNIST / f"{name}.gz", self.raw_dir / name)
        # Files placed by hand are often still gzipped; torchvision reads only the plain ones.
        for name in self._missing():
            if (self.raw_dir / f"{name}.gz").is_file():
                _gunzip(self.raw_dir / f"{name}.gz", self.raw_dir / name)
        if self._missing() and hp.download:
            cls, _ = DATASETS[hp.dataset]
            try:
                for train in (True, False):
                    cls(hp.data_dir, train=train, download=True)
            except Exception as error:  # urllib, HTTP and checksum errors alike
                reason = " ".join(str(error).split())  # torchvision's message spans lines
                raise DataError(
                    f"{hp.dataset}: download into {self.raw_dir} failed ({reason}). "
                    + self._how_to_get()
                ) from error

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        hp = self.hparams
        missing = self._missing()
        if missing:
            hint = ""
            if any((self.raw_dir / f"{n}.gz").is_file() for n in missing):
                hint = " The .gz files are there: prepare_data() unpacks them (training calls it)."
            raise DataError(
                f"{hp.dataset} not found: expected {', '.join(missing)} in {self.raw_dir}.{hint} "
                + self._how_to_get()
            )
        cls, _ = DATASETS[hp.dataset]
        try:
            train_set = cls(hp.data_dir, train=True, download=False)
            test_set = cls(hp.data_dir, train=False, download=False)
        except (RuntimeError, ValueError, OSError, AssertionError, KeyError) as error:
            raise DataError(
                f"{hp.dataset}: the IDX files in {self.raw_dir} are unreadable ({error}); delete "
                "them and get them again. " + self._how_to_get()
            ) from error
        train_images = self._fit(train_set.data)
        count = len(train_images)
        order = torch.randperm(count, generator=torch.Generator().manual_seed(hp.split_seed))
        num_val = max(1, round(hp.val_fraction * count))
        val_index, train_index = order[:num_val].sort().values, order[num_val:].sort().values
        if len(train_index) == 0:
            raise DataError(f"{hp.dataset}: val_fraction={hp.val_fraction} leaves no training set")
        self._set_datasets(
            f"{hp.dataset} ({self.raw_dir})",
            {
                "train": ImageStack(train_images[train_index]),
                "val": ImageStack(train_images[val_index]),
                "test": ImageStack(self._fit(test_set.data)),
            },
        )

    def _fit(self, images: Tensor) -> Tensor:
        """`[N, 28, 28]` uint8 to `[N, channels, image_size, image_size]` uint8."""
        hp = self.hparams
        images = images[:, None]
        size = hp.image_size
        if hp.resize == "pad" and size != images.shape[-1]:
            before = (size - images.shape[-1]) // 2
            after = size - images.shape[-1] - before
            images = F.pad(images, (before, after, before, after))  # the background is black
        elif hp.resize == "resize" and size != images.shape[-1]:
            images = resize_images(images, [size, size], antialias=True)
        return images.expand(-1, self.channels, -1, -1).contiguous()


def _gunzip(source: Path, target: Path) -> None:
    """Unpacks `source` into `target` through a temporary name, so a crash leaves no half file."""
    if not source.is_file():
        raise DataError(f"expected {source}; it is missing")
    partial = target.with_suffix(".partial")
    try:
        with gzip.open(source, "rb") as zipped, open(partial, "wb") as plain:
            shutil.copyfileobj(zipped, plain)
    except (OSError, EOFError) as error:
        partial.unlink(missing_ok=True)
        raise DataError(f"could not unpack {source} ({error}); get the file again") from error
    partial.replace(target)
    log.info("unpacked %s into %s", source, target)
