"""Offline document pages: the two text images bundled with scikit-image, cut into bands.

Kaggle's dirty documents need a login; `skimage.data.page()` (191x384, a printed book page) and
`skimage.data.text()` (172x448, handwriting photographed on paper) are on every machine with
scikit-image. They are clean-ish targets for synthetic damage (`noise=stains`), not real scans.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from torch import Tensor
from torch.utils.data import Dataset

from restorelab.data.base import SplitDataModule
from restorelab.data.natural import load_skimage_image
from restorelab.data.patches import RandomPatches, Tiles

log = logging.getLogger(__name__)

PAGES = ("page", "text")


def page_bands(height: int, eval_rows: int) -> dict[str, tuple[int, int]]:
    """Row ranges `[start, stop)` of one page: train on top, then val, then test at the bottom.

    Contiguous bands share no pixel, and the train band keeps all rows the two `eval_rows` high
    evaluation bands leave.
    """
    if eval_rows < 1 or height - 2 * eval_rows < 1:
        raise ValueError(
            f"a page of {height} rows cannot give val and test bands of eval_rows={eval_rows} "
            "and keep rows for training: lower data.eval_rows"
        )
    return {
        "train": (0, height - 2 * eval_rows),
        "val": (height - 2 * eval_rows, height - eval_rows),
        "test": (height - eval_rows, height),
    }


class RandomFlips(Dataset):
    """Another dataset's images, flipped left-right and up-down at random (p = 0.5 each).

    Flips only, no 90-degree rotations: text lines stay horizontal, as on a scanned page.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Tensor:
        image = self.dataset[index]
        if torch.rand(()) < 0.5:
            image = image.flip(-1)
        if torch.rand(()) < 0.5:
            image = image.flip(-2)
        return image


class BundledDocumentsDataModule(SplitDataModule):
    """scikit-image's `page` and `text`, each cut into three horizontal bands, no pixel shared.

    From each page, the bottom `eval_rows` rows are the test band, the `eval_rows` above them the
    validation band, and everything above that the training band. Training draws
    `samples_per_epoch` random `patch_size` crops of the training bands (flips, no rotations);
    validation and test score the fixed, non-overlapping `eval_rows` x `eval_rows` tiles of their
    bands, so every epoch and every model scores the same pixels.
    """

    def __init__(
        self,
        pages: Sequence[str] = PAGES,
        channels: int = 1,
        patch_size: int = 48,
        eval_rows: int = 48,
        samples_per_epoch: int = 1024,
        batch_size: int = 16,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
    ) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (gray) or 3 (gray copied to RGB), got {channels}")
        # A plain list: Hydra passes a ListConfig, which the checkpoint's hyperparameters would
        # pickle, and weights-only loading (restorelab eval, load_denoiser) refuses to read.
        pages = [str(name) for name in pages]
        unknown = [name for name in pages if name not in PAGES]
        if unknown or not pages:
            raise ValueError(f"pages must be a non-empty list of {list(PAGES)}, got {pages}")
        self.save_hyperparameters(logger=False)
        self.channels = channels

    def band(self, name: str, split: str) -> Tensor:
        """One page's band of `split` as a `[channels, rows, W]` uint8 tensor."""
        page = torch.from_numpy(load_skimage_image(name).copy())[None]  # (1, H, W), gray
        start, stop = page_bands(page.shape[-2], self.hparams.eval_rows)[split]
        return page[:, start:stop].repeat(self.channels, 1, 1).contiguous()

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        hp = self.hparams
        pages = list(hp.pages)
        self.splits = {split: [f"{name}:{split}" for name in pages]
                       for split in ("train", "val", "test")}
        bands = {split: [self.band(name, split) for name in pages] for split in self.splits}
        train = RandomPatches(bands["train"], hp.patch_size, hp.samples_per_epoch, augment=False)
        self._set_datasets(
            "bundled documents",
            {
                "train": RandomFlips(train),
                "val": Tiles(bands["val"], hp.eval_rows),
                "test": Tiles(bands["test"], hp.eval_rows),
            },
            unit="bands",
        )
