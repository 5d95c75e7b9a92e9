"""Labeled Faces in the Wild: face photographs, split by person."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor
from torchvision.transforms.v2.functional import center_crop, resize

from restorelab.data.base import SplitDataModule
from restorelab.data.files import load_images
from restorelab.data.patches import ImageStack
from restorelab.errors import DataError

OFFICIAL_PAGE = "http://vis-www.cs.umass.edu/lfw/"
# variant -> (folder inside the archive, archive, URL, md5). The UMass host no longer answers;
# these are the mirrors scikit-learn's fetch_lfw_people downloads from, same archives.
ARCHIVES = {
    "funneled": (
        "lfw_funneled",
        "lfw-funneled.tgz",
        "https://ndownloader.figshare.com/files/5976015",
        "1b42dfed7d15c9b2dd63d5e5840c86ad",
    ),
    "original": (
        "lfw",
        "lfw.tgz",
        "https://ndownloader.figshare.com/files/5976018",
        "a17d05bd522c52d84eca14327a23d494",
    ),
}


class LFWDataModule(SplitDataModule):
    """LFW faces, center-cropped (`crop_size` of the 250x250 photos) and resized to `image_size`.

    Read from the archive's own layout, `<data_dir>/lfw_funneled/<Person>/<Person>_0001.jpg` (or
    `lfw/` for the original, unaligned photos; torchvision's `<data_dir>/lfw-py/...` works too).
    People, not photos, are split into train / val / test with `split_seed`, so no face
    seen in training is scored. All faces are decoded once in `setup` and kept in memory.
    """

    shuffle_train = True

    def __init__(
        self,
        data_dir: str = "data",
        variant: str = "funneled",
        download: bool = True,
        channels: int = 1,
        image_size: int = 48,
        crop_size: int = 128,
        samples_per_epoch: int | None = None,
        batch_size: int = 32,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        split_seed: int = 0,
        strict: bool = False,
    ) -> None:
        super().__init__()
        if variant not in ARCHIVES:
            raise ValueError(f"variant must be one of {sorted(ARCHIVES)}, got {variant!r}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (gray) or 3 (RGB), got {channels}")
        if image_size < 1 or crop_size < 1:
            raise ValueError(f"image_size, crop_size must be positive: {image_size}, {crop_size}")
        self.save_hyperparameters(logger=False)
        self.channels = channels

    def _candidates(self) -> list[Path]:
        folder = ARCHIVES[self.hparams.variant][0]
        root = Path(self.hparams.data_dir)
        return [root / folder, root / "lfw-py" / folder]

    def _find(self) -> Path | None:
        return next((path for path in self._candidates() if path.is_dir()), None)

    def _how_to_get(self) -> str:
        folder, archive, url, _ = ARCHIVES[self.hparams.variant]
        return (
            f"With internet, data.download=true downloads it; offline, get {archive} from {url} "
            f"(official page {OFFICIAL_PAGE}) and extract it into {self.hparams.data_dir} "
            f"(`tar -xzf {archive} -C {self.hparams.data_dir}` makes {folder}/<Person_Name>/)."
        )

    def prepare_data(self) -> None:
        if self._find() is not None or not self.hparams.download:
            return
        from torchvision.datasets.utils import download_and_extract_archive

        _, archive, url, md5 = ARCHIVES[self.hparams.variant]
        try:
            download_and_extract_archive(url, self.hparams.data_dir, filename=archive, md5=md5)
        except Exception as error:  # urllib, HTTP, checksum and tar errors alike
            reason = " ".join(str(error).split())
            raise DataError(f"LFW download failed ({reason}). {self._how_to_get()}") from error

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        hp = self.hparams
        root = self._find()
        if root is None:
            expected = " or ".join(str(p) for p in self._candidates())
            raise DataError(f"LFW not found: expected {expected}. {self._how_to_get()}")
        person_of = {
            path.relative_to(root).as_posix(): path.parent.name
            for path in sorted(root.glob("*/*"))
            if path.suffix.lower() in (".jpg", ".jpeg", ".png")
        }
        if len(set(person_of.values())) < 3:
            raise DataError(
                f"LFW: {root} holds {len(set(person_of.values()))} person folder(s) with photos; "
                f"splitting by person needs at least 3. {self._how_to_get()}"
            )
        train, val, test = self._split(person_of, f"LFW ({root})")
        faces = load_images(
            [root / name for name in person_of], self.channels, hp.strict, f"LFW ({root})",
            transform=self._crop_and_resize,
        )
        datasets, self.splits = {}, {}
        for split, names in (("train", train), ("val", val), ("test", test)):
            names = [n for n in names if root / n in faces]
            self.splits[split] = sorted({person_of[n] for n in names})
            stack = torch.stack([faces[root / n] for n in names]) if names else torch.empty(0)
            datasets[split] = ImageStack(stack)
        self._set_datasets(f"LFW {hp.variant} ({root})", datasets, unit="people")

    def _crop_and_resize(self, image: Tensor) -> Tensor:
        crop = min(self.hparams.crop_size, *image.shape[-2:])  # never pad a smaller photo
        image = center_crop(image, [crop, crop])
        if crop != self.hparams.image_size:
            image = resize(image, [self.hparams.image_size] * 2, antialias=True)
        return image
