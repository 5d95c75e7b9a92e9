"""The plumbing every file-backed DataModule shares: three split datasets, their loaders, sizes."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, RandomSampler

from restorelab.data.patches import RandomPatches, split_by_group
from restorelab.errors import DataError

log = logging.getLogger(__name__)

# Fewer training items than this trains, but almost surely not what the user meant.
MIN_TRAIN_ITEMS = 16


class SplitDataModule(L.LightningDataModule):
    """Base of the DataModules: `setup` fills `self.datasets` with "train", "val" and "test".

    Subclasses save their constructor arguments with `save_hyperparameters`; the loaders read
    `batch_size`, `num_workers`, `pin_memory`, `persistent_workers` and, when the training set is
    a fixed list of images rather than random crops, `samples_per_epoch` (null = every image once).
    With `crops_on_device` (random crops only) the crops are cut on the device instead
    (`restorelab.data.device_crops`).
    """

    # True when training items are fixed images (they need shuffling); random crops do not.
    shuffle_train = False
    # True when evaluation views differ in size (whole pages, whole photos): one per batch.
    whole_image_eval = False

    def __init__(self) -> None:
        super().__init__()
        self.splits: dict[str, list[str]] = {}
        self.datasets: dict[str, Dataset] = {}

    def _split(
        self, groups: Mapping[str, str], what: str
    ) -> tuple[list[str], list[str], list[str]]:
        """`split_by_group` with the config's fractions and seed; too few items is a DataError."""
        hp = self.hparams
        try:
            return split_by_group(groups, hp.val_fraction, hp.test_fraction, hp.split_seed)
        except ValueError as error:
            raise DataError(f"{what}: {error}") from error

    def _set_datasets(self, what: str, datasets: dict[str, Dataset], unit: str = "images") -> None:
        """Keeps the three datasets, refusing an empty split, and logs their sizes."""
        for split, dataset in datasets.items():
            if len(dataset) == 0:
                raise DataError(
                    f"{what}: the {split} split is empty; it needs more usable images "
                    "(or other val_fraction / test_fraction)"
                )
        self.datasets = datasets
        counts = {split: len(names) for split, names in self.splits.items()}
        items = " | ".join(
            f"{split} " + (f"{counts[split]} {unit} -> " if split in counts else "")
            + f"{len(dataset)} items"
            for split, dataset in datasets.items()
        )
        log.info("%s: %s", what, items)
        train_items = counts.get("train", len(datasets["train"]))
        if train_items < MIN_TRAIN_ITEMS:
            log.warning(
                "%s: only %d training %s; results on so few mean little", what, train_items, unit
            )

    def _loader(self, split: str) -> DataLoader:
        hp = self.hparams
        dataset = self.datasets[split]
        if split == "train" and hp.get("crops_on_device"):
            return self._device_crop_loader(dataset)
        sampler = None
        if split == "train" and self.shuffle_train:
            # A fresh random subset (or order) every epoch; `samples_per_epoch` caps the epoch.
            sampler = RandomSampler(dataset, num_samples=hp.get("samples_per_epoch"))
        whole = split != "train" and self.whole_image_eval
        return DataLoader(
            dataset,
            batch_size=1 if whole else hp.batch_size,
            sampler=sampler,
            num_workers=hp.num_workers,
            pin_memory=hp.pin_memory,
            persistent_workers=hp.persistent_workers and hp.num_workers > 0,
        )

    def _device_crop_loader(self, dataset: RandomPatches) -> DataLoader:
        """`crops_on_device`: a loader of placeholders; the crops are cut on the device. Only
        DataModules whose training set is `RandomPatches` take the option (Train400)."""
        from restorelab.data.device_crops import CropSlots, DeviceCrops

        self._device_crops = DeviceCrops(dataset)
        return DataLoader(CropSlots(len(dataset)), batch_size=self.hparams.batch_size)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """With `crops_on_device`, a training batch of placeholders becomes its crops, drawn
        on the device the batch was moved to."""
        crops = getattr(self, "_device_crops", None)
        # Only the training loader's placeholders (a 1-D int64 tensor): the model summary's
        # example input passes through here too, while the trainer is training.
        placeholders = isinstance(batch, Tensor) and batch.dtype == torch.int64 and batch.ndim == 1
        if crops is not None and placeholders and self.trainer is not None and self.trainer.training:
            # In the precision the loader's batches get (bf16 under trainer.precision=bf16-true).
            return self.trainer.precision_plugin.convert_input(crops(len(batch), batch.device))
        return batch

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")
