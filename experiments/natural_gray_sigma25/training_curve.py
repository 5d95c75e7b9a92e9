"""Validation PSNR at sigma=25 and learning rate through every training stage of both reference
denoisers.

    python experiments/natural_gray_sigma25/training_curve.py

Reads the stages' CSV logs copied beside each model (`stage1_metrics.csv`, `stage2_metrics.csv`,
...) of natural_gray_sigma25 and natural_gray_blind, lays the stages end to end on one axis of
optimizer steps, and writes `training.png` beside this file. Every stage runs 256 steps an
epoch: 16 crops of 64x64 a step, except the sigma-25 model's stage 2 (8 crops of 96x96).
"""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
# model folder -> (label, the column with the validation PSNR at sigma 25)
MODELS = {
    HERE: ("natural_gray_sigma25 (trained at sigma 25)", "val/psnr"),
    HERE.parent / "natural_gray_blind": ("natural_gray_blind (sigma in [0, 55])",
                                         "val/psnr_sigma25"),
}


def read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def stages(folder: Path) -> list[Path]:
    return sorted(folder.glob("stage*_metrics.csv"), key=lambda p: int(p.stem[5:].split("_")[0]))


def main() -> None:
    figure, (psnr_ax, lr_ax) = plt.subplots(1, 2, figsize=(11, 4),
                                            gridspec_kw={"width_ratios": [2, 1]})
    lows = []
    for index, (folder, (label, key)) in enumerate(MODELS.items()):
        color = f"C{index}"
        offset = 0  # optimizer steps before this stage
        for number, path in enumerate(stages(folder), start=1):
            rows = read(path)
            points = [(int(r["step"]) + 1 + offset, float(r[key]))
                      for r in rows if r.get(key) and r.get("epoch")]
            rates = [(int(r["step"]) + offset, float(r["lr-Adam"]))
                     for r in rows if r.get("lr-Adam")]
            psnr_ax.plot(*zip(*points), color=color, marker="o", markersize=2, linewidth=1.2,
                         label=label if number == 1 else None)
            lr_ax.plot(*zip(*rates), color=color, linewidth=1.2,
                       label=label.split(" ")[0] if number == 1 else None)
            if number > 1:
                psnr_ax.axvline(offset, color=color, linestyle=":", linewidth=0.8)
                psnr_ax.annotate(f"stage {number}", (offset, 1), xycoords=("data", "axes fraction"),
                                 xytext=(2, -10), textcoords="offset points", fontsize=7,
                                 color=color)
            # Early batch-norm spikes (down to 19 dB in stage 1) would flatten the rest.
            lows += [v for x, v in points[len(points) // 3:]]
            offset = points[-1][0]
    psnr_ax.set_ylim(min(lows) - 1.0, None)
    psnr_ax.set_xlabel("optimizer step, all stages")
    psnr_ax.set_ylabel("val PSNR at sigma 25 (dB)")
    psnr_ax.set_title("validation: coffee and immunohistochemistry, whole, gray "
                      "(early spikes cut off below)", fontsize=9)
    psnr_ax.grid(alpha=0.3)
    psnr_ax.legend(fontsize=8, loc="lower right")
    lr_ax.set_yscale("log")
    lr_ax.set_xlabel("optimizer step, all stages")
    lr_ax.set_ylabel("learning rate (Adam, cosine per stage)")
    lr_ax.grid(alpha=0.3)
    lr_ax.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(HERE / "training.png", dpi=110)
    print(f"wrote {HERE / 'training.png'}")


if __name__ == "__main__":
    main()
