"""A whole study in one command: the multirun of a `conf/sweep/` config, then its report.

    python sweep.py                                   # sweep=architecture (12 runs)
    python sweep.py sweep=skip_ablation data=lfw trainer=ddp trainer.devices=4 logger=wandb
    python sweep.py --report logs/sweep_architecture/multiruns/2026-11-22_10-00-00

`restorelab sweep ...` is the same command for an installed RestoreLab. Every argument but
`sweep=` passes through to `train.py -m` (`restorelab train -m`) unchanged. The study's jobs run
in a child process (so DDP ranks, W&B runs and CUDA state of one study never leak into the caller);
the report is then built from the multirun folder, also when some jobs failed, and lists them.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_module
from rich.console import Console

from restorelab.conf import CONF_DIR
from restorelab.report import build_report

DEFAULT_STUDY = "architecture"


def _sweep_dir(study: str, overrides: list[str]) -> str:
    """The multirun folder the study will write, resolved once so that child and report agree."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    # Swept values (`model.depth=2,3`) are for the multirun; the folder does not depend on them,
    # and a plain compose would refuse them.
    parser = OverridesParser.create()
    single = [o for o in overrides if not parser.parse_override(o).is_sweep_override()]
    with initialize_config_module(version_base="1.3", config_module="restorelab.conf"):
        cfg = compose(
            config_name="train",
            overrides=[f"sweep={study}", *single],
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


def main(train_command: Sequence[str], argv: list[str] | None = None) -> int:
    """Runs the study; `train_command` starts the training job (`python train.py`, or
    `python -m restorelab train`), to which `-m` and the overrides are appended."""
    argv = list(sys.argv[1:] if argv is None else argv)
    console = Console()
    if argv[:1] == ["--report"]:
        if len(argv) != 2:
            console.print("usage: python sweep.py --report <multirun folder>")
            return 2
        if not Path(argv[1]).is_dir():
            console.print(f"[red]sweep.py --report: {argv[1]} is not a folder[/red]")
            return 1
        study = build_report(Path(argv[1]))
        console.print(f"report rebuilt: {len(study.runs)} runs, {len(study.missing)} missing")
        return 0
    stop = _StudyStop()  # from here on, a Ctrl-C or SIGTERM is recorded, never lost
    try:
        return _study(train_command, argv, console, stop)
    finally:
        stop.restore()


def _study(
    train_command: Sequence[str], argv: list[str], console: Console, stop: _StudyStop
) -> int:
    """The multirun of the study, then its report; `stop` holds the signal that stopped it."""
    study_name = DEFAULT_STUDY
    overrides = []
    for arg in argv:
        if arg.startswith("sweep="):
            study_name = arg.split("=", 1)[1]
        else:
            overrides.append(arg)
    overrides = _with_csv_logger(overrides)
    if not any(o.startswith("hydra.sweep.dir=") for o in overrides):
        try:
            overrides.append(f"hydra.sweep.dir={_sweep_dir(study_name, overrides)}")
        except Exception as error:  # noqa: BLE001  Hydra's composition errors: one line
            from hydra.errors import HydraException
            from omegaconf.errors import OmegaConfBaseException

            if not isinstance(error, (HydraException, OmegaConfBaseException)):
                raise
            # Hydra appends its config search path to the message: the first sentence is enough.
            message = " ".join(str(error).split()).split(" Config search path")[0]
            studies = ", ".join(sorted(p.stem for p in (CONF_DIR / "sweep").glob("*.yaml")))
            print(f"sweep.py: {message} (studies: {studies})", file=sys.stderr)
            return 1
    sweep_dir = Path(next(o for o in overrides if o.startswith("hydra.sweep.dir=")).split("=", 1)[1])

    command = [*train_command, "-m", f"sweep={study_name}", *overrides]
    console.rule(f"study {study_name}")
    console.print(" ".join(command[1:]), style="dim")
    returncode = stop.run(command)
    stopped_by = stop.signal

    if stopped_by and not sweep_dir.is_dir():
        console.print(f"[red]the study was stopped by {stopped_by} before it started[/red]")
        return _SIGNAL_EXIT[stopped_by]
    if not sweep_dir.is_dir():
        console.print(f"[red]the study wrote no folder ({sweep_dir}); see the errors above[/red]")
        return returncode or 1
    study = build_report(sweep_dir)
    console.rule(f"study {study_name}: {len(study.runs)} runs, {len(study.missing)} missing")
    print((sweep_dir / "results.md").read_text().split("\n![")[0])  # plain: tables must not wrap
    console.print(f"report: [bold]{sweep_dir}[/bold] (results.md, results.csv, comparison.png, "
                  "curves.png)")
    if stopped_by:
        console.print(
            f"[red]the study was stopped by {stopped_by}: {len(study.runs)} of "
            f"{len(study.runs) + len(study.missing)} jobs finished.[/red] The missing ones are "
            "listed above; run them again with their overrides (`train.py ... ckpt_path=<job>/"
            "checkpoints/interrupted.ckpt` continues an interrupted one)"
        )
        return _SIGNAL_EXIT[stopped_by]
    if returncode:
        console.print(f"[red]the multirun exited with status {returncode}[/red]")
    return returncode or (1 if study.missing else 0)


_SIGNAL_EXIT = {"SIGINT": 130, "SIGTERM": 143}


class _StudyStop:
    """The first SIGINT or SIGTERM that reached the study, each one passed on to its multirun.

    A handler, not Python's KeyboardInterrupt, which is lost when it lands in a `__del__` or a
    garbage-collection callback. The multirun's job then stops after its current step, saves
    `interrupted.ckpt` and starts no other job (`restorelab.interrupts`); a Ctrl-C in a terminal
    reaches it twice (from the terminal and from here), which changes nothing.
    """

    def __init__(self) -> None:
        self.signal: str | None = None
        self.child: subprocess.Popen | None = None
        self._previous: dict[int, Any] = {
            signum: signal.signal(signum, self._handle)
            for signum in (signal.SIGINT, signal.SIGTERM)
        }

    def restore(self) -> None:
        """Puts back the handlers from before."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: object) -> None:
        # SIGTERM from a scheduler, or a SIGINT sent to this process alone, reach no one else.
        self.signal = self.signal or signal.Signals(signum).name
        if self.child is not None:
            self.child.send_signal(signum)  # nothing once it has ended

    def run(self, command: list[str]) -> int:
        """Runs the multirun to its end, its exit status; not at all after a signal."""
        if self.signal is not None:
            return _SIGNAL_EXIT[self.signal]
        self.child = subprocess.Popen(command)
        if self.signal is not None:  # came as it started
            self.child.send_signal(signal.Signals[self.signal])
        return self.child.wait()
