"""Any folder of clean images: PNG, JPEG, TIFF or BMP, 8- or 16-bit, gray, RGB, RGBA or palette."""

from __future__ import annotations

from pathlib import Path

import torch

from restorelab.data.base import SplitDataModule
from restorelab.data.files import find_images, load_images, require_dir
from restorelab.data.patches import RandomPatches, Tiles, fit_to_size
from restorelab.errors import DataError


class FolderDataModule(SplitDataModule):
    """The images under `data_dir` (with `recursive`, in subfolders too), converted to `channels`.

    Files are split into train / val / test with `split_seed`; training draws `samples_per_epoch`
    random `patch_size` crops with flips and rotations; validation and test score the
    `eval_size` tiles of their images (whole images, batch size 1, when null). All images are
    decoded once in `setup` and kept in memory at their bit depth.

    With `noisy_only` the images are the noisy observations themselves: the training step must
    not corrupt them again (a self-supervised objective, `restorelab.objectives`), and as no
    clean image exists, validation and test report the objective's loss only, unless
    `val_root` names a folder of clean images: training then reads every image of `data_dir`,
    and the clean images, split by file in the ratio `val_fraction : test_fraction`, are
    validated and tested on as in any clean run (corrupted by `noise`, scored by PSNR and SSIM).
    """

    def __init__(
        self,
        data_dir: str = "data/images",
        recursive: bool = True,
        channels: int = 1,
        patch_size: int = 64,
        eval_size: int | None = 128,
        samples_per_epoch: int = 1024,
        batch_size: int = 16,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        split_seed: int = 0,
        strict: bool = False,
        small_images: str = "pad",
        noisy_only: bool = False,
        val_root: str | None = None,
    ) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (gray) or 3 (RGB), got {channels}")
        if small_images not in ("pad", "skip"):
            raise ValueError(f"small_images must be 'pad' or 'skip', got {small_images!r}")
        self.save_hyperparameters(logger=False)
        self.channels = channels
        self.whole_image_eval = eval_size is None
        self.noisy_only = noisy_only
        # Validation and test batches are clean images, also when training is noisy-only.
        self.clean_eval = not noisy_only or val_root is not None

    def _find_files(
        self, key: str = "data_dir", minimum: int = 3, needed_for: str = "train / val / test"
    ) -> tuple[dict[str, Path], str]:
        """The image files under `data.<key>` by their relative names, and the folder's label."""
        hp = self.hparams
        return find_image_files(hp[key], key, hp.recursive, minimum, needed_for)

    def _split_clean_set(self, names: list[str], what: str) -> tuple[list[str], list[str]]:
        hp = self.hparams
        return split_clean_set(names, hp.val_fraction, hp.test_fraction, hp.split_seed, what)

    def _file_splits(self) -> tuple[dict[str, Path], tuple[list[str], ...], str]:
        """(the files by name, the train / val / test names, the folders' label): the folder
        split by file, or, with `val_root`, all of it for training and the clean set split."""
        if self.hparams.get("val_root") is None:
            paths, what = self._find_files()
            return paths, self._split({name: name for name in paths}, what), what
        train, what = self._find_files(minimum=1, needed_for="training")
        clean, clean_what = self._find_files("val_root", 2, "val and test")
        what = f"{what}, clean {clean_what}"
        paths = {**{f"train:{n}": p for n, p in train.items()},
                 **{f"clean:{n}": p for n, p in clean.items()}}
        splits = ([f"train:{n}" for n in sorted(train)],
                  *self._split_clean_set([f"clean:{n}" for n in clean], what))
        return paths, splits, what

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        hp = self.hparams
        paths, splits, what = self._file_splits()
        images = load_images(list(paths.values()), self.channels, hp.strict, what)
        datasets, self.splits = {}, {}
        for split, names in zip(("train", "val", "test"), splits):
            names = [n for n in names if paths[n] in images]
            views = [images[paths[n]] for n in names]
            size = hp.patch_size if split == "train" else hp.eval_size
            if size is not None:
                views, names = fit_to_size(views, names, size, hp.small_images, f"{what} {split}")
            self.splits[split] = names
            if split == "train" and views:
                datasets[split] = RandomPatches(views, hp.patch_size, hp.samples_per_epoch)
            else:
                datasets[split] = Tiles(views, size)  # empty: refused by _set_datasets
        self._set_datasets(what, datasets)


def split_clean_set(
    names: list[str], val_fraction: float, test_fraction: float, seed: int, what: str
) -> tuple[list[str], list[str]]:
    """A clean set (`val_root`) split by file into val and test, `val_fraction : test_fraction`,
    seeded: at least one image in val, and one in test when there are two or more."""
    total = val_fraction + test_fraction
    if total <= 0:
        raise DataError(f"{what}: val_fraction + test_fraction must be > 0 to split val_root")
    ordered = sorted(names)
    order = torch.randperm(len(ordered), generator=torch.Generator().manual_seed(seed))
    shuffled = [ordered[i] for i in order.tolist()]
    num_val = min(len(ordered) - 1, max(1, round(len(ordered) * val_fraction / total)))
    return sorted(shuffled[:num_val]), sorted(shuffled[num_val:])


def find_image_files(
    folder: str | Path, key: str, recursive: bool, minimum: int, needed_for: str
) -> tuple[dict[str, Path], str]:
    """The image files under `folder` (the value of `data.<key>`) by their relative names, and
    the folder's label; one clear DataError when it is missing or holds fewer than `minimum`."""
    how = f"Point data.{key} at a folder of PNG, JPEG, TIFF or BMP images."
    root = require_dir(Path(folder), "image folder", how)
    paths = {p.relative_to(root).as_posix(): p for p in find_images(root, recursive)}
    if len(paths) < minimum:
        raise DataError(
            f"{root} holds {len(paths)} image file(s){' (recursive)' if recursive else ''}; "
            f"{needed_for} need at least {minimum}. {how}"
        )
    return paths, f"folder ({root})"
