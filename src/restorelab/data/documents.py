"""Kaggle's Denoising Dirty Documents: scanned pages with real stains, and their clean versions."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

from restorelab.data.files import find_images, report_bad
from restorelab.data.paired import Pair, PairedImagesDataModule, check_common
from restorelab.errors import DataError

log = logging.getLogger(__name__)

COMPETITION_URL = "https://www.kaggle.com/competitions/denoising-dirty-documents/data"


class DocumentsDataModule(PairedImagesDataModule):
    """The 144 training pages of `train/` paired by file name with `train_cleaned/`.

    `test/` has no clean pages, so it cannot be scored: the pages of `train/` are split by page
    into train / val / test with `split_seed`. Training draws random `patch_size` crops; validation
    and test score whole pages (540x258 and 540x420, batch size 1, never resized).
    `prepare_data` unpacks `train.zip` and `train_cleaned.zip` when only the archives are there.
    """

    def __init__(
        self,
        data_dir: str = "data/denoising-dirty-documents",
        channels: int = 1,
        patch_size: int = 64,
        samples_per_epoch: int = 1024,
        batch_size: int = 16,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        split_seed: int = 0,
        strict: bool = False,
        small_images: str = "pad",
    ) -> None:
        super().__init__()
        check_common(channels, small_images, None)
        self.save_hyperparameters(logger=False)
        self.channels = channels

    def describe(self) -> str:
        return str(self.hparams.data_dir)

    def _how_to_get(self) -> str:
        root = Path(self.hparams.data_dir)
        return (
            f"Kaggle needs a login to download it: accept the rules at {COMPETITION_URL}, then "
            f"`kaggle competitions download -c denoising-dirty-documents` (or the Download button) "
            "and unzip train.zip and train_cleaned.zip so that the pages are "
            f"{root / 'train'}/*.png "
            f"and {root / 'train_cleaned'}/*.png (the zips placed in {root} are unpacked for you)."
        )

    def prepare_data(self) -> None:
        root = Path(self.hparams.data_dir)
        # `kaggle competitions download` gives one zip holding train.zip, train_cleaned.zip, ...
        outer = root / "denoising-dirty-documents.zip"
        if outer.is_file() and not (root / "train.zip").is_file() and not (root / "train").is_dir():
            self._unzip(outer, root)
        for folder in ("train", "train_cleaned"):
            archive = root / f"{folder}.zip"
            if not (root / folder).is_dir() and archive.is_file():
                self._unzip(archive, root, folder)

    def _unzip(self, archive: Path, root: Path, folder: str | None = None) -> None:
        try:
            with zipfile.ZipFile(archive) as zipped:
                names = zipped.namelist()
                # Kaggle's inner zips hold `train/1.png`; a flat zip goes into its folder.
                nested = folder is None or all(n.startswith(f"{folder}/") for n in names)
                zipped.extractall(root if nested else root / folder)
        except (zipfile.BadZipFile, OSError) as error:
            message = f"could not unpack {archive} ({error}). {self._how_to_get()}"
            raise DataError(message) from error
        log.info("unpacked %s", archive)

    def find_pairs(self) -> list[Pair]:
        root = Path(self.hparams.data_dir)
        noisy_dir, clean_dir = root / "train", root / "train_cleaned"
        if not noisy_dir.is_dir() or not clean_dir.is_dir():
            raise DataError(
                f"Denoising Dirty Documents not found: expected {noisy_dir} and {clean_dir}. "
                + self._how_to_get()
            )
        noisy = {p.name: p for p in find_images(noisy_dir, recursive=False)}
        clean = {p.name: p for p in find_images(clean_dir, recursive=False)}
        unmatched = [f"{name} (no partner)" for name in sorted(set(noisy) ^ set(clean))]
        report_bad(f"documents ({root})", unmatched, self.hparams.strict, "unpaired")
        names = sorted(set(noisy) & set(clean))
        if not names:
            raise DataError(f"no page of {noisy_dir} has its clean version in {clean_dir}. "
                            + self._how_to_get())
        return [Pair(name, name, noisy[name], clean[name]) for name in names]
