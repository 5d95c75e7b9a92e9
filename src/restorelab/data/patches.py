"""In-memory image datasets shared by the DataModules: random training crops and evaluation tiles."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

log = logging.getLogger(__name__)


class RandomPatches(Dataset):
    """`length` random `patch_size` crops from a list of `[C, H, W]` uint8 images.

    Each draw picks an image with probability proportional to its area (so large photos are not
    under-sampled), a uniform crop position and, with `augment`, one of the 8 flips / 90-degree
    rotations. Randomness comes from torch's global generator, seeded by Lightning per worker.
    """

    def __init__(
        self, images: Sequence[Tensor], patch_size: int, length: int, augment: bool = True
    ) -> None:
        too_small = [tuple(im.shape[-2:]) for im in images if min(im.shape[-2:]) < patch_size]
        if too_small:
            raise ValueError(
                f"{len(too_small)} image(s) are smaller than patch_size={patch_size} "
                f"(sizes {too_small[:3]}...): lower data.patch_size"
            )
        if not images:
            raise ValueError("no training images: the split left the training set empty")
        self.images = list(images)
        self.patch_size = patch_size
        self.length = length
        self.augment = augment
        areas = torch.tensor([im.shape[-2] * im.shape[-1] for im in images], dtype=torch.float64)
        self.weights = areas / areas.sum()

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Tensor:
        image = self.images[int(torch.multinomial(self.weights, 1))]
        return to_float(random_patch(image, self.patch_size, self.augment))


def random_patch(image: Tensor, patch_size: int, augment: bool = True) -> Tensor:
    """One uniform `patch_size` crop of a `[C, H, W]` image (any dtype), with `augment` one of
    the 8 flips / 90-degree rotations; drawn from torch's global generator."""
    height, width = image.shape[-2:]
    top = int(torch.randint(0, height - patch_size + 1, ()))
    left = int(torch.randint(0, width - patch_size + 1, ()))
    patch = image[:, top : top + patch_size, left : left + patch_size]
    if augment:
        patch = torch.rot90(patch, int(torch.randint(0, 4, ())), dims=(1, 2))
        if torch.rand(()) < 0.5:
            patch = patch.flip(-1)
    return patch


def concatenate(items: Sequence[Tensor]) -> Tensor:
    """Collates items that are stacks already (the crops or tiles of one image, `[K, C, H, W]`)
    into one batch `[sum K, C, H, W]`: the loaders that decode one image per item use it."""
    return torch.cat(list(items))


class Tiles(Dataset):
    """Fixed evaluation views of a list of `[C, H, W]` uint8 images.

    With `tile_size`, every image is cut into the non-overlapping tiles that fit (at least the
    center crop), so the same pixels are scored every epoch and tiles batch together. With
    `tile_size=None` the whole images are returned (use batch_size 1 when sizes differ).
    """

    def __init__(self, images: Sequence[Tensor], tile_size: int | None) -> None:
        per_image: list[list[Tensor]] = []
        for image in images:
            if tile_size is None:
                per_image.append([image])
                continue
            height, width = image.shape[-2:]
            if min(height, width) < tile_size:
                raise ValueError(
                    f"an evaluation image of size {height}x{width} is smaller than "
                    f"eval_size={tile_size}: lower data.eval_size or set it to null"
                )
            rows, cols = height // tile_size, width // tile_size
            # Center the grid of tiles so the borders lost on each side are even.
            top0, left0 = (height - rows * tile_size) // 2, (width - cols * tile_size) // 2
            per_image.append([
                image[:, top0 + r * tile_size : top0 + (r + 1) * tile_size,
                      left0 + c * tile_size : left0 + (c + 1) * tile_size]
                for r in range(rows)
                for c in range(cols)
            ])
        # Round-robin over images, so the first batch (the one shown in image grids) holds
        # tiles of several images rather than the corner of one.
        longest = max((len(tiles) for tiles in per_image), default=0)
        self.views = [tiles[i] for i in range(longest) for tiles in per_image if i < len(tiles)]

    def __len__(self) -> int:
        return len(self.views)

    def __getitem__(self, index: int) -> Tensor:
        return to_float(self.views[index])


def to_float(image: Tensor) -> Tensor:
    """uint8 / uint16 image to float32 in [0, 1] (8-bit references are value / 255)."""
    if image.dtype == torch.uint8:
        return image.float() / 255.0
    if image.dtype in (torch.int32, torch.uint16):
        return image.float() / 65535.0
    return image.float()


