"""The harness: methods (trained nets, classical baselines) scored on the same seeded noisy
images, by the measurement protocol of the guide (docs/evaluation.md).

- Clean references are float in [0, 1] (8-bit / 255, 16-bit / 65535).
- Image `i` is corrupted with a generator seeded by `seed + i`, at every level and for every
  method: all methods see the very same noisy image, and for Gaussian noise every sigma scales
  the same N(0, 1) draw, so curves over sigma are smooth.
- PSNR and SSIM (torchmetrics, data_range = 1) per image on the output clamped to [0, 1], then
  averaged over images; no border crop; gray or RGB as the images are.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn
from torchmetrics.functional.image import (
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)

if TYPE_CHECKING:
    from restorelab.baselines import Baseline
    from restorelab.inference import Denoiser

DEFAULT_CURVE_SIGMAS = (5, 15, 25, 35, 50, 65, 75)


@dataclass
class EvalImage:
    """A clean reference `[C, H, W]` in [0, 1]; `noisy` is set for data with real noise."""

    name: str
    clean: Tensor
    noisy: Tensor | None = None


@dataclass
class Level:
    """One corruption setting: `corruption` None means the images' own (real) noise.
    `sigma` is the true Gaussian noise level in [0, 1] units when there is one."""

    name: str
    corruption: nn.Module | None
    sigma: float | None = None
    value: float | None = None
    models_only: bool = False  # scores the trained nets only (the clean-input ceiling)


@dataclass
class Method:
    """Anything that restores: `restore(noisy [C, H, W], sigma or None) -> [C, H, W]`."""

    name: str
    restore: Callable[[Tensor, float | None], Tensor]
    kind: str = "baseline"  # "model" | "baseline"


def model_method(denoiser: Denoiser, name: str = "model") -> Method:
    """A trained net as a method. A net that takes the noise level is given the true sigma, as
    the classical baselines are (the literature's non-blind rows); a blind net never sees it."""

    def restore(noisy: Tensor, sigma: float | None) -> Tensor:
        return denoiser.denoise(noisy, None if sigma is None else sigma * 255.0)

    return Method(name, restore, kind="model")


def baseline_method(baseline: Baseline) -> Method:
    def restore(noisy: Tensor, sigma: float | None) -> Tensor:
        array = noisy.permute(1, 2, 0).double().numpy()  # (H, W, C)
        return torch.from_numpy(baseline(array, sigma)).permute(2, 0, 1).float()

    return Method(baseline.name, restore)


def score(restored: Tensor, clean: Tensor) -> tuple[float, float]:
    """(PSNR, SSIM) of one `[C, H, W]` image: data_range 1, output clamped to [0, 1]."""
    preds = restored.float().clamp(0.0, 1.0)[None]
    target = clean.float()[None]
    psnr = peak_signal_noise_ratio(preds, target, data_range=1.0, dim=(1, 2, 3))
    ssim = structural_similarity_index_measure(preds, target, data_range=1.0)
    return float(psnr), float(ssim)


def corrupt(image: EvalImage, index: int, level: Level, seed: int) -> Tensor:
    """The noisy version of image `index` at `level`, identical for every method and run."""
    if level.corruption is None:
        if image.noisy is None:
            raise ValueError(f"{image.name} has no noisy version and the level has no corruption")
        return image.noisy
    generator = torch.Generator().manual_seed(seed + index)
    with torch.no_grad():
        return level.corruption(image.clean[None].float(), generator)[0]


@dataclass
class EvaluationResult:
    """Per-image rows and, for image grids, the first images' outputs per level."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """{level: {method: {psnr, ssim, seconds, images}}}, means over images."""
        grouped: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for row in self.rows:
            grouped.setdefault(row["level"], {}).setdefault(row["method"], []).append(row)
        return {
            level: {
                method: {
                    "psnr": float(np.mean([r["psnr"] for r in rows])),
                    "ssim": float(np.mean([r["ssim"] for r in rows])),
                    "rmse": float(np.mean([r["rmse"] for r in rows])),
                    "seconds_per_image": float(np.mean([r["seconds"] for r in rows])),
                    "images": len(rows),
                }
                for method, rows in methods.items()
            }
            for level, methods in grouped.items()
        }


def evaluate(
    methods: Sequence[Method],
    images: Sequence[EvalImage],
    levels: Sequence[Level],
    seed: int = 0,
    keep_samples: int = 0,
    progress: bool = False,
) -> EvaluationResult:
    """Scores every method on every image at every level (see the module docstring)."""
    result = EvaluationResult()
    jobs = [(level, i, image) for level in levels for i, image in enumerate(images)]
    iterator: Any = jobs
    if progress:  # a bar on a terminal, a line a minute in a job's log
        from restorelab.progress_log import track

        names = ", ".join(m.name for m in methods)
        iterator = track(  # one tick per noisy image: every method (BM3D too) has restored it
            jobs, total=len(jobs), transient=False,
            description=f"scoring {names} on {len(images)} images x {len(levels)} levels",
        )
    for level, index, image in iterator:
        noisy = corrupt(image, index, level, seed)
        sample: dict[str, Any] = {"image": image.name, "noisy": noisy.clamp(0, 1),
                                  "clean": image.clean}
        for method in methods:
            if level.models_only and method.kind != "model":
                continue
            start = time.perf_counter()
            restored = method.restore(noisy, level.sigma)
            seconds = time.perf_counter() - start
            psnr, ssim = score(restored, image.clean)
            result.rows.append(
                {
                    "image": image.name,
                    "level": level.name,
                    "method": method.name,
                    "psnr": psnr,
                    "ssim": ssim,
                    # Kaggle's metric for the documents: exact per image, from its PSNR
                    # (data_range 1), averaged over images like the others.
                    "rmse": 10.0 ** (-psnr / 20.0),
                    "seconds": seconds,
                }
            )
            sample[method.name] = restored.float().clamp(0, 1)
        if index < keep_samples and not level.models_only:
            result.samples.setdefault(level.name, []).append(sample)
    return result



def corruption_levels(noise: dict[str, Any], values: Sequence[float] | None = None) -> list[Level]:
    """Levels for a noise config (a dict with `_target_`): at `values` of its main level (sigma,
    amount, peak: the corruption's `level`) when given; else its fixed level, or for a
    [min, max] range the levels its validation uses (15/25/50 inside a sigma range, else the
    two ends)."""
    import hydra

    corruption = hydra.utils.instantiate(dict(noise))
    if values:
        levels = [(corruption.level_name(v), corruption.at_level(v)) for v in values]
    else:
        fixed = corruption.fixed_levels()
        bounds = corruption.level_bounds()
        name = corruption.level_name(bounds[0]) if bounds else type(corruption).__name__
        levels = list(fixed.items()) if fixed else [(name, corruption)]
    result = []
    for name, level in levels:
        bounds = level.level_bounds()
        result.append(Level(name, level, level.true_sigma(), bounds[0] if bounds else None))
    return result


def gaussian_levels(sigmas: Sequence[float], clip: bool = False) -> list[Level]:
    """Gaussian noise at each sigma (0-255 units)."""
    from restorelab.corruptions import GaussianNoise

    return [
        Level(f"sigma{s:g}", GaussianNoise(sigma=float(s), clip=clip), float(s) / 255.0, float(s))
        for s in sigmas
    ]
