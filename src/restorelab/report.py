"""A study's table from its run folders: `python -m restorelab.report <multirun folder>`.

Reads each job's `metrics.json` and `.hydra/overrides.yaml` and writes `results.csv` and
`results.md` beside them: one row per run, the overrides that tell the runs apart, test PSNR/SSIM
next to the noisy input's, parameters and seconds per step. Jobs without `metrics.json`
(interrupted or still running) are listed as missing, so a partial study still reports.
"""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="a multirun folder (logs/<task>/multiruns/...)")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        raise SystemExit(f"{args.folder} is not a folder")
    study = collect(args.folder)
    if not study.runs and not study.missing:
        raise SystemExit(f"no run folders (with .hydra/config.yaml) under {args.folder}")
    _, md_path = write_tables(study)
    print(md_path.read_text())
    print(f"{len(study.runs)} runs reported, {len(study.missing)} missing -> {md_path}")


if __name__ == "__main__":
    main()
