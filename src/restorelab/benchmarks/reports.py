"""The benchmark's outputs: CSV, JSON, Markdown and rich tables, the noise-level curve and the
comparison grid. Measured rows come first; published rows follow as rows of their own, marked
"published" with their citation, and are never averaged with or ranked among measured ones."""

from __future__ import annotations

import csv
import io
import json
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from restorelab.atomic import atomic_path, write_text_atomic

Row = dict[str, Any]


def write_csv(path: Path, rows: Sequence[Row]) -> None:
    """Rows as CSV (the union of their keys as columns), written atomically."""
    fields = list(dict.fromkeys(key for row in rows for key in row)) or ["benchmark"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
    write_text_atomic(path, buffer.getvalue())


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no inf: the PSNR of an untouched image
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json(path: Path, content: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(_json_safe(content), indent=2) + "\n")


def _by_method(rows: Sequence[Row]) -> dict[str, dict[float, Row]]:
    table: dict[str, dict[float, Row]] = {}
    for row in rows:
        table.setdefault(row["method"], {})[float(row["sigma"])] = row
    return table


def _cell(row: Row | None, with_ssim: bool) -> str:
    if row is None:
        return ""
    if with_ssim and row.get("ssim") is not None:
        return f"{row['psnr']:.2f} / {row['ssim']:.4f}"
    return f"{row['psnr']:.2f}"


def citation_numbers(published: Sequence[Row]) -> dict[str, int]:
    """Footnote number of each distinct citation, in order of first appearance."""
    return {c: i + 1 for i, c in enumerate(dict.fromkeys(row["citation"] for row in published))}


def set_rows(measured: Sequence[Row], published: Sequence[Row], sigmas: Sequence[float],
             notes: dict[str, int], with_ssim: bool = True) -> list[list[str]]:
    """[method, kind, cell per sigma] for one set: the measured rows, then the published ones."""
    lines = []
    for kind, rows in (("measured", measured), ("published", published)):
        for method, cells in _by_method(rows).items():
            first = next(iter(cells.values()))
            mark = "measured" if kind == "measured" else f"published [{notes[first['citation']]}]"
            lines.append([method, mark, *[_cell(cells.get(float(s)), with_ssim) for s in sigmas]])
    return lines


def markdown(sets: Sequence[Row], measured: Sequence[Row], published: Sequence[Row],
             sigmas: Sequence[float], protocol: str) -> str:
    """The report as Markdown: a headline PSNR table over all sets, then one table per set with
    PSNR / SSIM, then the citations of the published rows."""
    notes = citation_numbers(published)
    head = ["method", "kind"] + [f"{s['title']} σ={g:g}" for s in sets for g in sigmas]
    lines = [f"PSNR (dB), {protocol} protocol; mean over the images of each set.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * 2 + "---:|" * (len(head) - 2)]
    names = {kind: list(dict.fromkeys(r["method"] for r in rows))
             for kind, rows in (("measured", measured), ("published", published))}
    for kind, rows in (("measured", measured), ("published", published)):
        for method in names[kind]:
            cells, mark = [], "measured"
            for info in sets:
                own = _by_method([r for r in rows if r["benchmark"] == info["name"]])
                for sigma in sigmas:
                    row = own.get(method, {}).get(float(sigma))
                    cells.append(_cell(row, False))
                    if row is not None and kind == "published":
                        mark = f"published [{notes[row['citation']]}]"
            lines.append("| " + " | ".join([method, mark, *cells]) + " |")
    for info in sets:
        lines += ["", f"### {info['title']}: {info['color']}, {info['images']} images, "
                  f"{protocol} protocol (PSNR dB / SSIM)", "",
                  "| method | kind | " + " | ".join(f"σ={s:g}" for s in sigmas) + " |",
                  "|---|---|" + "---:|" * len(sigmas)]
        own = [r for r in measured if r["benchmark"] == info["name"]]
        theirs = [r for r in published if r["benchmark"] == info["name"]]
        lines += ["| " + " | ".join(r) + " |" for r in set_rows(own, theirs, sigmas, notes)]
    if notes:
        lines += ["", "Published rows: the papers' own figures, not measured here."]
        lines += [f"[{n}] {citation}" for citation, n in notes.items()]
    return "\n".join(lines) + "\n"


def rich_table(info: Row, measured: Sequence[Row], published: Sequence[Row],
               sigmas: Sequence[float], protocol: str, notes: dict[str, int]) -> Any:
    """One set's table for the console; a rule separates the published rows."""
    from rich.table import Table

    table = Table(title=f"{info['title']} ({info['color']}, {info['images']} images), "
                  f"{protocol} protocol: PSNR dB / SSIM", title_justify="left")
    table.add_column("method", overflow="fold")
    table.add_column("kind", no_wrap=True)
    for sigma in sigmas:
        table.add_column(f"σ={sigma:g}", justify="right", no_wrap=True)
    lines = set_rows(measured, published, sigmas, notes)
    count = len(_by_method(measured))
    for i, line in enumerate(lines):
        table.add_row(*line, end_section=i == count - 1)
    return table


def plot_curve(path: Path, info: Row, measured: Sequence[Row], published: Sequence[Row],
               counterparts: dict[str, str], protocol: str) -> None:
    """PSNR against sigma, one solid line per measured method; the published figures of the
    same methods (`counterparts`: measured name -> published name) dotted in the same color."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(8.6, 4.6))
    theirs = _by_method(published)
    for method, cells in _by_method(measured).items():
        points = sorted((s, r["psnr"]) for s, r in cells.items())
        line, = ax.plot(*zip(*points), "--" if method == "noisy" else "-", marker="o",
                        markersize=4, label=method)
        other = counterparts.get(method)
        if other in theirs:
            points = sorted((s, r["psnr"]) for s, r in theirs[other].items())
            ax.plot(*zip(*points), ":", marker="o", markerfacecolor="none", markersize=6,
                    color=line.get_color(), label=f"{other} (published)")
    ax.set_xlabel("Gaussian noise sigma (0-255 scale)")
    ax.set_ylabel("mean PSNR (dB)")
    ax.set_xticks(sorted({float(r["sigma"]) for r in measured}))
    ax.set_title(f"{info['title']} ({info['color']}, {info['images']} images), {protocol} "
                 "protocol: PSNR against noise level", fontsize=10)
    ax.grid(alpha=0.3)
    # Outside the axes: the legend never covers a curve.
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=110)
    plt.close(figure)


def textured_crop(image: np.ndarray, size: int) -> tuple[int, int]:
    """(top, left) of the `size` crop with the largest standard deviation, on a half-size grid:
    a flat sky shows nothing of a denoiser."""
    height, width = image.shape[:2]
    size = min(size, height, width)
    step = max(1, size // 2)
    best, where = -1.0, (0, 0)
    for top in range(0, height - size + 1, step):
        for left in range(0, width - size + 1, step):
            spread = float(image[top : top + size, left : left + size].std())
            if spread > best:
                best, where = spread, (top, left)
    return where


def plot_grid(path: Path, info: Row, sample: dict[str, Any], protocol: str, size: int) -> None:
    """One row per sigma: clean | noisy | each method, cropped, whole-image PSNR in the titles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clean = sample["clean"]
    top, left = textured_crop(clean, size)
    size = min(size, *clean.shape[:2])
    methods = [m for m in sample["methods"] if m != "noisy"]
    columns = ["clean", "noisy", *methods]
    sigmas = list(sample["outputs"])
    # Constrained layout makes room for the titles that wrap onto a third line.
    figure, axes = plt.subplots(len(sigmas), len(columns), squeeze=False, layout="constrained",
                                figsize=(2.0 * len(columns), 2.45 * len(sigmas) + 0.5))
    for r, sigma in enumerate(sigmas):
        for c, column in enumerate(columns):
            ax = axes[r][c]
            shown = clean / 255.0 if column == "clean" else sample["outputs"][sigma][column][0]
            crop = shown[top : top + size, left : left + size]
            gray = crop.shape[-1] == 1
            ax.imshow(crop[..., 0] if gray else crop, cmap="gray" if gray else None,
                      vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            name = textwrap.fill(column, 24)  # long labels wrap instead of overlapping
            title = name if column == "clean" else (
                f"{name}\n{sample['outputs'][sigma][column][1]:.2f} dB")
            ax.set_title(title, fontsize=8)
            if c == 0:
                ax.set_ylabel(f"sigma {sigma:g}", fontsize=9)
    figure.suptitle(f"{info['title']} {sample['image']}: {size}x{size} crop at ({top}, {left}); "
                    f"PSNR of the whole image, {protocol} protocol", fontsize=9)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100)
    plt.close(figure)


def write_report(output: Path, content: dict[str, Any], samples: dict[str, Any],
                 methods: Sequence[Any], crop: int) -> None:
    """results.csv / .json / .md, per_image.csv, and per set curve_<set>.png and grid_<set>.png;
    the tables are printed with rich."""
    from rich.console import Console

    protocol = content["protocol"]["name"]
    measured, published = content["measured"], content["published"]
    sigmas = content["sigmas"]
    output.mkdir(parents=True, exist_ok=True)
    write_csv(output / "results.csv", [*measured, *published])
    write_csv(output / "per_image.csv", content["per_image"])
    write_json(output / "results.json", content)
    write_text_atomic(output / "results.md",
                      markdown(content["sets"], measured, published, sigmas, protocol))
    console = Console()
    notes = citation_numbers(published)
    for info in content["sets"]:
        own = [r for r in measured if r["benchmark"] == info["name"]]
        theirs = [r for r in published if r["benchmark"] == info["name"]]
        counterparts = {m.name: m.published_as[info["channels"]] for m in methods
                        if info["channels"] in m.published_as}
        plot_curve(output / f"curve_{info['name']}.png", info, own, theirs, counterparts,
                   protocol)
        plot_grid(output / f"grid_{info['name']}.png", info, samples[info["name"]], protocol,
                  crop)
        console.print(rich_table(info, own, theirs, sigmas, protocol, notes))
    for citation, number in notes.items():
        console.print(f"[{number}] {citation}", highlight=False)
    console.print(f"protocol: {content['protocol']['description']}", highlight=False)
    console.print(f"written to [bold]{output}[/bold]")
