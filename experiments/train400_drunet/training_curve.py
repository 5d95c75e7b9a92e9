"""Validation PSNR at sigma 15, 25 and 50, and the learning rate, through every training stage of
the Train400 DRUNet.

    python experiments/train400_drunet/training_curve.py

Reads the stages' CSV logs copied beside the model (`stage1_metrics.csv`, `stage2_metrics.csv`,
...), lays the stages end to end on one axis of training crops seen (stage 1 takes 16 crops a
step, stage 2 32, stages 3 to 5 24), and writes `training.png` beside this file. Validation: the 20 Train400 images held
out of training (whole 180 x 180, gray), seeded noise.
"""

from __future__ import annotations

import csv
from pathlib import Path

from matplotlib.figure import Figure

from restorelab.atomic import atomic_path

HERE = Path(__file__).resolve().parent
LEVELS = {"val/psnr_sigma15": ("sigma 15", "-"), "val/psnr_sigma25": ("sigma 25", "--"),
          "val/psnr_sigma50": ("sigma 50", ":")}


# Crops per optimizer step of each stage (data.batch_size in run.sh).
STAGE_BATCH = {1: 16, 2: 32, 3: 24, 4: 24, 5: 24}


def _stages() -> list[tuple[Path, int]]:
    """(CSV log, crops per step) of each stage, in order."""
    paths = sorted(HERE.glob("stage*_metrics.csv"), key=lambda p: int(p.stem[5:].split("_")[0]))
    return [(path, STAGE_BATCH[int(path.stem[5:].split("_")[0])]) for path in paths]


def main() -> None:
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    psnr_ax, lr_ax = figure.subplots(1, 2, width_ratios=[2, 1])
    offset = 0.0  # thousands of crops seen before this stage
    for number, (path, batch) in enumerate(_stages(), start=1):
        rows = list(csv.DictReader(open(path, newline="")))
        for key, (label, style) in LEVELS.items():
            points = [((int(r["step"]) + 1) * batch / 1000 + offset, float(r[key]))
                      for r in rows if r.get(key)]
            psnr_ax.plot(*zip(*points), color=f"C{list(LEVELS).index(key)}", linestyle=style,
                         marker="o", markersize=2, linewidth=1.2,
                         label=label if number == 1 else None)
        rates = [((int(r["step"]) + 1) * batch / 1000 + offset, float(r["lr-Adam"]))
                 for r in rows if r.get("lr-Adam")]
        lr_ax.plot(*zip(*rates), color="C3", linewidth=1.2)
        end = max(int(r["step"]) + 1 for r in rows if r.get("step")) * batch / 1000 + offset
        if number > 1:
            for axis in (psnr_ax, lr_ax):
                axis.axvline(offset, color="gray", linestyle=":", linewidth=0.8)
            psnr_ax.annotate(f"stage {number}", (offset, 0.02), xycoords=("data", "axes fraction"),
                             xytext=(3, 0), textcoords="offset points", fontsize=8, color="gray")
        offset = end
    psnr_ax.set(xlabel="training crops seen (thousands), all stages", ylabel="PSNR (dB)",
                title="validation: 20 held-out Train400 images, whole, gray, seeded noise")
    psnr_ax.grid(alpha=0.3)
    psnr_ax.legend(fontsize=8, loc="lower right")
    lr_ax.set(xlabel="training crops seen (thousands)", ylabel="learning rate (Adam)",
              yscale="log", title="cosine decay per stage")
    lr_ax.grid(alpha=0.3)
    with atomic_path(HERE / "training.png") as tmp:
        figure.savefig(tmp, dpi=110)
    print(f"wrote {HERE / 'training.png'}")


if __name__ == "__main__":
    main()
