"""The embedded default dataset: natural photographs bundled with scikit-image (no download)."""

from __future__ import annotations

import functools
import logging

import numpy as np
import torch
from torch import Tensor

from restorelab.data.base import SplitDataModule
from restorelab.data.patches import RandomPatches, Tiles, split_by_item
from restorelab.errors import DataError

log = logging.getLogger(__name__)

# Photographs shipped inside scikit-image's wheel. `cat` is the same picture as `chelsea`, and the
# documents (`page`, `text`), synthetic images and tiny crops are left out on purpose.
COLOR_IMAGES = (
    "astronaut",
    "chelsea",
    "coffee",
    "hubble_deep_field",
    "immunohistochemistry",
    "motorcycle",
    "retina",
    "rocket",
)
GRAY_IMAGES = ("brick", "camera", "cell", "clock", "coins", "grass", "gravel", "moon")

# ITU-R BT.601 luma, the usual definition of "gray" for denoising benchmarks.
_LUMA = np.array([0.299, 0.587, 0.114])


@functools.lru_cache(maxsize=None)
def load_skimage_image(name: str) -> np.ndarray:
    """One bundled photograph as an `[H, W]` or `[H, W, 3]` uint8 array (decoded once, cached)."""
    import skimage.data

    try:
        if name == "motorcycle":
            return skimage.data.stereo_motorcycle()[0]
        return getattr(skimage.data, name)()
    except (OSError, ValueError, ModuleNotFoundError) as error:
        raise DataError(
            f"could not read scikit-image's bundled image '{name}' ({error}); "
            "reinstall it with `pip install --force-reinstall scikit-image`"
        ) from error


def to_channels(image: np.ndarray, channels: int) -> Tensor:
    """uint8 `[H, W]` / `[H, W, 3]` array to a `[channels, H, W]` uint8 tensor."""
    if channels == 1:
        if image.ndim == 3:
            image = np.clip(np.rint(image[..., :3] @ _LUMA), 0, 255).astype(np.uint8)
        return torch.from_numpy(np.array(image, copy=True))[None]  # never alias the cache
    if image.ndim != 3:
        raise ValueError("a gray image cannot be given 3 channels")
    return torch.from_numpy(np.ascontiguousarray(image[..., :3])).permute(2, 0, 1).contiguous()


class NaturalImagesDataModule(SplitDataModule):
    """Natural photographs from scikit-image, split by image into train / val / test.

    Gray (`channels=1`) uses all 16 photographs converted to luma; RGB (`channels=3`) the 8 color
    ones. Training draws `samples_per_epoch` random `patch_size` crops with flips and rotations;
    validation and test score fixed `eval_size` tiles of their own images (or whole images when
    `eval_size` is null), so no training pixel is ever scored.
    """

    def __init__(
        self,
        channels: int = 1,
        patch_size: int = 64,
        eval_size: int | None = 128,
        samples_per_epoch: int = 1024,
        batch_size: int = 16,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        split_seed: int = 0,
        val_fraction: float = 0.15,
        test_fraction: float = 0.2,
    ) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (gray) or 3 (RGB), got {channels}")
        self.save_hyperparameters(logger=False)
        self.channels = channels

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        hp = self.hparams
        names = COLOR_IMAGES + (GRAY_IMAGES if self.channels == 1 else ())
        train, val, test = split_by_item(names, hp.val_fraction, hp.test_fraction, hp.split_seed)
        self.splits = {"train": train, "val": val, "test": test}
        images = {name: to_channels(load_skimage_image(name), self.channels) for name in names}
        self.datasets = {
            "train": RandomPatches([images[n] for n in train], hp.patch_size, hp.samples_per_epoch),
            "val": Tiles([images[n] for n in val], hp.eval_size),
            "test": Tiles([images[n] for n in test], hp.eval_size),
        }
        log.info(
            "natural images (%s): train %s (%d crops/epoch) | val %s (%d views) | test %s (%d views)",
            "gray" if self.channels == 1 else "RGB",
            ", ".join(train),
            len(self.datasets["train"]),
            ", ".join(val),
            len(self.datasets["val"]),
            ", ".join(test),
            len(self.datasets["test"]),
        )

    @property
    def whole_image_eval(self) -> bool:  # read by SplitDataModule's loaders
        return self.hparams.eval_size is None
