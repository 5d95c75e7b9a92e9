"""A folder of clean images larger than memory (DIV2K, Flickr2K, microscope stacks): each file
is decoded when an item needs it, inside the DataLoader workers, and only its crops are kept."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, get_worker_info

from restorelab.data.files import DECODE_ERRORS, image_size, read_image, reason, report_bad
from restorelab.data.folder import FolderDataModule
from restorelab.data.patches import (
    check_image_batches, concatenate, pad_to, random_patch, spread_tiles, to_float,
)
from restorelab.errors import DataError

log = logging.getLogger(__name__)


class DecodedCache:
    """Decoded images kept in memory until they fill `budget` bytes; the images that do not fit
    are decoded again each time. Under random draws every policy hits `budget / total` of the
    time, and keeping the first ones never pays for an eviction."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self.images: dict[int, Tensor] = {}

    def get(self, key: int, load: Callable[[], Tensor]) -> Tensor:
        image = self.images.get(key)
        if image is None:
            image = load()
            size = image.numel() * image.element_size()
            if self.used + size <= self.budget:
                self.images[key] = image
                self.used += size
        return image


def balanced_shares(areas: Sequence[int], count: int) -> list[list[int]]:
    """Indices of `areas` dealt into `count` shares of about equal total area (largest first,
    each to the lightest share), so that each loader worker caches its own images."""
    shares: list[list[int]] = [[] for _ in range(count)]
    totals = [0] * count
    for index in sorted(range(len(areas)), key=lambda i: -areas[i]):
        lightest = min(range(count), key=totals.__getitem__)
        shares[lightest].append(index)
        totals[lightest] += areas[index]
    return [sorted(share) for share in shares]


