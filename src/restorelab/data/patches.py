"""In-memory image datasets shared by the DataModules: random training crops and evaluation tiles."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.utils.data import Dataset


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
        height, width = image.shape[-2:]
        top = int(torch.randint(0, height - self.patch_size + 1, ()))
        left = int(torch.randint(0, width - self.patch_size + 1, ()))
        patch = image[:, top : top + self.patch_size, left : left + self.patch_size]
        if self.augment:
            patch = torch.rot90(patch, int(torch.randint(0, 4, ())), dims=(1, 2))
            if torch.rand(()) < 0.5:
                patch = patch.flip(-1)
        return to_float(patch)


class Tiles(Dataset):
    """Fixed evaluation views of a list of `[C, H, W]` uint8 images.

    With `tile_size`, every image is cut into the non-overlapping tiles that fit (at least the
    center crop), so the same pixels are scored every epoch and tiles batch together. With
    `tile_size=None` the whole images are returned (use batch_size 1 when sizes differ).
    """

    def __init__(self, images: Sequence[Tensor], tile_size: int | None) -> None:
        self.views: list[Tensor] = []
        for image in images:
            if tile_size is None:
                self.views.append(image)
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
            for r in range(rows):
                for c in range(cols):
                    top, left = top0 + r * tile_size, left0 + c * tile_size
                    self.views.append(image[:, top : top + tile_size, left : left + tile_size])

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
