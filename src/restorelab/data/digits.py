"""Handwritten digits bundled with scikit-learn (no download): the offline stand-in for MNIST."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from restorelab.data.base import SplitDataModule
from restorelab.data.patches import ImageStack
from restorelab.errors import DataError

# The bundled images hold 17 gray levels, 0 (background) to 16 (ink).
MAX_LEVEL = 16.0
INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


def load_digit_images() -> Tensor:
    """scikit-learn's 1,797 digits as a `[1797, 8, 8]` float tensor in [0, 1]."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:  # not installed, or a broken install
        raise DataError(
            f"data=digits reads the handwritten digits bundled with scikit-learn, which could "
            f"not be imported ({error}): `pip install scikit-learn` (or `pip install -e '.[dev]'`)"
        ) from error
    try:
        images = load_digits().images
    except (OSError, ValueError) as error:
        raise DataError(
            f"could not read scikit-learn's bundled digits ({error}); reinstall it with "
            "`pip install --force-reinstall scikit-learn`"
        ) from error
    return torch.from_numpy(images).float() / MAX_LEVEL


def resize_digits(images: Tensor, image_size: int, interpolation: str) -> Tensor:
    """`[N, 8, 8]` float in [0, 1] to `[N, 1, image_size, image_size]` uint8.

    Interpolation happens in float and is clipped before rounding: bicubic overshoots around the
    strokes, and uint8 keeps the protocol's "clean references are 8-bit images / 255".
    """
    images = images[:, None]
    if image_size != images.shape[-1]:
        if interpolation == "nearest":
            images = F.interpolate(images, size=(image_size, image_size), mode="nearest-exact")
        else:
            # antialias only acts when shrinking; it keeps image_size < 8 from aliasing.
            images = F.interpolate(images, size=(image_size, image_size), mode=interpolation,
                                   align_corners=False, antialias=True)
    return (images.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)


class DigitsDataModule(SplitDataModule):
    """scikit-learn's 1,797 handwritten digits (8x8, 17 gray levels), upsampled to `image_size`.

    These are not MNIST: the UCI "optical recognition of handwritten digits" set, whose 32x32
    bitmaps were averaged down to 8x8. Upsampled (default 32, so four halvings fit a depth-4
    autoencoder), they are smooth blobs; on them a 3x3 median filter meets salt-and-pepper noise
    on its home ground. Images, not writers, are split into train / val / test with `split_seed`
    (the bundled set does not say who wrote what). Every epoch sees every training image, with
    fresh noise drawn by the module; validation and test are fixed images with seeded noise.
    """

    shuffle_train = True

    def __init__(
        self,
        channels: int = 1,
        image_size: int = 32,
        interpolation: str = "bicubic",
        samples_per_epoch: int | None = None,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        split_seed: int = 0,
    ) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (gray) or 3 (gray copied to RGB), got {channels}")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}"
            )
        if image_size < 1:
            raise ValueError(f"image_size must be a positive number of pixels, got {image_size}")
        self.save_hyperparameters(logger=False)
        self.channels = channels

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        hp = self.hparams
        images = resize_digits(load_digit_images(), hp.image_size, hp.interpolation)
        images = images.expand(-1, self.channels, -1, -1).contiguous()
        # Items are named by their index in load_digits(), zero-padded so sorting keeps the order.
        names = [f"digit{i:04d}" for i in range(len(images))]
        what = f"digits (scikit-learn, 8x8 -> {hp.image_size}x{hp.image_size})"
        train, val, test = self._split({name: name for name in names}, what)
        self.splits = {"train": train, "val": val, "test": test}
        self._set_datasets(
            what,
            {
                split: ImageStack(images[[int(name[5:]) for name in split_names]])
                for split, split_names in self.splits.items()
            },
        )
