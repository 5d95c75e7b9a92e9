"""The scores `DenoisingModule` keeps: PSNR and SSIM per image (then the mean over images, as
the literature reports them) for the restored and the noisy images, the losses, the PSNR of each
fixed level of a blind corruption and of the damaged pixels alone, and the seeds that give
validation and test the same noise every epoch."""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor, nn
from torchmetrics import MaxMetric, MeanMetric, MetricCollection
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

# Validation and test draw their noise from different fixed streams, so the model is never
# selected on the very noise it is tested on.
STAGE_SEED_OFFSET = {"val": 0, "test": 1 << 20}


def noise_seed(val_seed: int, stage: str, rank: int, batch_idx: int, salt: int = 0) -> int:
    """The seed of one batch's noise: distinct, reproducible streams per stage, rank, batch
    and level (`salt`)."""
    seed = val_seed + STAGE_SEED_OFFSET[stage] + 7919 * salt
    seed += 1_000_003 * rank + batch_idx
    return seed


def quality_metrics() -> MetricCollection:
    """PSNR and SSIM with data_range 1."""
    # dim=(1, 2, 3): PSNR per image, then the mean over images, as the literature reports it
    # (the torchmetrics default would pool all pixels of the epoch into a single MSE).
    return MetricCollection(
        {
            "psnr": PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3)),
            "ssim": StructuralSimilarityIndexMeasure(data_range=1.0),
        }
    )


def add_metrics(module: L.LightningModule, corruption: nn.Module) -> None:
    """Gives `module` its metrics, as attributes (Lightning logs and resets them by these
    names): the losses of each stage, PSNR / SSIM of the restored and noisy images, the best
    validation PSNR, the damaged pixels' PSNR, and one PSNR per fixed level of `corruption`."""
    module.train_loss = MeanMetric()
    module.val_loss = MeanMetric()
    module.test_loss = MeanMetric()
    module.val_metrics = quality_metrics().clone(prefix="val/")
    module.val_noisy_psnr = PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3))
    module.val_psnr_best = MaxMetric()
    module.test_metrics = quality_metrics().clone(prefix="test/")
    module.test_noisy_metrics = quality_metrics().clone(prefix="test/", postfix="_noisy")

    module.damaged_psnr = nn.ModuleDict({"val": MeanMetric(), "test": MeanMetric()})

    # Fixed-strength copies of a blind corruption: one PSNR per level in validation.
    levels = corruption.fixed_levels() if hasattr(corruption, "fixed_levels") else {}
    module.level_corruptions = nn.ModuleDict(levels)
    module.level_psnr = nn.ModuleDict(
        {name: PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3)) for name in levels}
    )


def damaged_psnr(restored: Tensor, clean: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """PSNR per image over the damaged pixels only, and each image's weight: 0 for an image
    left intact, which does not count."""
    # Occlusions, flipped pixels: how well the model fills in what was lost, which the
    # whole-image PSNR dilutes with intact pixels.
    mask = mask.expand_as(clean).float()
    count = mask.sum(dim=(1, 2, 3))
    mse = ((restored - clean).square() * mask).sum(dim=(1, 2, 3)) / count.clamp_min(1.0)
    psnr = -10.0 * torch.log10(mse.clamp_min(1e-10))
    return psnr, (count > 0).float()