class LazyPatches(Dataset):
    """`length` items of `patches_per_image` random crops of one image each, `[K, C, p, p]` float.

    Each item draws an image file with probability proportional to its area, decodes it (or
    takes it from the cache), and cuts `patches_per_image` uniform crops with one of the 8 flips
    and 90-degree rotations each, as `RandomPatches` does in memory. Images smaller than
    `patch_size` are reflect-padded. With `cache_bytes` and several loader workers, each worker
    draws from its own share of the images, so the workers cache different images and the budget
    covers the same fraction of the folder whatever their number.

    A file that cannot be decoded is left out with one warning per worker (an error with
    `strict`) and another image is drawn.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        sizes: Sequence[tuple[int, int]],
        channels: int,
        patch_size: int,
        length: int,
        patches_per_image: int = 1,
        augment: bool = True,
        cache_bytes: int = 0,
        strict: bool = False,
    ) -> None:
        if not paths:
            raise ValueError("no training images: the split left the training set empty")
        self.paths = list(paths)
        self.areas = [max(h, patch_size) * max(w, patch_size) for h, w in sizes]
        self.channels = channels
        self.patch_size = patch_size
        self.length = length
        self.patches_per_image = patches_per_image
        self.augment = augment
        self.cache_bytes = cache_bytes
        self.strict = strict
        # Per process (each worker holds a copy of the dataset): its images, weights and cache.
        self._share: tuple[list[int], Tensor, DecodedCache] | None = None

    def __len__(self) -> int:
        return self.length

    def _worker_share(self) -> tuple[list[int], Tensor, DecodedCache]:
        if self._share is None:
            info = get_worker_info()
            workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
            indices = list(range(len(self.paths)))
            if self.cache_bytes and 1 < workers <= len(self.paths):
                indices = balanced_shares(self.areas, workers)[worker]
            weights = torch.tensor([self.areas[i] for i in indices], dtype=torch.float64)
            self._share = (indices, weights, DecodedCache(self.cache_bytes // workers))
        return self._share

    def _decode(self, index: int) -> Tensor:
        return pad_to(read_image(self.paths[index], self.channels), self.patch_size)

    def __getitem__(self, item: int) -> Tensor:
        indices, weights, cache = self._worker_share()
        while weights.sum() > 0:
            pick = int(torch.multinomial(weights, 1))
            index = indices[pick]
            try:
                image = cache.get(index, lambda: self._decode(index))
            except DECODE_ERRORS as error:
                problem = f"{self.paths[index]} ({reason(error)})"
                report_bad("lazy folder, training", [problem], self.strict, "undecodable")
                weights[pick] = 0.0  # never drawn again by this worker
                continue
            crops = [random_patch(image, self.patch_size, self.augment)
                     for _ in range(self.patches_per_image)]
            return to_float(torch.stack(crops))  # (K, C, p, p)
        raise DataError("lazy folder: none of the training images could be decoded")


class LazyTiles(Dataset):
    """Evaluation views of image files decoded on demand, one image per item: its `Tiles` grid
    (at most `max_tiles`, spread evenly over it) as `[T, C, s, s]`, or with `tile_size=None` the
    whole image as `[1, C, H, W]`. Images smaller than `tile_size` are reflect-padded."""

    def __init__(
        self, paths: Sequence[Path], channels: int, tile_size: int | None, max_tiles: int | None
    ) -> None:
        self.paths = list(paths)
        self.channels = channels
        self.tile_size = tile_size
        self.max_tiles = max_tiles

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Tensor:
        path = self.paths[index]
        try:
            image = read_image(path, self.channels)
        except DECODE_ERRORS as error:
            # Evaluation must score the same images every epoch: no silent replacement.
            raise DataError(
                f"{path} cannot be decoded ({reason(error)}): remove it from the folder (the "
                "split is by file name, so the other images keep their splits)"
            ) from None
        if self.tile_size is None:
            return to_float(image)[None]
        tiles = spread_tiles(pad_to(image, self.tile_size), self.tile_size, self.max_tiles)
        return to_float(torch.stack(tiles))  # (T, C, s, s)


class LazyFolderDataModule(FolderDataModule):
    """The images under `data_dir`, as `data=folder` splits them, decoded when needed.

    Only the file list and each file's size (read from its header) are kept in `setup`; the
    loader workers decode a file whenever a training item or an evaluation image needs it, so
    memory does not grow with the folder. Training items are `patches_per_image` random
    `patch_size` crops of one image (the loader batches `batch_size / patches_per_image` items):
    several crops per decode make large files cheap to sample. `cache_megabytes` keeps decoded
    images in the workers' memory up to that budget (all workers together); the workers then
    persist between epochs so their caches do. Validation and test score the `eval_size` tiles of
    one image per batch (at most `eval_tiles`, spread over it; whole images when `eval_size` is
    null). `noisy_only` and `val_root` are those of `data=folder`: noisy observations to train
    on, and a folder of clean images split into val and test.
    """

    def __init__(
        self,
        data_dir: str = "data/images",
        recursive: bool = True,
        channels: int = 1,
        patch_size: int = 64,
        patches_per_image: int = 1,
        eval_size: int | None = 128,
        eval_tiles: int | None = None,
        samples_per_epoch: int = 1024,
        batch_size: int = 16,
        num_workers: int = 2,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        cache_megabytes: float = 0,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        split_seed: int = 0,
        strict: bool = False,
        small_images: str = "pad",
        noisy_only: bool = False,
        val_root: str | None = None,
    ) -> None:
        super().__init__(
            data_dir=data_dir, recursive=recursive, channels=channels, patch_size=patch_size,
            eval_size=eval_size, samples_per_epoch=samples_per_epoch, batch_size=batch_size,
            num_workers=num_workers, pin_memory=pin_memory, persistent_workers=persistent_workers,
            val_fraction=val_fraction, test_fraction=test_fraction, split_seed=split_seed,
            strict=strict, small_images=small_images, noisy_only=noisy_only, val_root=val_root,
        )
        check_image_batches(patches_per_image, batch_size, eval_tiles)
        if cache_megabytes < 0:
            raise ValueError(f"cache_megabytes must be >= 0, got {cache_megabytes}")
        self.save_hyperparameters(logger=False)

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        hp = self.hparams
        paths, splits, what = self._file_splits()
        sizes, problems = {}, []
        for name, path in paths.items():
            try:
                sizes[name] = image_size(path)
            except DECODE_ERRORS as error:
                problems.append(f"{path} ({reason(error)})")
        report_bad(what, problems, hp.strict, "unreadable")
        datasets: dict[str, Dataset] = {}
        self.splits = {}
        for split, names in zip(("train", "val", "test"), splits):
            size = hp.patch_size if split == "train" else hp.eval_size
            names = self._fitting([n for n in names if n in sizes], sizes, size, f"{what} {split}")
            self.splits[split] = names
            files = [paths[n] for n in names]
            if split == "train" and files:
                datasets[split] = LazyPatches(
                    files, [sizes[n] for n in names], self.channels, hp.patch_size,
                    length=math.ceil(hp.samples_per_epoch / hp.patches_per_image),
                    patches_per_image=hp.patches_per_image,
                    cache_bytes=int(hp.cache_megabytes * 2**20), strict=hp.strict,
                )
            else:
                datasets[split] = LazyTiles(files, self.channels, size, hp.eval_tiles)
        self._set_datasets(what, datasets)

    def _fitting(
        self, names: list[str], sizes: dict[str, tuple[int, int]], size: int | None, what: str
    ) -> list[str]:
        """The names kept under `small_images` (padded when loaded, or skipped here), said in
        one warning as `fit_to_size` says it for images in memory."""
        if size is None:
            return names
        small = [n for n in names if min(sizes[n]) < size]
        if small:
            shown = ", ".join(f"{n} ({sizes[n][0]}x{sizes[n][1]})" for n in small[:10])
            action = "reflect-pads" if self.hparams.small_images == "pad" else "skipped"
            log.warning("%s: %s %d image(s) smaller than %d pixels: %s%s", what, action,
                        len(small), size, shown, ", ..." if len(small) > 10 else "")
        if self.hparams.small_images == "skip":
            return [n for n in names if n not in small]
        return names

    def _loader(self, split: str) -> DataLoader:
        hp = self.hparams
        train = split == "train"
        workers = hp.num_workers
        # Caches live in the workers: recreating them each epoch would empty the caches.
        persistent = workers > 0 and (hp.persistent_workers or (train and hp.cache_megabytes > 0))
        return DataLoader(
            self.datasets[split],
            batch_size=hp.batch_size // hp.patches_per_image if train else 1,
            collate_fn=concatenate,
            num_workers=workers,
            pin_memory=hp.pin_memory,
            persistent_workers=persistent,
        )
