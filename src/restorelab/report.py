"""A study's report from its run folders: `python -m restorelab.report <multirun folder>`.

Reads each job's `metrics.json`, `.hydra/overrides.yaml`, `csv/metrics.csv` and
`images/test_samples.npz`, and writes beside them:

- `results.csv` and `results.md`: one row per run, the overrides that tell the runs apart, test
  PSNR/SSIM next to the noisy input's, parameters, seconds per step, best checkpoint;
- `comparison.png`: one row per test image: noisy input, each run's output, ground truth, each
  labelled with its PSNR (the seeded test noise makes the inputs identical across runs);
- `curves.png`: validation PSNR and training loss of every run on shared axes.

Jobs without `metrics.json` (interrupted or still running) are listed as missing, so a partial
study still reports.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure  # no pyplot: files only, no display backend needed
from omegaconf import OmegaConf

COLUMNS = (
    ("test/psnr", "test PSNR", "{:.2f}"),
    ("test/ssim", "test SSIM", "{:.4f}"),
    ("test/psnr_noisy", "noisy PSNR", "{:.2f}"),
    ("test/ssim_noisy", "noisy SSIM", "{:.4f}"),
    ("num_parameters", "parameters", "{:,}"),
    ("receptive_field", "receptive field", "{}"),
    ("seconds_per_step", "s / step", "{:.3f}"),
    ("global_step", "steps", "{}"),
)
NUM_COMPARISON_IMAGES = 4


@dataclass
class Study:
    """The runs of one study folder: finished ones with their metrics, and the missing ones."""

    root: Path
    runs: list[dict[str, Any]] = field(default_factory=list)
    missing: list[Path] = field(default_factory=list)

    @property
    def varying(self) -> list[str]:
        """Override keys whose value differs between runs: the study's variables."""
        keys: dict[str, set[str]] = {}
        for run in self.runs:
            for key, value in run["overrides"].items():
                keys.setdefault(key, set()).add(value)
        return [k for k, values in keys.items() if len(values) > 1 or len(self.runs) == 1]


def _overrides(job_dir: Path) -> dict[str, str]:
    path = job_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return {}
    pairs = (str(item).split("=", 1) for item in OmegaConf.load(path))
    return {key.lstrip("+~"): value for key, value in pairs if not key.startswith("hydra.")}


def collect(root: Path) -> Study:
    """Every job folder under `root` (a multirun folder, or any folder of run folders)."""
    study = Study(root=root)
    job_dirs = sorted(
        {p.parent.parent for p in root.rglob(".hydra/config.yaml")},
        key=lambda p: (len(p.parts), int(p.name) if p.name.isdigit() else 0, str(p)),
    )
    for job_dir in job_dirs:
        metrics_path = job_dir / "metrics.json"
        if not metrics_path.is_file():
            study.missing.append(job_dir)
            continue
        metrics = json.loads(metrics_path.read_text())
        study.runs.append(
            {"job": str(job_dir.relative_to(root)), "overrides": _overrides(job_dir), **metrics}
        )
    return study


