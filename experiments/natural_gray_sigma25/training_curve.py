"""Validation PSNR at sigma=25 and learning rate against epoch for both reference denoisers.

    python experiments/natural_gray_sigma25/training_curve.py

Reads `training_metrics.csv` (the runs' CSV logs, copied here) of natural_gray_sigma25 and
natural_gray_blind and writes `training.png` beside this file.
"""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
RUNS = {
    "natural_gray_sigma25 (trained at sigma 25)": (HERE / "training_metrics.csv", "val/psnr"),
    "natural_gray_blind (trained on sigma in [0, 55])":
        (HERE.parent / "natural_gray_blind" / "training_metrics.csv", "val/psnr_sigma25"),
}


def column(path: Path, key: str) -> list[tuple[int, float]]:
    with open(path, newline="") as file:
        return [(int(row["epoch"]), float(row[key])) for row in csv.DictReader(file)
                if row.get(key) and row.get("epoch")]


def learning_rate(path: Path) -> list[tuple[int, float]]:
    with open(path, newline="") as file:
        return [(int(row["step"]), float(row["lr-Adam"])) for row in csv.DictReader(file)
                if row.get("lr-Adam")]


def main() -> None:
    figure, (psnr_ax, lr_ax) = plt.subplots(1, 2, figsize=(10, 3.8),
                                            gridspec_kw={"width_ratios": [2, 1]})
    for label, (path, key) in RUNS.items():
        points = column(path, key)
        psnr_ax.plot(*zip(*points), marker="o", markersize=2, linewidth=1.2, label=label)
    psnr_ax.set_xlabel("epoch (256 steps of 16 crops of 64x64)")
    psnr_ax.set_ylabel("val PSNR at sigma 25 (dB)")
    psnr_ax.set_title("validation: coffee and immunohistochemistry, whole, gray "
                      "(early spikes cut off below)", fontsize=9)
    # Early batch-norm spikes (down to 19 dB at epoch 13) would flatten the rest: they leave the
    # axis at the bottom.
    low = min(v for path, key in RUNS.values() for e, v in column(path, key) if e >= 20)
    psnr_ax.set_ylim(low - 1.5, None)
    psnr_ax.grid(alpha=0.3)
    psnr_ax.legend(fontsize=8)
    steps, rates = zip(*learning_rate(RUNS[next(iter(RUNS))][0]))
    lr_ax.plot(steps, rates)
    lr_ax.set_yscale("log")
    lr_ax.set_xlabel("step")
    lr_ax.set_ylabel("learning rate (Adam, cosine)")
    lr_ax.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(HERE / "training.png", dpi=110)
    print(f"wrote {HERE / 'training.png'}")


if __name__ == "__main__":
    main()
