"""What a run prints: the composed config as a tree at the start, a results table at the end."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import rich
import rich.syntax
import rich.tree
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

# Printed first, in this order; the rest of the root keys follow.
_FIRST = ("data", "model", "noise", "loss", "optimizer", "scheduler", "trainer")


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
        save_to.parent.mkdir(parents=True, exist_ok=True)
        with open(save_to, "w") as file:
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
        table.add_row("gain", f"{gain_psnr:+.2f}", f"{gain_ssim:+.4f}", style="bold green")
    return table


@rank_zero_only
def print_results(metrics: Mapping[str, float], run_dir: Path, best_checkpoint: str | None) -> None:
    console = Console()
    if any(key.startswith("test/") for key in metrics):
        console.print(results_table(metrics))
    if best_checkpoint:
        console.print(f"best checkpoint: {best_checkpoint}")
    console.print(f"run folder: [bold]{run_dir}[/bold]")
