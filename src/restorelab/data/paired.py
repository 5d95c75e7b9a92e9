"""Real noise: (noisy, clean) image pairs, matched by relative path in two folders."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch
from torch.utils.data import Dataset

from restorelab.data.base import SplitDataModule
from restorelab.data.files import find_images, load_images, report_bad, require_dir
from restorelab.data.patches import Pairs, RandomPatches, Tiles, fit_to_size, spread_tiles
from restorelab.errors import DataError


class Pair(NamedTuple):
    """One noisy image and its clean reference; pairs of one `group` stay in one split."""

    name: str
    group: str
    noisy: Path
    clean: Path


class PairedImagesDataModule(SplitDataModule):
    """Base of the real-noise DataModules: yields `(noisy, clean)` batches, which skip corruption.

    Subclasses find the pairs (`find_pairs`); this class splits them by group with `split_seed`,
    reads them once into memory, trains on `samples_per_epoch` random `patch_size` crops (the
    same crop, flip and rotation of both images) and evaluates on `eval_size` tiles, at most
    `eval_tiles` per image, or on whole images (batch size 1) when `eval_size` is null.
    Reads the keys `channels`, `patch_size`, `samples_per_epoch`, `val_fraction`,
    `test_fraction`, `split_seed`, `strict`, `small_images` and, when present, `eval_size`,
    `eval_tiles`.
    """

    # The second image of a training pair is a clean reference: objective=noise2noise, which
    # needs a second noisy draw, is refused on these (see `DenoisingModule.setup`).
    pair_target = "clean"

    def find_pairs(self) -> list[Pair]:
        raise NotImplementedError

    @property
    def whole_image_eval(self) -> bool:  # type: ignore[override]
        return self.hparams.get("eval_size") is None

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        hp = self.hparams
        pairs = {pair.name: pair for pair in self.find_pairs()}
        what = f"{type(self).__name__.removesuffix('DataModule')} ({self.describe()})"
        splits = self._split({name: pair.group for name, pair in pairs.items()}, what)
        images = load_images(
            [p for pair in pairs.values() for p in (pair.noisy, pair.clean)],
            self.channels, hp.strict, what,
        )
        stacked, mismatched = {}, []
        for name, pair in pairs.items():
            # Popped as they are stacked, so memory holds each image once, not twice.
            noisy, clean = images.pop(pair.noisy, None), images.pop(pair.clean, None)
            if noisy is None or clean is None:
                continue  # already reported as unreadable
            if noisy.shape != clean.shape or noisy.dtype != clean.dtype:
                mismatched.append(f"{name} (noisy {tuple(noisy.shape)} {noisy.dtype}, "
                                  f"clean {tuple(clean.shape)} {clean.dtype})")
                continue
            stacked[name] = torch.cat([noisy, clean])  # (2C, H, W): one crop cuts both
        report_bad(what, mismatched, hp.strict, "mismatched noisy/clean")
        datasets: dict[str, Dataset] = {}
        self.splits = {}
        for split, names in zip(("train", "val", "test"), splits):
            names = [n for n in names if n in stacked]
            size = hp.patch_size if split == "train" else hp.get("eval_size")
            views = [stacked[n] for n in names]
            if size is not None:
                views, names = fit_to_size(views, names, size, hp.small_images, f"{what} {split}")
            self.splits[split] = names
            if split == "train" and views:
                datasets[split] = Pairs(RandomPatches(views, hp.patch_size, hp.samples_per_epoch))
            elif size is None or not views:  # whole images; empty splits are refused below
                datasets[split] = Pairs(Tiles(views, None))
            else:
                tiles = [t for v in views for t in spread_tiles(v, size, hp.get("eval_tiles"))]
                datasets[split] = Pairs(Tiles(tiles, None))
        self._set_datasets(what, datasets, unit="pairs")

    def describe(self) -> str:
        """Where the pairs come from, for messages."""
        raise NotImplementedError


class PairedDataModule(PairedImagesDataModule):
    """Any real-noise set as two folders, `noisy_dir` and `clean_dir`, whose images match by
    relative path (`noisy/a/1.png` with `clean/a/1.png`); split by pair with `split_seed`."""

    def __init__(
        self,
        noisy_dir: str = "data/paired/noisy",
        clean_dir: str = "data/paired/clean",
        channels: int = 3,
        patch_size: int = 64,
        eval_size: int | None = 128,
        eval_tiles: int | None = None,
        samples_per_epoch: int = 1024,
        batch_size: int = 16,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        split_seed: int = 0,
        strict: bool = False,
        small_images: str = "pad",
    ) -> None:
        super().__init__()
        check_common(channels, small_images, eval_tiles)
        self.save_hyperparameters(logger=False)
        self.channels = channels

    def describe(self) -> str:
        return f"{self.hparams.noisy_dir} | {self.hparams.clean_dir}"

    def find_pairs(self) -> list[Pair]:
        how = ("Put the noisy images in data.noisy_dir and their clean references, under the same "
               "relative paths, in data.clean_dir.")
        noisy_dir = require_dir(Path(self.hparams.noisy_dir), "noisy images", how)
        clean_dir = require_dir(Path(self.hparams.clean_dir), "clean images", how)
        noisy = {p.relative_to(noisy_dir).as_posix(): p for p in find_images(noisy_dir)}
        clean = {p.relative_to(clean_dir).as_posix(): p for p in find_images(clean_dir)}
        unmatched = sorted(set(noisy) ^ set(clean))
        report_bad(f"paired ({self.describe()})", unmatched, self.hparams.strict, "unmatched")
        names = sorted(set(noisy) & set(clean))
        pairs = [Pair(name, name, noisy[name], clean[name]) for name in names]
        if not pairs:
            raise DataError(f"no image in {noisy_dir} has a match in {clean_dir}. {how}")
        return pairs


def check_common(channels: int, small_images: str, eval_tiles: int | None) -> None:
    """The argument checks every paired DataModule shares."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (gray) or 3 (RGB), got {channels}")
    if small_images not in ("pad", "skip"):
        raise ValueError(f"small_images must be 'pad' or 'skip', got {small_images!r}")
    if eval_tiles is not None and eval_tiles < 1:
        raise ValueError(f"eval_tiles must be a positive count or null (all), got {eval_tiles}")