def _cell(value: Any, fmt: str) -> str:
    if value is None or value == "":
        return "-"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def write_tables(study: Study) -> tuple[Path, Path]:
    """Writes `results.csv` and `results.md` in the study folder and returns their paths."""
    varying = study.varying
    csv_path, md_path = study.root / "results.csv", study.root / "results.md"
    fields = ["job", *varying, *(key for key, _, _ in COLUMNS), "status", "best_checkpoint"]
    with open(csv_path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for run in study.runs:
            writer.writerow({**run, **{k: run["overrides"].get(k, "") for k in varying}})

    header = ["job", *varying, *(title for _, title, _ in COLUMNS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run in study.runs:
        cells = [run["job"], *(run["overrides"].get(k, "") for k in varying)]
        cells += [_cell(run.get(key), fmt) for key, _, fmt in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    for job_dir in study.missing:
        lines.append(f"\nmissing (no metrics.json): `{job_dir.relative_to(study.root)}`")
    md_path.write_text("\n".join(lines) + "\n")
    return csv_path, md_path


def run_label(study: Study, run: dict[str, Any], separator: str = " ") -> str:
    """The values that set this run apart, short: `kernel_size=5 depth=2 skip=none`."""
    parts = [f"{key.rsplit('.', 1)[-1]}={run['overrides'].get(key, '')}" for key in study.varying]
    return separator.join(parts) or run["job"]


def psnr(restored: np.ndarray, clean: np.ndarray) -> float:
    """PSNR in dB of `restored` (clipped to [0, 1]) against `clean`, both float arrays in [0, 1]."""
    mse = float(np.mean((np.clip(restored, 0, 1) - clean) ** 2))
    return float("inf") if mse == 0 else -10.0 * math.log10(mse)


def _show(axis: Any, image: np.ndarray, title: str) -> None:
    image = np.clip(image, 0, 1)
    if image.shape[0] in (1, 3):
        image = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
    else:  # multispectral: first channel
        image = image[0]
    axis.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
    axis.set_title(title, fontsize=7)
    axis.set_xticks([])
    axis.set_yticks([])


def comparison_figure(study: Study, path: Path) -> Path | None:
    """noisy | each run | ground truth for the first test images; None without test samples."""
    samples = []
    for run in study.runs:
        file = study.root / run["job"] / "images" / "test_samples.npz"
        if file.is_file():
            samples.append((run, np.load(file)))
    if not samples:
        return None
    reference = samples[0][1]
    rows = min(NUM_COMPARISON_IMAGES, *(len(data["restored"]) for _, data in samples))
    columns = len(samples) + 2
    label_lines = max(1, len(study.varying)) + 1
    figure = Figure(figsize=(1.6 * columns, (1.5 + 0.12 * label_lines) * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    for i in range(rows):
        clean = reference["clean"][i]
        noisy = reference["noisy"][i]
        _show(axes[i, 0], noisy, f"noisy\n{psnr(noisy, clean):.2f} dB")
        for j, (run, data) in enumerate(samples, start=1):
            restored = data["restored"][i]
            label = run_label(study, run, separator="\n")
            _show(axes[i, j], restored, f"{label}\n{psnr(restored, clean):.2f} dB")
        _show(axes[i, -1], clean, "ground truth")
    figure.savefig(path, dpi=150)
    return path


def _history(job_dir: Path) -> dict[str, list[tuple[float, float]]]:
    """(step, value) pairs of val/psnr and train/loss from the job's CSV log."""
    history: dict[str, list[tuple[float, float]]] = {"val/psnr": [], "train/loss": []}
    for file in job_dir.glob("csv/**/metrics.csv"):
        with open(file, newline="") as handle:
            for row in csv.DictReader(handle):
                for key in history:
                    if row.get(key) not in (None, "") and row.get("step") not in (None, ""):
                        history[key].append((float(row["step"]), float(row[key])))
    return history


def curves_figure(study: Study, path: Path) -> Path:
    """Validation PSNR and training loss of every run against the step, on shared axes."""
    figure = Figure(figsize=(11, 4), layout="constrained")
    psnr_axis, loss_axis = figure.subplots(1, 2)
    for run in study.runs:
        history = _history(study.root / run["job"])
        label = run_label(study, run)
        for axis, key in ((psnr_axis, "val/psnr"), (loss_axis, "train/loss")):
            if history[key]:
                steps, values = zip(*sorted(history[key]))
                axis.plot(steps, values, label=label, marker="o" if key == "val/psnr" else None,
                          markersize=3, linewidth=1.2)
    psnr_axis.set(xlabel="step", ylabel="PSNR (dB)", title="validation PSNR")
    loss_axis.set(xlabel="step", ylabel="loss", title="training loss", yscale="log")
    if study.runs:
        noisy = study.runs[0].get("val/psnr_noisy")
        if isinstance(noisy, (int, float)):
            psnr_axis.axhline(noisy, color="gray", linestyle="--", linewidth=1, label="noisy input")
    for axis in (psnr_axis, loss_axis):
        axis.grid(alpha=0.3)
    psnr_axis.legend(fontsize=7, loc="lower right")
    figure.savefig(path, dpi=130)
    return path


def build_report(root: Path) -> Study:
    """Writes the four report files of a study folder; returns what was found."""
    study = collect(root)
    if not study.runs and not study.missing:
        raise SystemExit(f"no run folders (with .hydra/config.yaml) under {root}")
    write_tables(study)
    comparison = comparison_figure(study, root / "comparison.png")
    curves_figure(study, root / "curves.png")
    with open(root / "results.md", "a") as file:
        file.write("\n![validation PSNR and training loss](curves.png)\n")
        if comparison is not None:
            file.write("\n![noisy | each run | ground truth](comparison.png)\n")
    return study


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="a multirun folder (logs/<task>/multiruns/...)")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        raise SystemExit(f"{args.folder} is not a folder")
    study = build_report(args.folder)
    print((args.folder / "results.md").read_text())
    print(f"{len(study.runs)} runs reported, {len(study.missing)} missing -> {args.folder}")


if __name__ == "__main__":
    main()
