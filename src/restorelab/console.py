"""What a run prints: the composed config as a tree at the start, a results table at the end,
and nothing from the libraries that says nothing about the run."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import rich
import rich.syntax
import rich.tree
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from restorelab.atomic import atomic_path

# Printed first, in this order; the rest of the root keys follow.
_FIRST = ("data", "model", "noise", "loss", "optimizer", "scheduler", "trainer")

# Lightning logs its tips through these loggers (`rank_zero_info`); `pytorch_lightning` is the
# same code under the standalone package's name.
_LIGHTNING_INFO_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "pytorch_lightning.utilities.rank_zero",
)


class _LitLoggerTip(logging.Filter):
    """Drops Lightning's "Tip: ... try installing litlogger" line, and nothing else."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("Tip:" in message and "litlogger" in message)


def quiet_third_party() -> None:
    """Silences the lines Lightning prints on every run that say nothing about the run: the tip
    advertising litlogger, the FutureWarning torch raises when Lightning's own pytree code builds
    a `LeafSpec` and, outside a Slurm job, the warning that `srun` is installed but not used.
    Every other message and warning still shows. Idempotent."""
    warnings.filterwarnings(
        "ignore",
        message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
        category=FutureWarning,
    )
    if "SLURM_JOB_ID" not in os.environ:
        # Every Trainer on a machine with Slurm installed says so; inside a Slurm job the hint
        # to launch with `srun` may be right, and stays.
        warnings.filterwarnings(
            "ignore",
            message="The `srun` command is available on your system but is not used",
            category=UserWarning,  # Lightning's PossibleUserWarning
        )
    for name in _LIGHTNING_INFO_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, _LitLoggerTip) for existing in logger.filters):
            logger.addFilter(_LitLoggerTip())


@rank_zero_only
def print_config_tree(cfg: DictConfig, save_to: Path | None = None) -> None:
    """Prints the resolved config, one branch per group, and saves the same text to `save_to`."""
    tree = rich.tree.Tree("config", style="dim", guide_style="dim")
    keys = [k for k in _FIRST if k in cfg] + [k for k in cfg if k not in _FIRST]
    for key in keys:
        branch = tree.add(str(key), style="bold", guide_style="dim")
        value = cfg[key]
        if isinstance(value, DictConfig):
            text = OmegaConf.to_yaml(value, resolve=True)
        else:
            text = str(value)
        branch.add(rich.syntax.Syntax(text, "yaml", theme="ansi_dark", background_color="default"))
    rich.print(tree)
    if save_to is not None:
        with atomic_path(save_to) as tmp, open(tmp, "w") as file:
            rich.print(tree, file=file)


def results_table(metrics: Mapping[str, float], stage: str = "test") -> Table:
    """PSNR / SSIM of the model beside the noisy input's, and the gain."""
    table = Table(title=f"{stage} results", title_justify="left")
    table.add_column("")
    table.add_column("PSNR (dB)", justify="right")
    table.add_column("SSIM", justify="right")

    def cell(key: str, digits: int) -> str:
        value = metrics.get(f"{stage}/{key}")
        return "-" if value is None else f"{value:.{digits}f}"

    table.add_row("restored", cell("psnr", 2), cell("ssim", 4))
    table.add_row("noisy input", cell("psnr_noisy", 2), cell("ssim_noisy", 4))
    if f"{stage}/psnr" in metrics and f"{stage}/psnr_noisy" in metrics:
        gain_psnr = metrics[f"{stage}/psnr"] - metrics[f"{stage}/psnr_noisy"]
        gain_ssim = metrics.get(f"{stage}/ssim", 0.0) - metrics.get(f"{stage}/ssim_noisy", 0.0)
        style = "bold green" if gain_psnr >= 0 else "bold red"
        table.add_row("gain", f"{gain_psnr:+.2f}", f"{gain_ssim:+.4f}", style=style)
    return table


def negative_gain_note(metrics: Mapping[str, float], stage: str = "test") -> str | None:
    """One line for a run whose restored images score below the noisy input: what it means and
    what to try; None when the gain is positive (or unknown)."""
    restored, noisy = metrics.get(f"{stage}/psnr"), metrics.get(f"{stage}/psnr_noisy")
    if restored is None or noisy is None or restored >= noisy:
        return None
    steps = metrics.get("global_step")
    after = f" after {steps} steps" if steps is not None else ""
    return (
        f"A negative gain means the restored images are further from the clean ones than the "
        f"noisy input is: the net has not learned to denoise yet{after}. Try more steps "
        "(trainer.max_epochs=...), a residual net (model.residual=true model.output=identity, "
        "or model=dncnn), or check the learning rate (optimizer.lr)."
    )


@rank_zero_only
def print_results(metrics: Mapping[str, float], run_dir: Path, best_checkpoint: str | None) -> None:
    """The test results table (with a note when the gain is negative), the best checkpoint and
    the run folder."""
    console = Console()
    if any(key.startswith("test/") for key in metrics):
        console.print(results_table(metrics))
        note = negative_gain_note(metrics)
        if note:
            console.print(note, style="yellow", highlight=False)
    if best_checkpoint:
        console.print(f"best checkpoint: {best_checkpoint}")
    console.print(f"run folder: [bold]{run_dir}[/bold]")
