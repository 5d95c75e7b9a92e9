"""A whole study in one command: the multirun of a `conf/sweep/` config, then its report.

    python sweep.py                                   # sweep=architecture (12 runs)
    python sweep.py sweep=skip_ablation data=lfw trainer=ddp trainer.devices=4 logger=wandb
    python sweep.py --report logs/sweep_architecture/multiruns/2026-11-22_10-00-00

Every argument but `sweep=` passes through to `train.py -m` unchanged. The study's jobs run in a
child process (so DDP ranks, W&B runs and CUDA state of one study never leak into the caller);
the report is then built from the multirun folder, also when some jobs failed, and lists them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from rich.console import Console

from restorelab.report import build_report

DEFAULT_STUDY = "architecture"


def _sweep_dir(conf_dir: Path, study: str, overrides: list[str]) -> str:
    """The multirun folder the study will write, resolved once so that child and report agree."""
    with initialize_config_dir(version_base="1.3", config_dir=str(conf_dir)):
        cfg = compose(
            config_name="train",
            overrides=[f"sweep={study}", *overrides],
            return_hydra_config=True,
        )
    return str(Path(cfg.hydra.sweep.dir).resolve())


def _with_csv_logger(overrides: list[str]) -> list[str]:
    # The curves figure reads each job's CSV log: keep the CSV logger beside any other choice.
    out = []
    for override in overrides:
        if override.startswith("logger=") and "csv" not in override:
            choice = override.split("=", 1)[1].strip("[]")
            override = f"logger=[csv,{choice}]"
        out.append(override)
    return out


def main(train_script: Path, argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    console = Console()
    if argv[:1] == ["--report"]:
        if len(argv) != 2:
            console.print("usage: python sweep.py --report <multirun folder>")
            return 2
        study = build_report(Path(argv[1]))
        console.print(f"report rebuilt: {len(study.runs)} runs, {len(study.missing)} missing")
        return 0

    study_name = DEFAULT_STUDY
    overrides = []
    for arg in argv:
        if arg.startswith("sweep="):
            study_name = arg.split("=", 1)[1]
        else:
            overrides.append(arg)
    overrides = _with_csv_logger(overrides)
    conf_dir = train_script.parent / "conf"
    if not any(o.startswith("hydra.sweep.dir=") for o in overrides):
        overrides.append(f"hydra.sweep.dir={_sweep_dir(conf_dir, study_name, overrides)}")
    sweep_dir = Path(next(o for o in overrides if o.startswith("hydra.sweep.dir=")).split("=", 1)[1])

    command = [sys.executable, str(train_script), "-m", f"sweep={study_name}", *overrides]
    console.rule(f"study {study_name}")
    console.print(" ".join(command[1:]), style="dim")
    returncode = subprocess.call(command)

    if not sweep_dir.is_dir():
        console.print(f"[red]the study wrote no folder ({sweep_dir}); see the errors above[/red]")
        return returncode or 1
    study = build_report(sweep_dir)
    console.rule(f"study {study_name}: {len(study.runs)} runs, {len(study.missing)} missing")
    print((sweep_dir / "results.md").read_text().split("\n![")[0])  # plain: tables must not wrap
    console.print(f"report: [bold]{sweep_dir}[/bold] (results.md, results.csv, comparison.png, "
                  "curves.png)")
    if returncode:
        console.print(f"[red]the multirun exited with status {returncode}[/red]")
    return returncode or (1 if study.missing else 0)
