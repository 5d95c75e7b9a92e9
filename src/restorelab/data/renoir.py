"""RENOIR (Anaya and Barbu 2018): real low-light noise, aligned batches of one scene per folder,
for supervised training against the low-noise reference or Noise2Noise between two noisy shots."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor
from torch.utils.data import Dataset

from restorelab.data.base import SplitDataModule
from restorelab.data.files import find_images, load_images, report_bad
from restorelab.data.paired import check_common
from restorelab.data.patches import RandomPatches, fit_to_size, spread_tiles, to_float
from restorelab.errors import DataError

log = logging.getLogger(__name__)

DOWNLOAD_PAGE = "https://ani.stat.fsu.edu/~abarbu/Renoir.html"
CAMERAS = ("Mi3_Aligned", "T3i_Aligned", "S90_Aligned")
TARGETS = ("reference", "noisy")


class Scene(NamedTuple):
    """One aligned batch: its low-noise references and its noisy shots (files)."""

    name: str  # "<camera folder>/<batch folder>", the unit that must not leak between splits
    references: list[Path]
    noisy: list[Path]


def find_scenes(root: Path) -> list[Scene]:
    """The folders under `root` (at any depth) that directly hold a `*Reference.<ext>` and a
    `*Noisy.<ext>` image, any case of the names and of PNG/BMP/TIFF/JPEG suffixes."""
    folders: dict[Path, tuple[list[Path], list[Path]]] = {}
    for path in find_images(root, recursive=True):
        stem = path.stem.lower()
        kind = 0 if stem.endswith("reference") else 1 if stem.endswith("noisy") else None
        if kind is not None:  # anything else (e.g. *full.bmp) is not read
            folders.setdefault(path.parent, ([], []))[kind].append(path)
    return [
        Scene(folder.relative_to(root).as_posix(), references, noisy)
        for folder, (references, noisy) in sorted(folders.items())
        if references and noisy
    ]


class SceneShots(Dataset):
    """Training pairs from random crops of scene stacks `[(1 + K) C, H, W]` (the clean image,
    then K noisy shots): `(noisy, clean)` with target "reference", else `(noisy_a, noisy_b)`, two
    different shots. The shots are drawn from torch's global generator, like the crops."""

    def __init__(self, crops: RandomPatches, channels: int, target: str) -> None:
        self.crops = crops
        self.channels = channels
        self.target = target

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        stack = self.crops[index]  # ((1 + K) C, p, p), float
        c = self.channels
        shots = stack.shape[0] // c - 1
        if self.target == "reference":
            i = int(torch.randint(shots, ()))
            return stack[c * (1 + i) : c * (2 + i)], stack[:c]
        i, j = torch.randperm(shots)[:2].tolist()
        return stack[c * (1 + i) : c * (2 + i)], stack[c * (1 + j) : c * (2 + j)]


