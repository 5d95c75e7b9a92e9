"""Every trained model of the Fashion-MNIST study and every classical baseline, scored on the
same seeded noisy test images at several Gaussian levels, in one pass of RestoreLab's evaluation
harness (`restorelab.evaluate`, the code behind `restorelab eval`): one table, one noise-level
curve and one image grid for all of them, and BM3D runs once instead of once per model.

    python experiments/fashion_mnist_gaussian/evaluate.py \
        --run conv_ae=<multirun>/0 --run unet=<multirun>/1 --run dncnn=<multirun>/2 \
        --run unet_blind=<blind multirun>/0 --images 100 -o experiments/fashion_mnist_gaussian

Images: the first `--images` of the test split of the first run's own data config (whole 28x28
images, gray). Image i gets noise seeded with `seed + i`; every sigma scales the same N(0, 1)
draw; unclipped. Baselines get the true sigma. Writes per_image.csv, curve.csv, summary.json,
table.md, curve.png and grid.png.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf

from restorelab.baselines import select_baselines
from restorelab.corruptions import GaussianNoise
from restorelab.evaluate import (
    EvaluationResult,
    baseline_method,
    curve_table,
    evaluate,
    gaussian_levels,
    images_from_datamodule,
    model_method,
    write_grid,
    write_json,
    write_rows,
)
from restorelab.inference import load_denoiser, resolve_checkpoint

SIGMAS = (5, 10, 15, 25, 35, 50, 75)
TABLE_SIGMAS = (10, 25, 50)
BASELINES = ("noisy", "median", "tv", "nlm", "wavelet", "bm3d")


def _trained_sigma(config: Any) -> list[float]:
    sigma = OmegaConf.to_container(config.noise, resolve=True)["sigma"]
    return [float(s) for s in sigma] if isinstance(sigma, (list, tuple)) else [float(sigma)]


def plot_curve(path: Path, table: list[dict[str, Any]], models: dict[str, list[float]]) -> None:
    """PSNR against sigma: models solid, baselines dashed, the noisy input dotted; each model's
    training level (a line) or range (a band) in its own colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(7.2, 4.6))
    colours = iter(plt.rcParams["axes.prop_cycle"].by_key()["color"] * 2)
    for method in dict.fromkeys(row["method"] for row in table):
        points = sorted((row["sigma"], row["psnr"]) for row in table if row["method"] == method)
        colour = next(colours)
        style = ":" if method == "noisy" else "-" if method in models else "--"
        width = 2.0 if method in models else 1.2
        ax.plot(*zip(*points), style, color=colour, linewidth=width, marker="o", markersize=3,
                label=method)
        if method in models:
            low, high = min(models[method]), max(models[method])
            if low == high:
                ax.axvline(low, color="gray", linestyle=":", linewidth=1)
            else:
                ax.axvspan(low, high, color=colour, alpha=0.08)
    ax.set_xlabel("Gaussian noise sigma (0-255), unclipped")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title("Fashion-MNIST test images: PSNR against noise level\n"
                 "(dotted vertical: sigma 25 of the fixed-level models; band: the blind range)",
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def markdown_table(summary: dict[str, dict[str, dict[str, float]]], methods: list[str]) -> str:
    """Rows: methods; columns: PSNR / SSIM at each table sigma; best model or baseline in bold."""
    levels = [f"sigma{s}" for s in TABLE_SIGMAS]
    head = "| method | " + " | ".join(f"σ={s} PSNR | σ={s} SSIM" for s in TABLE_SIGMAS)
    head += " | s / image |\n|---|" + "---:|" * (2 * len(levels) + 1) + "\n"
    best = {
        (level, key): max(summary[level][m][key] for m in methods if m != "noisy")
        for level in levels for key in ("psnr", "ssim")
    }
    lines = []
    for method in methods:
        cells = []
        for level in levels:
            for key, fmt in (("psnr", "{:.2f}"), ("ssim", "{:.3f}")):
                value = summary[level][method][key]
                text = fmt.format(value)
                bold = method != "noisy" and fmt.format(value) == fmt.format(best[(level, key)])
                cells.append(f"**{text}**" if bold else text)
        seconds = np.mean([summary[level][method]["seconds_per_image"] for level in levels])
        lines.append(f"| `{method}` | " + " | ".join(cells) + f" | {seconds:.4f} |")
    return head + "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", required=True, metavar="NAME=RUN",
                        help="a model: its name and run folder (or .ckpt); repeat")
    parser.add_argument("--images", type=int, default=100, help="the first N test images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid", type=int, default=6, help="images per level in grid.png")
    parser.add_argument("--output", "-o", type=Path, required=True)
    args = parser.parse_args()

    torch.set_num_threads(1)
    runs = dict(item.split("=", 1) for item in args.run)
    denoisers = {name: load_denoiser(path, device="cpu", tile_size=None)
                 for name, path in runs.items()}
    first = next(iter(denoisers.values())).config
    data_config = OmegaConf.to_container(first.data, resolve=True)
    data_config["num_workers"] = 0
    images = images_from_datamodule(data_config, "test")[: args.images]

    chosen = select_baselines(BASELINES, GaussianNoise)
    methods = [baseline_method(chosen[0])]
    methods += [model_method(d, name) for name, d in denoisers.items()]
    methods += [baseline_method(b) for b in chosen[1:]]
    levels = gaussian_levels(SIGMAS, clip=False)

    start = time.perf_counter()
    result = evaluate(methods, images, levels, args.seed, keep_samples=args.grid, progress=True)
    seconds = time.perf_counter() - start
    summary = result.summary()
    table = curve_table(result, levels)
    names = [m.name for m in methods]

    out = args.output
    write_rows(out / "per_image.csv", result.rows)
    write_rows(out / "curve.csv", table)
    plot_curve(out / "curve.png", table, {n: _trained_sigma(d.config) for n, d in
                                          denoisers.items()})
    shown = EvaluationResult(samples={k: v for k, v in result.samples.items()
                                      if k in ("sigma25", "sigma50")})
    write_grid(out / "grid.png", shown, names)
    (out / "table.md").write_text(markdown_table(summary, names))
    write_json(out / "summary.json", {
        "images": {"source": f"{data_config['_target_']} (test split), the first "
                   f"{len(images)} images", "count": len(images), "color": "gray",
                   "size": list(images[0].clean.shape)},
        "models": {name: {"checkpoint": str(resolve_checkpoint(runs[name])),
                          "model": OmegaConf.to_container(d.config.model, resolve=True)["_target_"],
                          "trained_sigma": _trained_sigma(d.config)}
                   for name, d in denoisers.items()},
        "corruption": {"kind": "GaussianNoise", "sigmas": list(SIGMAS), "clip": False},
        "protocol": {"metrics": "PSNR and SSIM (torchmetrics), data_range=1, per image on the "
                     "output clamped to [0, 1], averaged over images", "border_crop": 0,
                     "noise_seed": f"image i uses a torch.Generator seeded with {args.seed} + i",
                     "baseline_sigma": "true sigma of the Gaussian noise", "threads": 1},
        "seconds": seconds,
        "results": summary,
    })
    print(markdown_table(summary, names))
    print(f"{len(images)} images x {len(levels)} levels x {len(methods)} methods in "
          f"{seconds:.0f} s; written to {out}")


if __name__ == "__main__":
    main()
