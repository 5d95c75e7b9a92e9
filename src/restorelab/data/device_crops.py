"""Random training crops cut where the net runs: the images are copied to the device once and
every batch is one gather there, so a GPU never waits for a loader.

`RandomPatches` cuts each crop in Python on the CPU (an image drawn by area, a position, one of
the 8 flips and rotations); at a GPU's batch sizes that loop, not the net, sets the pace.
`DeviceCrops` draws the same distribution for a whole batch at once on the device: the images
stacked (padded to the largest) in their own dtype, then one indexing operation that reads every
crop through its flipped or transposed index grid. `data.crops_on_device=true` selects it; the
training loader then yields only the batch's size (`CropSlots`), and the DataModule swaps in the
crops after the batch reaches the device (`on_after_batch_transfer`). Randomness comes from the
device's global generator, which the run's seed (and each rank's, `RankSeeds`) sets.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import Dataset

from restorelab.data.patches import RandomPatches, to_float


class CropSlots(Dataset):
    """`length` placeholders: the training loader's items when the crops are cut on the device
    (a batch of them is a tensor of indices, moved to the device for nothing but its size)."""

    def __init__(self, length: int) -> None:
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> int:
        return index


class DeviceCrops:
    """Draws batches from the distribution of `patches` (a `RandomPatches`) on any device."""

    def __init__(self, patches: RandomPatches) -> None:
        images = patches.images
        self.patch_size = patches.patch_size
        self.augment = patches.augment
        self.weights = patches.weights.float()
        height = max(image.shape[-2] for image in images)
        width = max(image.shape[-1] for image in images)
        self.stack = torch.zeros((len(images), images[0].shape[0], height, width),
                                 dtype=images[0].dtype)
        for i, image in enumerate(images):
            self.stack[i, :, : image.shape[-2], : image.shape[-1]] = image
        # The last valid top-left corner + 1 of each image, along each axis.
        self.positions = torch.tensor(
            [[image.shape[-2] - self.patch_size + 1, image.shape[-1] - self.patch_size + 1]
             for image in images])
        self._on: dict[torch.device, tuple[Tensor, Tensor, Tensor]] = {}

    def _tensors(self, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
        """The images, weights and corner ranges on `device` (copied there once)."""
        if device not in self._on:
            self._on[device] = (self.stack.to(device), self.weights.to(device),
                                self.positions.to(device))
        return self._on[device]

    def __call__(self, count: int, device: torch.device | str) -> Tensor:
        """`count` crops `[count, C, patch, patch]`, float32 in [0, 1], on `device`."""
        device = torch.device(device)
        stack, weights, positions = self._tensors(device)
        p = self.patch_size
        which = torch.multinomial(weights, count, replacement=True)
        corner = (torch.rand((count, 2), device=device) * positions[which]).long()
        i = torch.arange(p, device=device).view(1, p, 1).expand(count, p, p)
        j = torch.arange(p, device=device).view(1, 1, p).expand(count, p, p)
        if self.augment:  # one of the 8: flip rows, flip columns, then transpose, each or not
            flips = torch.randint(0, 8, (count, 1, 1), device=device)
            i = torch.where(flips & 1 == 1, p - 1 - i, i)
            j = torch.where(flips & 2 == 2, p - 1 - j, j)
            i, j = torch.where(flips & 4 == 4, j, i), torch.where(flips & 4 == 4, i, j)
        rows = (corner[:, 0].view(-1, 1, 1) + i)[:, None]  # [count, 1, p, p]
        cols = (corner[:, 1].view(-1, 1, 1) + j)[:, None]
        channels = torch.arange(stack.shape[1], device=device).view(1, -1, 1, 1)
        return to_float(stack[which.view(-1, 1, 1, 1), channels, rows, cols])
