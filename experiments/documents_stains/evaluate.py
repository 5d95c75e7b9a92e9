"""The documents study's models scored per test tile with PSNR, SSIM and RMSE (Kaggle's metric),
on the same seeded stains, with RestoreLab's evaluation harness (`restorelab.evaluate`); and the
whole test band of each page restored by every model, as one figure.

    python experiments/documents_stains/evaluate.py \\
        --run bce=<multirun>/0 --run mse=<multirun>/1 --run ssim=<multirun>/2 \\
        --run unet_bce=<unet multirun>/0 -o experiments/documents_stains

Images: the test split of the first run's data config (the 48x48 tiles of the bottom band of
`page` and `text`, gray). Tile i gets stains from a generator seeded with `seed + i`, at the
training distribution (`stains`) and at the two fixed darkness levels validation also uses.
RMSE per tile is 10^(-PSNR/20): PSNR = 20 log10(1 / RMSE) with data_range 1, on the output
clamped to [0, 1], so it is exact per tile (not derived from the mean PSNR), then averaged.
Writes per_image.csv, table.md, summary.json and bands.png.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import OmegaConf

from restorelab.evaluate import (
    EvalImage,
    Level,
    Method,
    corrupt,
    corruption_levels,
    evaluate,
    model_method,
    score,
    write_json,
    write_rows,
)
from restorelab.data.patches import Tiles, to_float
from restorelab.inference import load_denoiser, resolve_checkpoint


def rmse(psnr: float) -> float:
    """The RMSE of an image in [0, 1] whose PSNR (data_range 1) is `psnr` dB."""
    return 10.0 ** (-psnr / 20.0)


def markdown_table(rows: list[dict[str, Any]], level: str, methods: list[str]) -> str:
    """Mean PSNR / SSIM / RMSE over the tiles of one level, one row per method."""
    head = "| method | PSNR (dB) | SSIM | RMSE | tiles |\n|---|---:|---:|---:|---:|\n"
    lines = []
    for method in methods:
        picked = [r for r in rows if r["level"] == level and r["method"] == method]
        lines.append(
            f"| `{method}` | {np.mean([r['psnr'] for r in picked]):.2f} | "
            f"{np.mean([r['ssim'] for r in picked]):.3f} | "
            f"{np.mean([r['rmse'] for r in picked]):.4f} | {len(picked)} |"
        )
    return f"**{level}**\n\n" + head + "\n".join(lines) + "\n"


def band_figure(path: Path, bands: list[EvalImage], noise: Level, methods: list[Any],
                seed: int) -> None:
    """Each page's whole test band: stained | each method | clean, one under the other."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = 2 + len(methods)
    figure, axes = plt.subplots(rows, len(bands), squeeze=False,
                                figsize=(4.6 * len(bands), 0.95 * rows + 0.4))
    for c, band in enumerate(bands):
        stained = corrupt(band, c, noise, seed).clamp(0, 1)
        panels = [("stained input", stained)]
        panels += [(m.name, m.restore(stained, None).float().clamp(0, 1)) for m in methods]
        panels.append(("clean", band.clean))
        for r, (name, image) in enumerate(panels):
            ax = axes[r][c]
            ax.imshow(image[0].numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            title = name
            if name != "clean":
                psnr, ssim = score(image, band.clean)
                title += f": {psnr:.2f} dB, SSIM {ssim:.3f}, RMSE {rmse(psnr):.4f}"
            ax.set_title(f"{band.name} | {title}", fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=130)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", required=True, metavar="NAME=RUN",
                        help="a model: its name and run folder (or .ckpt); repeat")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", "-o", type=Path, required=True)
    args = parser.parse_args()

    torch.set_num_threads(1)
    runs = dict(item.split("=", 1) for item in args.run)
    denoisers = {name: load_denoiser(path, device="cpu", tile_size=None)
                 for name, path in runs.items()}
    first = next(iter(denoisers.values())).config
    data_config = OmegaConf.to_container(first.data, resolve=True)
    noise_config = OmegaConf.to_container(first.noise, resolve=True)
    for name, denoiser in denoisers.items():
        if OmegaConf.to_container(denoiser.config.noise, resolve=True) != noise_config:
            raise SystemExit(f"run {name} was trained on other noise than the first run")
    # The test split's tiles (as `Tiles` cuts them), named by page and position.
    datamodule = hydra.utils.instantiate(data_config)
    tiles = [
        EvalImage(f"{page}:{k}", to_float(view))
        for page in data_config["pages"]
        for k, view in enumerate(Tiles([datamodule.band(page, "test")],
                                       data_config["eval_rows"]).views)
    ]

    training = Level("stains", hydra.utils.instantiate(noise_config))
    levels = [training, *corruption_levels(noise_config)]
    methods = [model_method(d, name) for name, d in denoisers.items()]
    noisy = [Method("noisy", lambda x, sigma: x)]

    start = time.perf_counter()
    result = evaluate(noisy + methods, tiles, levels, args.seed)
    seconds = time.perf_counter() - start
    for row in result.rows:
        row["rmse"] = rmse(row["psnr"])
    method_names = ["noisy", *denoisers]

    out = args.output
    write_rows(out / "per_image.csv", result.rows)
    tables = "\n".join(markdown_table(result.rows, level.name, method_names) for level in levels)
    (out / "table.md").write_text(tables)
    bands = [EvalImage(f"{page} test band", datamodule.band(page, "test").float() / 255.0)
             for page in data_config["pages"]]
    band_figure(out / "bands.png", bands, training, methods, args.seed)
    summary = {
        level.name: {
            method: {key: float(np.mean([r[key] for r in result.rows
                                         if r["level"] == level.name and r["method"] == method]))
                     for key in ("psnr", "ssim", "rmse")}
            for method in method_names
        }
        for level in levels
    }
    write_json(out / "summary.json", {
        "images": {"source": f"{data_config['_target_']} (test split: 48x48 tiles of the bottom "
                   "band of each page)", "count": len(tiles), "color": "gray"},
        "models": {name: {"checkpoint": str(resolve_checkpoint(runs[name])),
                          "model": OmegaConf.to_container(d.config.model,
                                                          resolve=True)["_target_"],
                          "loss": OmegaConf.to_container(d.config.loss, resolve=True)["_target_"]}
                   for name, d in denoisers.items()},
        "corruption": noise_config,
        "protocol": {"metrics": "PSNR, SSIM (torchmetrics, data_range=1) per tile on the output "
                     "clamped to [0, 1]; RMSE = 10^(-PSNR/20) per tile; means over tiles",
                     "noise_seed": f"tile i uses a torch.Generator seeded with {args.seed} + i",
                     "threads": 1},
        "seconds": seconds,
        "results": summary,
    })
    print(tables)
    print(f"{len(tiles)} tiles x {len(levels)} levels x {len(methods)} models in {seconds:.0f} s; "
          f"written to {out}")


if __name__ == "__main__":
    main()
