"""Dead leaves: procedural images of occluding disks, a synthetic prior that trains denoisers
nearly as well as natural photographs (Achddou et al., "Synthetic images as a regularity prior
for image restoration neural networks", SSVM 2021)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from restorelab.data.base import SplitDataModule
from restorelab.data.natural import NaturalImagesDataModule
from restorelab.data.patches import ImageStack, to_float

# Disks drawn per round; rounds stop once every pixel is covered.
_DISKS_PER_ROUND = 2048
_MAX_ROUNDS = 1000


def dead_leaves(
    size: int,
    channels: int = 1,
    rmin: float = 1.0,
    rmax: float = 100.0,
    alpha: float = 3.0,
    textured: bool = False,
    seed: int | np.random.Generator | None = None,
) -> Tensor:
    """One `[channels, size, size]` uint8 dead-leaves image, the same for the same `seed`.

    Disks fall front to back: radii follow the power law p(r) ~ r^-alpha on [rmin, rmax] (alpha=3
    makes the image scale invariant, like natural images), centers are uniform over the plane,
    and each pixel takes the first disk that covers it. Each disk has a uniform random gray level
    (or color) and, with `textured`, a random sinusoidal grating on top.
    """
    if not 0 < rmin <= rmax:
        raise ValueError(f"need 0 < rmin <= rmax, got rmin={rmin}, rmax={rmax}")
    # NumPy, not torch: these small arrays are fastest on one thread, and torch's intra-op threads
    # fight the training step for the cores when the main process renders (num_workers=0).
    rng = np.random.default_rng(seed)
    owner = np.full(size * size, np.iinfo(np.int64).max)  # front-most disk of each pixel so far
    disks = []  # per round, rows of x, y, r, color..., texture (4)
    count = 0
    for _ in range(_MAX_ROUNDS):
        params, low, high = _draw_round(rng, size, channels, rmin, rmax, alpha)
        _cover(owner, size, params, low, high, count)
        disks.append(params)
        count += len(params)
        if owner.max() < count:
            break
    params = np.concatenate(disks)[np.minimum(owner, count - 1)]  # (P, 3 + channels + 4)
    values = params[:, 3 : 3 + channels].T  # (channels, P)
    if textured:
        values = values + _grating(params, channels, size)
    # 8-bit levels, as the clean references of every other dataset.
    image = np.rint(np.clip(values, 0, 1) * 255).astype(np.uint8)
    return torch.from_numpy(image.reshape(channels, size, size))


def _draw_round(
    rng: np.random.Generator, size: int, channels: int, rmin: float, rmax: float, alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One round of disks: the rows (x, y, r, color..., texture (4)) of those that can reach
    the image, and the low and high (x, y) pixel corners of their bounding boxes in it."""
    # Inverse CDF of the truncated power law (alpha = 1 is the logarithmic case).
    u = rng.random(_DISKS_PER_ROUND)
    if alpha == 1.0:
        radius = rmin * (rmax / rmin) ** u
    else:
        a, b = rmin ** (1 - alpha), rmax ** (1 - alpha)
        radius = (a + u * (b - a)) ** (1 / (1 - alpha))
    # Centers uniform on a window wide enough for any disk that can reach the image; the
    # disks that cannot are dropped, which keeps the process uniform over the plane.
    center = rng.random((_DISKS_PER_ROUND, 2)) * (size + 2 * rmax) - rmax
    params = np.column_stack([center, radius, rng.random((_DISKS_PER_ROUND, channels + 4))])
    low = np.clip(np.floor(center - radius[:, None]), 0, size).astype(np.int64)
    high = np.clip(np.ceil(center + radius[:, None]), 0, size).astype(np.int64)
    keep = (high > low).all(axis=1)
    return params[keep], low[keep], high[keep]


def _cover(
    owner: np.ndarray, size: int, params: np.ndarray, low: np.ndarray, high: np.ndarray,
    first: int,
) -> None:
    """Lowers each pixel of `owner` that a disk of `params` covers to that disk's number if it
    is nearer the front (the disks are numbered from `first`: lower is in front)."""
    # Every (disk, pixel of its bounding box) pair, flattened: small disks cost few pairs.
    width = high[:, 0] - low[:, 0]
    area = width * (high[:, 1] - low[:, 1])
    disk = np.repeat(np.arange(len(area)), area)
    offset = np.arange(len(disk)) - np.repeat(np.cumsum(area) - area, area)
    px, py = low[disk, 0] + offset % width[disk], low[disk, 1] + offset // width[disk]
    inside = (px + 0.5 - params[disk, 0]) ** 2 + (py + 0.5 - params[disk, 1]) ** 2 \
        <= params[disk, 2] ** 2
    np.minimum.at(owner, (py * size + px)[inside], disk[inside] + first)


