"""A study's results table: `results.csv` and `results.md` in the study folder, one row per
run (the overrides that tell the runs apart, test PSNR / SSIM next to the noisy input's,
parameters, seconds per step, best checkpoint), then the missing jobs with the reason."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from restorelab.atomic import write_text_atomic
from restorelab.study import Study

COLUMNS = (
    ("test/psnr", "test PSNR", "{:.2f}"),
    ("test/ssim", "test SSIM", "{:.4f}"),
    ("test/psnr_noisy", "noisy PSNR", "{:.2f}"),
    ("test/ssim_noisy", "noisy SSIM", "{:.4f}"),
    ("num_parameters", "parameters", "{:,}"),
    ("receptive_field", "receptive field", "{}"),
    ("seconds_per_step", "s / step", "{:.3f}"),
    ("cpu_seconds_per_step", "CPU s / step", "{:.3f}"),
    ("global_step", "steps", "{}"),
)


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
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for run in study.runs:
        writer.writerow({**run, **{k: run["overrides"].get(k, "") for k in varying}})
    write_text_atomic(csv_path, buffer.getvalue())

    header = ["job", *varying, *(title for _, title, _ in COLUMNS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run in study.runs:
        cells = [run["job"], *(run["overrides"].get(k, "") for k in varying)]
        cells += [_cell(run.get(key), fmt) for key, _, fmt in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    for job_dir in study.missing:
        planned = study.planned(job_dir)
        values = " ".join(f"{k}={planned[k]}" for k in varying if k in planned)
        reason = study.reasons.get(job_dir, "no metrics.json")
        lines.append(
            f"\nmissing ({reason}): `{job_dir.relative_to(study.root)}`"
            + (f" {values}" if values else "")
        )
    write_text_atomic(md_path, "\n".join(lines) + "\n")
    return csv_path, md_path
