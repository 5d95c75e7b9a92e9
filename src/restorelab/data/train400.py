"""Train400, DnCNN's training set: 400 gray 180x180 Berkeley crops, as the literature trains on it.

Training draws random `patch_size` crops (40x40 in the DnCNN recipe) with the 8 flips and
rotations; a seeded `val_images` of the 400 are held out for model selection. The test split is
that held-out set (`test_set: heldout`) or BSD68 (`test_set: bsd68`, whole images from
`test_dir`): BSD68 is disjoint from Train400 and is never used to select anything.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from restorelab.benchmarks.sets import get_set
from restorelab.data.base import SplitDataModule
from restorelab.data.patches import RandomPatches, Tiles
from restorelab.errors import DataError

TEST_SETS = ("heldout", "bsd68")


def _tensors(name: str, root: Path) -> dict[str, Tensor]:
    """The files of benchmark set `name` in `root` as `[1, H, W]` uint8 tensors, by file name;
    a missing or incomplete folder is the set's own DataError (what is missing, how to get it)."""
    return {
        file: torch.from_numpy(image).permute(2, 0, 1).contiguous()
        for file, image in get_set(name).load(root)
    }


class Train400DataModule(SplitDataModule):
    """Train400 from `data_dir`: random crops for training, `val_images` held out (seeded by
    `split_seed`), test on the held-out images or on BSD68 (`test_set`, `test_dir`).

    Validation and test score whole images (`eval_size` null) or the `eval_size` tiles of them.
    `crops_on_device`: the training crops are cut on the device from the 380 images copied there
    once (for GPUs, which a CPU loader cannot keep fed at large batches).
    """

    def __init__(
        self,
        data_dir: str = "data/benchmarks/train400",
        channels: int = 1,
        patch_size: int = 40,
        samples_per_epoch: int = 1024,
        batch_size: int = 16,
        val_images: int = 20,
        split_seed: int = 0,
        test_set: str = "heldout",
        test_dir: str = "data/benchmarks/bsd68",
        eval_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        crops_on_device: bool = False,
    ) -> None:
        super().__init__()
        if channels != 1:
            raise ValueError(f"Train400 is gray: channels must be 1, got {channels}")
        if test_set not in TEST_SETS:
            raise ValueError(f"test_set={test_set!r} is not supported; allowed: {TEST_SETS}")
        if not 1 <= val_images < 400:
            raise ValueError(f"val_images must be in [1, 399], got {val_images}")
        self.save_hyperparameters(logger=False)
        self.channels = channels
        self.whole_image_eval = eval_size is None

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        hp = self.hparams
        # Both folders are checked now, before any training: a missing BSD68 must not surface
        # only at test time, hours later.
        images = _tensors("train400", Path(hp.data_dir))
        test_images = _tensors("bsd68", Path(hp.test_dir)) if hp.test_set == "bsd68" else None
        names = sorted(images)
        order = torch.randperm(len(names), generator=torch.Generator().manual_seed(hp.split_seed))
        val = sorted(names[i] for i in order[: hp.val_images].tolist())
        train = sorted(set(names) - set(val))
        test = val if test_images is None else sorted(test_images)
        test_source = images if test_images is None else test_images
        self.splits = {"train": train, "val": val, "test": test}
        try:
            datasets = {
                "train": RandomPatches([images[n] for n in train], hp.patch_size,
                                       hp.samples_per_epoch),
                "val": Tiles([images[n] for n in val], hp.eval_size),
                "test": Tiles([test_source[n] for n in test], hp.eval_size),
            }
        except ValueError as error:  # a patch or tile larger than the images
            raise DataError(f"Train400 ({hp.data_dir}): {error}") from error
        what = f"Train400 ({hp.data_dir}; test: {hp.test_set})"
        self._set_datasets(what, datasets)
