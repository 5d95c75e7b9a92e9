"""The documents study's figure: each page's whole test band, stained, restored by every model,
and clean, one under the other, each panel with its PSNR, SSIM and RMSE (Kaggle's metric). The
tables come from `restorelab eval --config experiments/documents_stains/eval.yaml`.

    python experiments/documents_stains/bands.py \
        --run conv_ae_bce=<loss multirun>/0 --run conv_ae_mse=<loss multirun>/1 \
        --run conv_ae_ssim=<loss multirun>/2 --run unet_mse=<unet multirun>/0 \
        -o experiments/documents_stains/bands.png

The stains are the first run's noise as trained, drawn for band c from a generator seeded with
`seed + c`, the same for every model.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import OmegaConf

from restorelab.evaluate import EvalImage, Level, corrupt, model_method, score
from restorelab.inference import load_denoiser


def rmse(psnr: float) -> float:
    """The RMSE of an image in [0, 1] whose PSNR (data_range 1) is `psnr` dB."""
    return 10.0 ** (-psnr / 20.0)


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
    from restorelab.atomic import atomic_path

    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=130)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", required=True, metavar="NAME=RUN",
                        help="a model: its name and run folder (or .ckpt); repeat")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", "-o", type=Path, required=True, help="the PNG to write")
    args = parser.parse_args()

    torch.set_num_threads(1)
    runs = dict(item.split("=", 1) for item in args.run)
    denoisers = {name: load_denoiser(path, device="cpu", tile_size=None)
                 for name, path in runs.items()}
    first = next(iter(denoisers.values())).config
    data_config = OmegaConf.to_container(first.data, resolve=True)
    noise = Level("stains", hydra.utils.instantiate(OmegaConf.to_container(first.noise,
                                                                           resolve=True)))
    datamodule = hydra.utils.instantiate(data_config)
    bands = [EvalImage(f"{page} test band", datamodule.band(page, "test").float() / 255.0)
             for page in data_config["pages"]]
    methods = [model_method(d, name) for name, d in denoisers.items()]
    band_figure(args.output, bands, noise, methods, args.seed)
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