def split_by_item(
    names: Sequence[str], val_fraction: float, test_fraction: float, seed: int
) -> tuple[list[str], list[str], list[str]]:
    """Seeded split of `names` into train / val / test, each non-empty when possible.

    The permutation depends on the sorted names and the seed only, so it is identical across runs,
    machines and library versions.
    """
    ordered = sorted(names)
    if len(ordered) < 3:
        raise ValueError(f"need at least 3 items to split into train/val/test, got {len(ordered)}")
    permutation = torch.randperm(len(ordered), generator=torch.Generator().manual_seed(seed))
    shuffled = [ordered[i] for i in permutation.tolist()]
    num_test = max(1, round(test_fraction * len(ordered)))
    num_val = max(1, round(val_fraction * len(ordered)))
    if num_test + num_val >= len(ordered):
        raise ValueError(
            f"val_fraction={val_fraction} and test_fraction={test_fraction} leave no training "
            f"items out of {len(ordered)}"
        )
    test, val = shuffled[:num_test], shuffled[num_test : num_test + num_val]
    train = shuffled[num_test + num_val :]
    return sorted(train), sorted(val), sorted(test)


class ImageStack(Dataset):
    """Whole images of one size, stored as one `[N, C, H, W]` uint8 tensor (MNIST, LFW)."""

    def __init__(self, images: Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> Tensor:
        return to_float(self.images[index])


class Pairs(Dataset):
    """(noisy, clean) items of a dataset whose images stack noisy and clean along channels.

    Stacking a pair as one `[2C, H, W]` image lets `RandomPatches` and `Tiles` cut the same crop,
    flip and rotation from both halves at once.
    """

    def __init__(self, stacked: Dataset) -> None:
        self.stacked = stacked

    def __len__(self) -> int:
        return len(self.stacked)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        image = self.stacked[index]
        channels = image.shape[0] // 2
        return image[:channels], image[channels:]


def pad_to(image: Tensor, size: int) -> Tensor:
    """Reflect-pads a `[C, H, W]` image (any dtype) to at least `size` x `size`, centered."""
    height, width = image.shape[-2:]
    pad_h, pad_w = max(0, size - height), max(0, size - width)
    if not pad_h and not pad_w:
        return image
    widths = ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2))
    # numpy reflects repeatedly when the pad is wider than the image; torch's pad refuses to.
    return torch.from_numpy(np.pad(image.numpy(), widths, mode="reflect"))


def fit_to_size(
    images: Sequence[Tensor], names: Sequence[str], size: int, small_images: str, what: str
) -> tuple[list[Tensor], list[str]]:
    """Images smaller than `size` reflect-padded (`small_images="pad"`) or dropped ("skip"),
    said in one warning that counts and names them."""
    if small_images not in ("pad", "skip"):
        raise ValueError(f"small_images must be 'pad' or 'skip', got {small_images!r}")
    kept_images, kept_names, small = [], [], []
    for image, name in zip(images, names):
        if min(image.shape[-2:]) < size:
            small.append(f"{name} ({image.shape[-2]}x{image.shape[-1]})")
            if small_images == "skip":
                continue
            image = pad_to(image, size)
        kept_images.append(image)
        kept_names.append(name)
    if small:
        shown = ", ".join(small[:10]) + (", ..." if len(small) > 10 else "")
        action = "reflect-padded" if small_images == "pad" else "skipped"
        log.warning("%s: %s %d image(s) smaller than %d pixels: %s", what, action, len(small),
                    size, shown)
    return kept_images, kept_names


def split_by_group(
    groups: Mapping[str, str], val_fraction: float, test_fraction: float, seed: int
) -> tuple[list[str], list[str], list[str]]:
    """Seeded split of items into train / val / test that keeps each group (a person, a scene)
    within one split; `groups` maps each item to its group, fractions count groups."""
    splits = split_by_item(sorted(set(groups.values())), val_fraction, test_fraction, seed)
    split_of = {group: k for k, members in enumerate(splits) for group in members}
    items = sorted(groups)
    train, val, test = ([i for i in items if split_of[groups[i]] == k] for k in range(3))
    return train, val, test


def spread_tiles(image: Tensor, tile_size: int, max_tiles: int | None) -> list[Tensor]:
    """The `Tiles` grid of one image, thinned to at most `max_tiles` tiles spread evenly over it.

    The kept tiles are copies, so a large image is not held in memory by its few tiles.
    """
    views = Tiles([image], tile_size).views
    if max_tiles is None or len(views) <= max_tiles:
        return views
    picks = torch.linspace(0, len(views) - 1, max_tiles).round().long().unique().tolist()
    return [views[i].clone() for i in picks]


def check_image_batches(patches_per_image: int, batch_size: int, eval_tiles: int | None) -> None:
    """The settings of loaders that cut several crops from each decoded image (lazy, streamed):
    a batch holds the crops of whole images, and eval_tiles is a count or null."""
    if patches_per_image < 1 or batch_size % patches_per_image:
        raise ValueError(
            f"patches_per_image={patches_per_image} must be >= 1 and divide "
            f"batch_size={batch_size} (a batch holds the crops of whole images)"
        )
    if eval_tiles is not None and eval_tiles < 1:
        raise ValueError(f"eval_tiles must be >= 1 or null (all tiles), got {eval_tiles}")
