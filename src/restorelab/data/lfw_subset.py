"""The faces of scikit-image's bundled LFW subset: LFW without the download (100 gray 25x25 faces)."""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.transforms.v2.functional import InterpolationMode, resize

from restorelab.data.base import SplitDataModule
from restorelab.data.patches import ImageStack, split_by_item
from restorelab.errors import DataError

# `skimage.data.lfw_subset()` holds 200 crops: the first 100 are faces, the last 100 non-faces
# cut from the backgrounds of the same photos (its docstring). Only the faces are used.
NUM_FACES = 100


def load_faces() -> Tensor:
    """The 100 faces of `skimage.data.lfw_subset()` as one `[100, 25, 25]` float64 tensor in [0, 1]."""
    try:
        import skimage.data

        crops = skimage.data.lfw_subset()
    except (OSError, ValueError, ModuleNotFoundError) as error:
        raise DataError(
            f"could not read scikit-image's bundled LFW subset ({error}); "
            "reinstall it with `pip install --force-reinstall scikit-image`"
        ) from error
    if crops.ndim != 3 or len(crops) < NUM_FACES:
        raise DataError(
            f"scikit-image's lfw_subset() returned shape {crops.shape}, expected (200, 25, 25) "
            "with the faces first; this scikit-image version is not supported"
        )
    return torch.from_numpy(crops[:NUM_FACES].copy())


def resize_faces(faces: Tensor, image_size: int) -> Tensor:
    """`[N, H, W]` faces in [0, 1] to `[N, 1, image_size, image_size]` uint8.

    Bicubic with antialiasing (bicubic overshoots, hence the clip to [0, 1]); then 8 bits, so the
    clean references are value / 255 like every other dataset's.
    """
    faces = faces.float()[:, None]
    if faces.shape[-1] != image_size or faces.shape[-2] != image_size:
        faces = resize(faces, [image_size, image_size], InterpolationMode.BICUBIC, antialias=True)
    return (faces.clamp(0, 1) * 255).round().to(torch.uint8)


AUGMENTATIONS = ("mirror", "d8")


class FlippedFaces(ImageStack):
    """`ImageStack` that mirrors each drawn face left-right with probability 1/2 (faces are
    roughly symmetric; upside-down or rotated faces are not faces any more), or with
    `augment="d8"` applies one of the 8 flips and 90-degree rotations, uniformly."""

    def __init__(self, images: Tensor, augment: str = "mirror") -> None:
        super().__init__(images)
        self.augment = augment

    def __getitem__(self, index: int) -> Tensor:
        face = super().__getitem__(index)
        if self.augment == "d8":
            face = torch.rot90(face, int(torch.randint(0, 4, ())), dims=(-2, -1))
        return face.flip(-1) if torch.rand(()) < 0.5 else face


class LFWSubsetDataModule(SplitDataModule):
    """The 100 faces of scikit-image's LFW subset, resized to `image_size`, split by image.

    Offline stand-in for `LFWDataModule`: gray 25x25 crops (`channels=3` copies gray into RGB).
    Faces are split into train / val / test with `split_seed`. The subset carries no names, so
    the split is by image, not by person: one person may appear in two splits. Training draws
    `samples_per_epoch` faces per epoch (null = every training face once), each mirrored with
    probability 1/2 (`augment="mirror"`) or turned by one of the 8 flips and rotations
    (`augment="d8"`, for a net that must restore faces in any orientation); validation and test
    score the same whole, upright faces every epoch.
    """

    shuffle_train = True

    def __init__(
        self,
        channels: int = 1,
        image_size: int = 48,
        samples_per_epoch: int | None = 400,
        batch_size: int = 16,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        split_seed: int = 0,
        augment: str = "mirror",
    ) -> None:
        super().__init__()
        if augment not in AUGMENTATIONS:
            raise ValueError(f"augment must be one of {AUGMENTATIONS}, got {augment!r}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (gray) or 3 (gray copied to RGB), got {channels}")
        if image_size < 1:
            raise ValueError(f"image_size must be positive, got {image_size}")
        self.save_hyperparameters(logger=False)
        self.channels = channels

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        hp = self.hparams
        faces = resize_faces(load_faces(), hp.image_size).expand(-1, self.channels, -1, -1)
        names = [f"face_{k:03d}" for k in range(len(faces))]
        try:
            train, val, test = split_by_item(names, hp.val_fraction, hp.test_fraction, hp.split_seed)
        except ValueError as error:
            raise DataError(f"LFW subset: {error}") from error
        self.splits = {"train": train, "val": val, "test": test}

        def stack(split: list[str]) -> Tensor:
            return faces[[names.index(name) for name in split]].contiguous()

        datasets = {
            "train": FlippedFaces(stack(train), hp.augment),
            "val": ImageStack(stack(val)),
            "test": ImageStack(stack(test)),
        }
        self._set_datasets(f"LFW subset (scikit-image, {hp.image_size}x{hp.image_size})", datasets,
                           unit="faces")
