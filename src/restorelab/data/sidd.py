"""SIDD (Smartphone Image Denoising Dataset), the sRGB pairs of SIDD-Small, split by scene."""

from __future__ import annotations

import re
from pathlib import Path

from restorelab.data.files import report_bad
from restorelab.data.paired import Pair, PairedImagesDataModule, check_common
from restorelab.errors import DataError

DOWNLOAD_PAGE = "https://abdokamel.github.io/sidd/"
# <instance>_<scene>_<phone>_<ISO>_<shutter>_<temperature>_<brightness>, e.g.
# 0001_001_S6_00100_00060_3200_L: instance 1 of scene 1. Instances of one scene show the same
# objects under other phones and lighting, so the scene is the unit that must not leak.
_INSTANCE = re.compile(r"^\d+_(\d+)_")


class SIDDDataModule(PairedImagesDataModule):
    """SIDD-Small sRGB: `Data/<instance>/NOISY_SRGB_010.PNG` with `GT_SRGB_010.PNG` beside it.

    (SIDD-Medium's `0001_NOISY_SRGB_010.PNG` naming is read too.) Scenes are split into
    train / val / test with `split_seed`; training takes random `patch_size` crops; validation
    and test score `eval_tiles` tiles of `eval_size` per image, spread over the frame (the SIDD
    benchmark scores 32 blocks of 256x256 per image). The full-size photos are kept in memory:
    SIDD-Small needs about 12 GB.
    """

    def __init__(
        self,
        data_dir: str = "data/SIDD_Small_sRGB_Only",
        channels: int = 3,
        patch_size: int = 64,
        eval_size: int | None = 256,
        eval_tiles: int | None = 32,
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
        self.save_hyperparameters(logger=False)
        self.channels = channels

    def describe(self) -> str:
        return str(self.hparams.data_dir)

    def find_pairs(self) -> list[Pair]:
        data = Path(self.hparams.data_dir) / "Data"
        if not data.is_dir():
            raise DataError(
                f"SIDD not found: expected {data}/<scene instance>/NOISY_SRGB_010.PNG and "
                f"GT_SRGB_010.PNG. Download 'SIDD-Small Dataset, sRGB images only' "
                f"(SIDD_Small_sRGB_Only.zip) from {DOWNLOAD_PAGE} and unzip it into "
                f"{Path(self.hparams.data_dir).parent}."
            )
        pairs, orphans = [], []
        for noisy in sorted(p for p in data.glob("*/*") if "NOISY_SRGB" in p.name.upper()):
            clean = noisy.with_name(re.sub("NOISY", "GT", noisy.name, flags=re.IGNORECASE))
            if not clean.is_file():
                orphans.append(f"{noisy} (no {clean.name})")
                continue
            instance = noisy.parent.name
            match = _INSTANCE.match(instance)
            scene = f"scene {match.group(1)}" if match else instance
            pairs.append(Pair(f"{instance}/{noisy.name}", scene, noisy, clean))
        report_bad(f"SIDD ({data})", orphans, self.hparams.strict, "unpaired")
        if not pairs:
            raise DataError(f"SIDD: no NOISY_SRGB_*.PNG with its GT_SRGB_*.PNG under {data}/*/")
        return pairs
