"""What an evaluation's summary.json says besides its results: the models scored, the images,
the corruption and its levels, and the protocol (metrics, noise seeds, the sigma the baselines
were given, tiles, self-ensemble)."""

from __future__ import annotations

from functools import partial
from typing import Any

from restorelab.evaluation.harness import EvalImage, Level
from restorelab.evaluation.request import EvalRequest, LoadedModel

PROTOCOL_METRICS = (
    "PSNR and SSIM (torchmetrics), data_range=1, per image on the output clamped to [0, 1], "
    "averaged over images"
)


def summary_content(
    request: EvalRequest,
    models: list[LoadedModel],
    images: list[EvalImage],
    image_source: str,
    levels: list[Level],
    noise_config: dict[str, Any],
    baselines: list[Any],
) -> dict[str, Any]:
    """summary.json without the results: what was scored, on what, by which protocol. The
    first of `models` (if any) is the one its top-level checkpoint, model and tiles describe."""
    from omegaconf import OmegaConf

    model = models[0] if models else None
    paired = levels[0].corruption is None
    config = model.config if model else None
    denoiser = model.denoiser if model else None
    to_container = partial(OmegaConf.to_container, resolve=True)
    return {
        "models": {
            m.label: {
                "checkpoint": str(m.source),
                "model": to_container(m.config.model) if m.config is not None else None,
                "weights": m.config.get("weights") if m.config is not None else None,
                "trained_noise": (to_container(m.config.noise) if m.config is not None
                                  and "noise" in m.config else None),
            } for m in models
        },
        "checkpoint": str(model.source) if model else None,
        "model": to_container(config.model) if config is not None else None,
        # "EMA, decay 0.999" when the scored weights are an average (null: the trained ones).
        "weights": config.get("weights") if config is not None else None,
        "trained_noise": (to_container(config.noise)
                          if config is not None and "noise" in config else None),
        "images": {
            "source": image_source,
            "count": len(images),
            "color": "gray" if int(images[0].clean.shape[0]) == 1 else "RGB",
            "names": [image.name for image in images],
        },
        "corruption": {
            "config": noise_config if not paired else "real noise (paired data)",
            "levels": [level.name for level in levels],
            "clip": noise_config.get("clip") if not paired else None,
        },
        "protocol": {
            "metrics": PROTOCOL_METRICS,
            "border_crop": 0,
            "noise_seed": f"image i uses a torch.Generator seeded with {request.seed} + i",
            "baseline_sigma": _baseline_sigma(baselines, levels),
            "tile_size": denoiser.tile_size if denoiser is not None else None,
            "tile_overlap": denoiser.overlap if denoiser is not None else None,
            "self_ensemble": (
                ", ".join(f"{m.label}_x8" for m in models) + ": each model's outputs "
                "for the 8 flips and rotations of each tile, averaged"
                if request.ensemble and denoiser is not None else None
            ),
        },
    }


def _baseline_sigma(baselines: list[Any], levels: list[Level]) -> str:
    """What the sigma-aware baselines were given, in the report's words."""
    if not any(b.uses_sigma for b in baselines):
        return "none of the chosen baselines uses sigma"
    if all(level.sigma is not None for level in levels):
        return "true sigma of the Gaussian noise"
    return "estimated from each noisy image (skimage.restoration.estimate_sigma)"
