"""The reports of an evaluation: per-image CSV, JSON summary, image grid, noise-level curve and
the rich table printed at the end."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import Tensor

from restorelab.atomic import atomic_path, write_text_atomic
from restorelab.evaluation.harness import (
    DEFAULT_CURVE_SIGMAS,
    EvalImage,
    EvaluationResult,
    Level,
    Method,
    evaluate,
    gaussian_levels,
    score,
)


def write_rows(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]) if rows else ["image"])
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in row.items()}
            )


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # the PSNR of a perfect output is inf
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json(path: Path, content: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(_json_safe(content), indent=2) + "\n")


def _show(ax: Any, image: Tensor) -> None:
    array = image.permute(1, 2, 0).numpy()
    if array.shape[-1] == 1:
        ax.imshow(array[..., 0], cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(array.clip(0, 1))
    ax.set_xticks([])
    ax.set_yticks([])


def write_grid(path: Path, result: EvaluationResult, methods: Sequence[str],
               max_rows: int | None = None) -> None:
    """One row per kept image and level: noisy | each method | clean, PSNR in the titles. With
    `max_rows`, the first `max_rows // levels` images of each level (at least one), so that
    many levels still give a figure that reads at its natural size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_level = None
    if max_rows is not None and result.samples:
        per_level = max(1, max_rows // len(result.samples))
    rows = [(level, s) for level, samples in result.samples.items() for s in samples[:per_level]]
    if not rows:
        return
    columns = ["noisy", *[m for m in methods if m != "noisy"], "clean"]
    figure, axes = plt.subplots(
        len(rows), len(columns), figsize=(2.4 * len(columns), 2.5 * len(rows)), squeeze=False
    )
    for r, (level, sample) in enumerate(rows):
        for c, column in enumerate(columns):
            ax = axes[r][c]
            _show(ax, sample[column])
            title = column
            if column != "clean":
                psnr, _ = score(sample[column], sample["clean"])
                title = f"{column}\n{psnr:.2f} dB"
            ax.set_title(title, fontsize=8)
            if c == 0:
                ax.set_ylabel(f"{sample['image']}\n{level}", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100)
    plt.close(figure)


def curve_table(result: EvaluationResult, levels: Sequence[Level]) -> list[dict[str, Any]]:
    """Mean PSNR / SSIM per sigma and method: the rows of the noise-level curve."""
    summary = result.summary()
    return [
        {"sigma": level.value, "method": method, "psnr": stats["psnr"], "ssim": stats["ssim"]}
        for level in levels
        for method, stats in summary[level.name].items()
    ]


def level_table(result: EvaluationResult, levels: Sequence[Level]) -> list[dict[str, Any]]:
    """Mean PSNR / SSIM per level (the corruption's main level's value) and method."""
    summary = result.summary()
    return [
        {"level": level.value, "name": level.name, "method": method, "psnr": stats["psnr"],
         "ssim": stats["ssim"]}
        for level in levels
        for method, stats in summary[level.name].items()
    ]


def plot_curve(
    path: Path,
    table: Sequence[dict[str, Any]],
    trained_sigma: Sequence[float] | None = None,
    title: str = "",
    x_key: str = "sigma",
    xlabel: str = "Gaussian noise sigma (0-255)",
    trained_key: str = "sigma",
) -> None:
    """PSNR against a level (`x_key` of the rows; Gaussian sigma by default), one line per
    method, each in its own colour and style; the training level (or range) is marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(dict.fromkeys(row["method"] for row in table))
    # The legend sits right of the axes, so it covers no line however many methods there are.
    figure, ax = plt.subplots(figsize=(6.4 + 1.6 * (1 + len(methods) // 16), 4.2))
    markers = ("o", "s", "^", "D", "v", "P", "X")
    for i, method in enumerate(methods):
        points = sorted((row[x_key], row["psnr"]) for row in table if row["method"] == method)
        style = "--" if method == "noisy" else ("-", "-.")[(i // 10) % 2]
        ax.plot(*zip(*points), style, color=f"C{i % 10}", marker=markers[i % len(markers)],
                markersize=3, label=method)
    if trained_sigma:
        low, high = min(trained_sigma), max(trained_sigma)
        if low == high:
            ax.axvline(low, color="gray", linestyle=":", label=f"trained at {trained_key} {low:g}")
        else:
            label = f"trained on {trained_key} {low:g}-{high:g}"
            ax.axvspan(low, high, color="gray", alpha=0.15, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(title or "PSNR against noise level", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0,
              ncols=1 + len(methods) // 16)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=120)
    plt.close(figure)


def noise_curve(
    methods: Sequence[Method],
    images: Sequence[EvalImage],
    sigmas: Sequence[float] = DEFAULT_CURVE_SIGMAS,
    clip: bool = False,
    seed: int = 0,
    output_dir: Path | None = None,
    trained_sigma: Sequence[float] | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """PSNR against Gaussian sigma for every method; writes curve.csv and curve.png to
    `output_dir` when given; returns the table rows."""
    levels = gaussian_levels(sigmas, clip)
    result = evaluate(methods, images, levels, seed=seed, progress=progress)
    table = curve_table(result, levels)
    if output_dir is not None:
        write_rows(output_dir / "curve.csv", table)
        plot_curve(output_dir / "curve.png", table, trained_sigma)
    return table


def results_table(summary: dict[str, dict[str, dict[str, float]]], title: str = "") -> Any:
    """A rich table: one block of rows per level, the gain over the noisy input beside each."""
    from rich.table import Table

    table = Table(title=title or "evaluation", title_justify="left")
    for column, justify in (("level", "left"), ("method", "left"), ("PSNR (dB)", "right"),
                            ("SSIM", "right"), ("gain (dB)", "right"), ("s / image", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for level, methods in summary.items():
        noisy = methods.get("noisy", {}).get("psnr")
        for i, (method, stats) in enumerate(methods.items()):
            gain = "" if noisy is None or method == "noisy" else f"{stats['psnr'] - noisy:+.2f}"
            table.add_row(
                level if i == 0 else "",
                method,
                f"{stats['psnr']:.2f}",
                f"{stats['ssim']:.4f}",
                gain,
                f"{stats['seconds_per_image']:.3f}",
                end_section=i == len(methods) - 1,
            )
    return table