class ScenePairs(Dataset):
    """Evaluation pairs `(noisy, clean)`: every noisy shot of every view (a tile or a whole
    scene stack) with the view's clean image."""

    def __init__(self, views: list[Tensor], channels: int) -> None:
        self.channels = channels
        self.items = [(view, i) for view in views for i in range(view.shape[0] // channels - 1)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        view, i = self.items[index]
        c = self.channels
        return to_float(view[c * (1 + i) : c * (2 + i)]), to_float(view[:c])


class RENOIRDataModule(SplitDataModule):
    """RENOIR's aligned batches, read from `data_dir`:

        <data_dir>/Mi3_Aligned/Batch_001/IMG_xxxxReference.bmp   low-noise references (two)
                                        /IMG_xxxxNoisy.bmp       noisy shots of the scene
                                        /IMG_xxxxfull.bmp        not read
                  /T3i_Aligned/...  /S90_Aligned/...

    Any folder under `data_dir` that holds a `*Reference` and a `*Noisy` image is one scene (any
    case, PNG or BMP too); `cameras` keeps the scenes under the named camera folders only. The
    clean image of a scene is its reference, or the mean (rounded to 8 bits) of its references.
    Scenes, not images, are split into train / val / test with `split_seed`.

    Training draws `samples_per_epoch` random `patch_size` crops (the same crop, flip and
    rotation of every image of the scene) and yields `(noisy, clean)` with `target: reference`
    (supervised) or `(noisy_a, noisy_b)`, two different shots, with `target: noisy`
    (objective=noise2noise; scenes with one noisy shot are left out of training). Validation and
    test always score every noisy shot against the clean reference, on `eval_tiles` tiles of
    `eval_size` per scene (whole photos, batch size 1, when null). The photos are decoded once in
    `setup` and kept in memory.
    """

    def __init__(
        self,
        data_dir: str = "data/RENOIR",
        cameras: list[str] | None = None,
        target: str = "reference",
        channels: int = 3,
        patch_size: int = 64,
        eval_size: int | None = 256,
        eval_tiles: int | None = 16,
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
    ) -> None:
        super().__init__()
        check_common(channels, small_images, eval_tiles)
        if target not in TARGETS:
            raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
        self.save_hyperparameters(logger=False)
        self.channels = channels
        self.whole_image_eval = eval_size is None
        # What the second image of a training pair is, for the objective's check.
        self.pair_target = "clean" if target == "reference" else "noisy"

    def find_scenes(self) -> list[Scene]:
        hp = self.hparams
        root = Path(hp.data_dir)
        layout = (f"expected {root}/<camera>_Aligned/Batch_XXX/*Reference.bmp and *Noisy.bmp "
                  f"(cameras {', '.join(CAMERAS)})")
        how = (f"Download the aligned batches ({', '.join(c + '.zip' for c in CAMERAS)}) from "
               f"{DOWNLOAD_PAGE} and unzip them into {root}.")
        if not root.is_dir():
            raise DataError(f"RENOIR not found: {layout}. {how}")
        scenes = find_scenes(root)
        if hp.cameras:
            wanted = {str(c).lower() for c in hp.cameras}
            scenes = [s for s in scenes if s.name.split("/")[0].lower() in wanted
                      or s.name.split("/")[0].lower().removesuffix("_aligned") in wanted]
        if not scenes:
            chosen = f" in the cameras {list(hp.cameras)}" if hp.cameras else ""
            raise DataError(f"RENOIR: no scene{chosen} under {root}: {layout}. {how}")
        return scenes

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        hp = self.hparams
        c = self.channels
        what = f"RENOIR ({hp.data_dir})"
        scenes = {scene.name: scene for scene in self.find_scenes()}
        files = [p for s in scenes.values() for p in (*s.references, *s.noisy)]
        images = load_images(files, c, hp.strict, what)
        stacks: dict[str, Tensor] = {}
        shots: dict[str, list[str]] = {}
        problems: list[str] = []
        for name, scene in scenes.items():
            references = [images.pop(p) for p in scene.references if p in images]
            noisy = {p: images.pop(p) for p in scene.noisy if p in images}
            if not references or not noisy:
                continue  # already reported as unreadable
            shapes = {(tuple(t.shape), t.dtype) for t in (*references, *noisy.values())}
            if len(shapes) > 1:
                problems.append(f"{name} (images of sizes {sorted(s for s, _ in shapes)})")
                continue
            clean = references[0]
            if len(references) > 1:  # the mean of the references, as 8 (or 16) bits
                total = torch.stack(references).to(torch.int64).sum(dim=0)
                clean = ((total + len(references) // 2) // len(references)).to(clean.dtype)
            stacks[name] = torch.cat([clean, *noisy.values()])  # ((1 + K) C, H, W)
            shots[name] = [f"{name}/{p.name}" for p in noisy]
        report_bad(what, problems, hp.strict, "misaligned scene")
        groups = {shot: name for name, names in shots.items() for shot in names}
        splits = self._split(groups, what)
        datasets: dict[str, Dataset] = {}
        self.splits = {}
        for split, names in zip(("train", "val", "test"), splits):
            members = sorted({groups[n] for n in names})
            if split == "train" and hp.target == "noisy":
                single = [s for s in members if len(shots[s]) < 2]
                if single:
                    log.warning("%s: %d training scene(s) with one noisy shot left out of "
                                "Noise2Noise training (target=noisy): %s", what, len(single),
                                ", ".join(single[:10]))
                members = [s for s in members if s not in single]
            size = hp.patch_size if split == "train" else hp.eval_size
            views = [stacks[s] for s in members]
            if size is not None:
                views, members = fit_to_size(views, members, size, hp.small_images,
                                             f"{what} {split}")
            self.splits[split] = [shot for s in members for shot in shots[s]]
            if split == "train":
                crops = RandomPatches(views, hp.patch_size, hp.samples_per_epoch) if views else []
                datasets[split] = SceneShots(crops, c, hp.target)  # empty: refused below
            else:
                if size is not None:
                    views = [t for v in views for t in spread_tiles(v, size, hp.eval_tiles)]
                datasets[split] = ScenePairs(views, c)
        self._set_datasets(what, datasets, unit="noisy shots")
