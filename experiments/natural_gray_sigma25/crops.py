"""Close-ups for the model cards: 128x128 crops of held-out photographs, denoised by a shipped
model (plain and x8 self-ensemble) beside BM3D and the clean crop, each labelled with its PSNR.

    python experiments/natural_gray_sigma25/crops.py experiments/natural_gray_sigma25/model.safetensors \
        --images data/heldout_gray --sigmas 25 -o experiments/natural_gray_sigma25/crops.png

Whole photographs are too large to show details at page width (see eval/grid.png for them).
Every method sees the same noise (numpy seed 0 per crop, unclipped) and BM3D gets the true
sigma. The PSNRs are of the crops only, so they differ from the whole-image tables.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image

from restorelab.baselines import BASELINES
from restorelab.inference import load_denoiser
from restorelab.report import psnr

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# (file, top, left): a face and fabric, lunar craters, the galaxy field.
CROPS = (("grace_hopper.png", 90, 190), ("moon.png", 20, 60), ("hubble_deep_field.png", 400, 450))
SIZE = 128


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", help="a .safetensors export, .ckpt or run folder")
    parser.add_argument("--images", type=Path, required=True, help="the held-out gray PNGs")
    parser.add_argument("--sigmas", nargs="+", type=float, default=[25])
    parser.add_argument("--output", "-o", type=Path, required=True)
    args = parser.parse_args()

    plain = load_denoiser(args.weights, device="cpu", tile_size=None)
    x8 = load_denoiser(args.weights, device="cpu", tile_size=None, ensemble=True)
    rows = [(name, top, left, sigma) for sigma in args.sigmas for name, top, left in CROPS]
    columns = ("noisy", "model", "model x8", "BM3D", "clean")
    figure, axes = plt.subplots(len(rows), len(columns),
                                figsize=(2.1 * len(columns), 2.25 * len(rows)), squeeze=False)
    for row, (name, top, left, sigma) in zip(axes, rows):
        image = np.asarray(Image.open(args.images / name).convert("L"), dtype=np.float32) / 255
        clean = image[top:top + SIZE, left:left + SIZE]
        noise = np.random.default_rng(0).normal(0, sigma / 255, clean.shape)
        noisy = (clean + noise).astype(np.float32)
        outputs = {
            "noisy": noisy,
            "model": plain.denoise(noisy),
            "model x8": x8.denoise(noisy),
            "BM3D": BASELINES["bm3d"](noisy[..., None], sigma / 255)[..., 0],
            "clean": clean,
        }
        for ax, column in zip(row, columns):
            ax.imshow(np.clip(outputs[column], 0, 1), cmap="gray", vmin=0, vmax=1,
                      interpolation="nearest")
            label = column if column == "clean" else f"{column}\n{psnr(outputs[column], clean):.2f} dB"
            ax.set_title(label, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(f"{Path(name).stem}\nsigma {sigma:g}", fontsize=8)
    figure.tight_layout()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.output, dpi=100)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
