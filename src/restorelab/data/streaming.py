"""Image shards for training on many machines, in LitData's format: `restorelab shards FOLDER -o
SHARDS` writes a folder's files once, split as `data=folder` splits them, and `data=streaming
data.input_dir=SHARDS` streams them from a local folder or an object store (s3://, gs://, ...).

Each split is a LitData dataset (`SHARDS/train`, `SHARDS/val`, `SHARDS/test`) whose items hold one
file each, as it was on disk (PNG, JPEG, TIFF: any bit depth), with its name and size; the loader
workers decode them. LitData's `StreamingDataset` deals the chunks to the DDP ranks and their
loader workers, so each file is read by exactly one worker of one rank per epoch.

The shards are written by `restorelab.data.shard_writer` (its `write_shards` is re-exported
here); this module reads them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from restorelab.data.base import SplitDataModule
from restorelab.data.files import read_image
from restorelab.data.patches import (
    check_image_batches,
    concatenate,
    pad_to,
    random_patch,
    spread_tiles,
    to_float,
)
from restorelab.data.shard_writer import INFO_FILE, SPLITS
from restorelab.data.shard_writer import write_shards as write_shards  # re-exported
from restorelab.errors import DataError

# isort: split
# LitData is an optional extra: without it, the import of shard_writer above has already said
# how to get it.
from litdata import StreamingDataLoader, StreamingDataset

log = logging.getLogger(__name__)


class StreamingPatches(StreamingDataset):
    """The training split: per item, `patches_per_image` random `patch_size` crops (each with
    one of the 8 flips and rotations) of one streamed image, `[K, C, p, p]` float."""

    def __init__(
        self, input_dir: str, channels: int, patch_size: int, patches_per_image: int,
        **streaming: Any,
    ) -> None:
        super().__init__(input_dir, **streaming)
        self.channels = channels
        self.patch_size = patch_size
        self.patches_per_image = patches_per_image

    def __getitem__(self, index: Any) -> Tensor:
        item = super().__getitem__(index)
        image = pad_to(read_image(Path(item["name"]), self.channels, item["data"]),
                       self.patch_size)
        crops = [random_patch(image, self.patch_size) for _ in range(self.patches_per_image)]
        return to_float(torch.stack(crops))


class StreamingTiles(StreamingDataset):
    """An evaluation split: per item, the `tile_size` tiles of one streamed image (at most
    `max_tiles`, spread over it) as `[T, C, s, s]`, or the whole image with `tile_size=None`."""

    def __init__(
        self, input_dir: str, channels: int, tile_size: int | None, max_tiles: int | None,
        **streaming: Any,
    ) -> None:
        super().__init__(input_dir, **streaming)
        self.channels = channels
        self.tile_size = tile_size
        self.max_tiles = max_tiles

    def __getitem__(self, index: Any) -> Tensor:
        item = super().__getitem__(index)
        image = read_image(Path(item["name"]), self.channels, item["data"])
        if self.tile_size is None:
            return to_float(image)[None]
        return to_float(torch.stack(spread_tiles(pad_to(image, self.tile_size), self.tile_size,
                                            self.max_tiles)))


class StreamingDataModule(SplitDataModule):
    """Trains from the shards `restorelab shards` wrote under `input_dir` (a folder or a URL).

    An epoch streams every training image once, in an order reshuffled each epoch from
    `shuffle_seed`, and cuts `patches_per_image` random `patch_size` crops from each (the loader
    batches `batch_size / patches_per_image` images), so no image waits in memory for its next
    draw. Validation and test score the `eval_size` tiles of one image per batch (at most
    `eval_tiles`, spread over it; whole images when `eval_size` is null). Remote shards are
    downloaded chunk by chunk into `cache_dir` (LitData's default when null), which keeps at most
    `max_cache_size`. Images smaller than `patch_size` or `eval_size` are reflect-padded.

    `noisy_only`: the shards hold noisy observations (self-supervised objectives). `val_root`: a
    local folder of clean images to validate and test on instead of the val and test shards,
    split by file `val_fraction : test_fraction` (seeded by `split_seed`) and decoded when
    scored, as `data=lazy_folder` does; only the train shards are needed then.
    """

    def __init__(
        self,
        input_dir: str = "data/shards",
        channels: int = 1,
        patch_size: int = 64,
        patches_per_image: int = 8,
        eval_size: int | None = 128,
        eval_tiles: int | None = 16,
        batch_size: int = 16,
        num_workers: int = 2,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        shuffle_seed: int = 0,
        cache_dir: str | None = None,
        max_cache_size: str = "50GB",
        noisy_only: bool = False,
        val_root: str | None = None,
        val_fraction: float = 0.5,
        test_fraction: float = 0.5,
        split_seed: int = 0,
    ) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (gray) or 3 (RGB), got {channels}")
        check_image_batches(patches_per_image, batch_size, eval_tiles)
        self.save_hyperparameters(logger=False)
        self.channels = channels
        self.noisy_only = noisy_only
        # Validation and test batches are clean images, also when training is noisy-only.
        self.clean_eval = not noisy_only or val_root is not None

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        hp = self.hparams
        root = str(hp.input_dir).rstrip("/")
        local = "://" not in root
        needed = SPLITS if hp.val_root is None else ("train",)
        if local:
            for split in needed:
                if not (Path(root) / split / "index.json").is_file():
                    raise DataError(
                        f"no {split} shards at {root}/{split}: write them with "
                        f"`restorelab shards IMAGE_FOLDER -o {root}`"
                    )
            info = Path(root) / INFO_FILE
            if info.is_file():
                self.splits = json.loads(info.read_text()).get("splits", {})
        streaming = {"cache_dir": hp.cache_dir, "max_cache_size": hp.max_cache_size}
        datasets = {
            "train": StreamingPatches(
                f"{root}/train", self.channels, hp.patch_size, hp.patches_per_image,
                shuffle=True, seed=hp.shuffle_seed, **streaming,
            )
        }
        if hp.val_root is not None:
            datasets.update(self._clean_sets())
        else:
            for split in ("val", "test"):
                # Every evaluation image is scored, on one rank or another.
                datasets[split] = StreamingTiles(
                    f"{root}/{split}", self.channels, hp.eval_size, hp.eval_tiles,
                    shuffle=False, drop_last=False, **streaming,
                )
        # Not `_set_datasets`: under DDP a length is this rank's share, which a small evaluation
        # split may leave empty on some ranks; `restorelab shards` refused empty splits.
        self.datasets = datasets
        counts = " | ".join(f"{split} {len(dataset)} images" for split, dataset in datasets.items())
        ranks = datasets["train"].distributed_env.world_size
        log.info("shards (%s): %s%s", root, counts, f" (this rank's share of {ranks})"
                 if ranks > 1 else "")

    def _clean_sets(self) -> dict[str, Dataset]:
        """Val and test from the `val_root` folder of clean images, decoded when scored."""
        from restorelab.data.folder import find_image_files, split_clean_set
        from restorelab.data.lazy_folder import LazyTiles

        hp = self.hparams
        files, what = find_image_files(hp.val_root, "val_root", True, 2, "val and test")
        what = f"clean {what}"
        val, test = split_clean_set(list(files), hp.val_fraction, hp.test_fraction,
                                    hp.split_seed, what)
        self.splits.update(val=val, test=test)
        return {split: LazyTiles([files[n] for n in names], self.channels, hp.eval_size,
                                 hp.eval_tiles) for split, names in (("val", val), ("test", test))}

    def _loader(self, split: str) -> DataLoader:
        hp = self.hparams
        if not isinstance(self.datasets[split], StreamingDataset):  # val_root's clean images
            return DataLoader(self.datasets[split], batch_size=1, collate_fn=concatenate,
                              num_workers=hp.num_workers, pin_memory=hp.pin_memory,
                              persistent_workers=hp.persistent_workers and hp.num_workers > 0)
        return StreamingDataLoader(
            self.datasets[split],
            batch_size=hp.batch_size // hp.patches_per_image if split == "train" else 1,
            collate_fn=concatenate,
            num_workers=hp.num_workers,
            pin_memory=hp.pin_memory,
            persistent_workers=hp.persistent_workers and hp.num_workers > 0,
        )
