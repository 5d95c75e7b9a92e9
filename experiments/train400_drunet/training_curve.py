"""Validation PSNR and the learning rate through every training stage of a Train400 DRUNet: the
noise-conditional one (at sigma 15, 25 and 50) or its sigma=25 fine-tune (at sigma 25).

    python experiments/train400_drunet/training_curve.py                          # conditional
    python experiments/train400_drunet/training_curve.py train400_drunet_sigma25  # sigma=25

Reads the stages' CSV logs copied beside the model (`stage1_metrics.csv`, `stage2_metrics.csv`,
...), lays the stages end to end on one axis of training crops seen (crops per step from
`STAGE_BATCH`, the data.batch_size of each stage in the model's run.sh), and writes
`training.png` beside them. Validation: the 20 Train400 images held out of training (whole
180 x 180, gray), seeded noise.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from matplotlib.figure import Figure

from restorelab.atomic import atomic_path

EXPERIMENTS = Path(__file__).resolve().parents[1]
# The conditional net logs one PSNR per fixed level; the sigma=25 net's val/psnr is at sigma 25.
LEVELS = {"val/psnr_sigma15": ("sigma 15", "-", "C0"), "val/psnr_sigma25": ("sigma 25", "--", "C1"),
          "val/psnr_sigma50": ("sigma 50", ":", "C2")}
FIXED = {"val/psnr": ("sigma 25", "--", "C1")}

# Crops per optimizer step of each stage (data.batch_size in each model's run.sh).
STAGE_BATCH = {
    "train400_drunet": {1: 16, 2: 32, 3: 24, 4: 24, 5: 24, 6: 24, 7: 12, 8: 7, 9: 7, 10: 5, 11: 4, 12: 4},
    "train400_drunet_sigma25": {1: 24},
}


def _stages(folder: Path) -> list[tuple[Path, int]]:
    """(CSV log, crops per step) of each stage, in order."""
    batch = STAGE_BATCH[folder.name]
    paths = sorted(folder.glob("stage*_metrics.csv"), key=lambda p: int(p.stem[5:].split("_")[0]))
    numbers = [int(path.stem[5:].split("_")[0]) for path in paths]
    missing = [n for n in numbers if n not in batch]
    if missing:
        sys.exit(f"no batch size for stage {missing[0]} of {folder.name}: add it to STAGE_BATCH "
                 f"in {Path(__file__).name} (data.batch_size of that stage in run.sh)")
    return [(path, batch[number]) for path, number in zip(paths, numbers)]


def main(name: str = "train400_drunet") -> None:
    folder = EXPERIMENTS / name
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    psnr_ax, lr_ax = figure.subplots(1, 2, width_ratios=[2, 1])
    offset = 0.0  # thousands of crops seen before this stage
    for number, (path, batch) in enumerate(_stages(folder), start=1):
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        levels = LEVELS if any(r.get("val/psnr_sigma25") for r in rows) else FIXED
        for key, (label, style, color) in levels.items():
            points = [((int(r["step"]) + 1) * batch / 1000 + offset, float(r[key]))
                      for r in rows if r.get(key)]
            psnr_ax.plot(*zip(*points), color=color, linestyle=style, marker="o", markersize=2,
                         linewidth=1.2, label=label if number == 1 else None)
        rates = [((int(r["step"]) + 1) * batch / 1000 + offset, float(r["lr-Adam"]))
                 for r in rows if r.get("lr-Adam")]
        lr_ax.plot(*zip(*rates), color="C3", linewidth=1.2)
        end = max(int(r["step"]) + 1 for r in rows if r.get("step")) * batch / 1000 + offset
        if number > 1:
            for axis in (psnr_ax, lr_ax):
                axis.axvline(offset, color="gray", linestyle=":", linewidth=0.8)
            height = 0.02 + 0.05 * (number % 2)  # alternate, so close stages' labels part
            psnr_ax.annotate(f"stage {number}", (offset, height),
                             xycoords=("data", "axes fraction"), xytext=(3, 0),
                             textcoords="offset points", fontsize=8, color="gray")
        offset = end
    psnr_ax.set(xlabel="training crops seen (thousands), all stages", ylabel="PSNR (dB)",
                title="validation: 20 held-out Train400 images, whole, gray, seeded noise")
    psnr_ax.grid(alpha=0.3)
    psnr_ax.legend(fontsize=8, loc="lower right", bbox_to_anchor=(1.0, 0.16))  # below the curves
    lr_ax.set(xlabel="training crops seen (thousands)", ylabel="learning rate (Adam)",
              yscale="log", title="cosine decay per stage")
    lr_ax.grid(alpha=0.3)
    with atomic_path(folder / "training.png") as tmp:
        figure.savefig(tmp, dpi=110)
    print(f"wrote {folder / 'training.png'}")


if __name__ == "__main__":
    if sys.argv[1:] and sys.argv[1] not in STAGE_BATCH:
        sys.exit(f"unknown model {sys.argv[1]!r}: pass one of {', '.join(STAGE_BATCH)}")
    main(*sys.argv[1:2])