def _grating(params: np.ndarray, channels: int, size: int) -> np.ndarray:
    """What `textured` adds to each pixel, `(P,)`: the sinusoidal grating of the disk that owns
    it, drawn from that disk's row of `params` (one row per pixel)."""
    amplitude, period, angle, phase = params[:, 3 + channels :].T
    period = 2 + period * params[:, 2]  # from 2 pixels to the disk's size
    angle, phase = angle * np.pi, phase * 2 * np.pi
    ys, xs = np.divmod(np.arange(size * size), size)
    dx, dy = xs + 0.5 - params[:, 0], ys + 0.5 - params[:, 1]  # from the disk's center
    along = dx * np.cos(angle) + dy * np.sin(angle)
    return 0.25 * amplitude * np.sin(2 * np.pi * along / period + phase)


class DeadLeaves(Dataset):
    """`length` fresh dead-leaves images per epoch, drawn from torch's global generator (seeded
    per worker by Lightning), so the stream never repeats and a run's seed makes it reproducible."""

    def __init__(self, size: int, channels: int, length: int, rmin: float, rmax: float,
                 alpha: float, textured: bool) -> None:
        self.size, self.channels, self.length = size, channels, length
        self.params = {"rmin": rmin, "rmax": rmax, "alpha": alpha, "textured": textured}

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Tensor:
        seed = int(torch.randint(0, 2**62, ()))  # from the global generator Lightning seeds
        return to_float(dead_leaves(self.size, self.channels, **self.params, seed=seed))


class Mixture(Dataset):
    """Each item from `second` with probability `fraction`, else from `first` (both random)."""

    def __init__(self, first: Dataset, second: Dataset, fraction: float) -> None:
        self.first, self.second, self.fraction = first, second, fraction

    def __len__(self) -> int:
        return len(self.first)

    def __getitem__(self, index: int) -> Tensor:
        source = self.second if torch.rand(()) < self.fraction else self.first
        return source[index % len(source)]


class DeadLeavesDataModule(SplitDataModule):
    """Dead-leaves images: an endless training stream, fixed validation and test sets.

    Training draws `samples_per_epoch` new `patch_size` images per epoch; validation and test are
    `val_images` / `test_images` images of `eval_size`, generated once from `seed`, the same on
    every run and machine. With `mix_natural` > 0 that fraction of the training crops comes from
    the natural photographs (`data=natural`'s training split), and validation and test are that
    DataModule's photographs, the images one means to restore.
    """

    def __init__(
        self,
        channels: int = 1,
        patch_size: int = 64,
        eval_size: int | None = 128,
        samples_per_epoch: int = 1024,
        val_images: int = 32,
        test_images: int = 32,
        rmin: float = 1.0,
        rmax: float = 100.0,
        alpha: float = 3.0,
        textured: bool = False,
        mix_natural: float = 0.0,
        seed: int = 0,
        batch_size: int = 16,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
    ) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (gray) or 3 (RGB), got {channels}")
        if not 0 < rmin <= rmax:
            raise ValueError(f"need 0 < rmin <= rmax, got rmin={rmin}, rmax={rmax}")
        if not 0.0 <= mix_natural <= 1.0:
            raise ValueError(f"mix_natural must be a fraction in [0, 1], got {mix_natural}")
        if eval_size is None and mix_natural == 0:
            raise ValueError(
                "eval_size=null (whole images) needs photographs to score: set mix_natural > 0, "
                "or give the dead-leaves val/test images a size (eval_size: 128)"
            )
        self.save_hyperparameters(logger=False)
        self.channels = channels

    @property
    def whole_image_eval(self) -> bool:  # read by SplitDataModule's loaders
        return self.hparams.eval_size is None

    def _fixed_set(self, count: int, seed: int) -> ImageStack:
        hp = self.hparams
        rng = np.random.default_rng(seed)
        images = [
            dead_leaves(hp.eval_size, self.channels, hp.rmin, hp.rmax, hp.alpha, hp.textured,
                        seed=rng)
            for _ in range(count)
        ]
        return ImageStack(torch.stack(images))

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        hp = self.hparams
        train = DeadLeaves(hp.patch_size, self.channels, hp.samples_per_epoch, hp.rmin, hp.rmax,
                           hp.alpha, hp.textured)
        what = f"dead leaves (r {hp.rmin}..{hp.rmax}, alpha {hp.alpha}"
        what += ", textured)" if hp.textured else ")"
        if hp.mix_natural > 0:
            natural = NaturalImagesDataModule(
                channels=self.channels, patch_size=hp.patch_size, eval_size=hp.eval_size,
                samples_per_epoch=hp.samples_per_epoch,
            )
            natural.setup()
            datasets = {
                "train": Mixture(train, natural.datasets["train"], hp.mix_natural),
                "val": natural.datasets["val"],
                "test": natural.datasets["test"],
            }
            what += f" with {hp.mix_natural:.0%} natural crops, scored on natural photographs"
        else:
            # Distinct fixed streams: the model is never selected on the images it is tested on.
            datasets = {
                "train": train,
                "val": self._fixed_set(hp.val_images, 2 * hp.seed),
                "test": self._fixed_set(hp.test_images, 2 * hp.seed + 1),
            }
        self._set_datasets(what, datasets)
