"""A study's report from its run folders: `python -m restorelab.report <multirun folder>`.

Reads each job's `metrics.json`, `.hydra/overrides.yaml`, `csv/metrics.csv` and
`images/test_samples.npz`, and writes beside them:

- `results.csv` and `results.md`: one row per run, the overrides that tell the runs apart, test
  PSNR/SSIM next to the noisy input's, parameters, seconds per step, best checkpoint;
- `comparison.png`: one row per test image: noisy input, each run's output, ground truth, each
  labelled with its PSNR (the seeded test noise makes the inputs identical across runs); many
  runs wrap into several bands of rows, so the figure keeps a readable width;
- `curves.png`: validation PSNR and training loss of every run on shared axes, each run in its
  own colour and line style, one legend for both panels, outside them.

Jobs that did not finish are listed as missing with the reason (no `metrics.json`: killed or
still running; "interrupted" or "failed" in it; never started), so a partial study still
reports. The study's full grid is read from the `multirun.yaml` Hydra writes first, so jobs that
never started are listed too, and every swept key is a column even when only some jobs ran.

The folders are read by `restorelab.study` and the tables written by `restorelab.results_table`;
this module draws the two figures and writes the report.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure  # no pyplot: files only, no display backend needed

from restorelab.atomic import atomic_path, write_text_atomic
from restorelab.results_table import COLUMNS as COLUMNS  # re-exported
from restorelab.results_table import write_tables
from restorelab.study import Study, collect, logged_curves, run_label, validation_images
from restorelab.study import planned_grid as planned_grid  # re-exported

NUM_COMPARISON_IMAGES = 4
# Runs side by side in one band of comparison.png; more wrap into further bands.
MAX_RUNS_PER_ROW = 6
# Width of comparison.png in inches, at most (about 1,300 pixels at its 120 dpi).
MAX_COMPARISON_WIDTH = 11.0
# Line styles and markers cycle with periods 4 and 7 against the 10 colours, so no two of the
# first 140 runs share all three.
_COLOURS = [f"C{i}" for i in range(10)]
_LINE_STYLES = ("-", "--", "-.", ":")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def psnr(restored: np.ndarray, clean: np.ndarray) -> float:
    """PSNR in dB of `restored` (clipped to [0, 1]) against `clean`, both float arrays in [0, 1]."""
    mse = float(np.mean((np.clip(restored, 0, 1) - clean) ** 2))
    return float("inf") if mse == 0 else -10.0 * math.log10(mse)


def _show(axis: Any, image: np.ndarray) -> None:
    image = np.clip(image, 0, 1)
    if image.shape[0] in (1, 3):
        image = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
    else:  # multispectral: first channel
        image = image[0]
    axis.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
    axis.set_xticks([])
    axis.set_yticks([])


def _text_width(text: str, font: float) -> float:
    """Width of `text` in points at `font` points, as matplotlib draws it."""
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    renderer = RendererAgg(1, 1, 72)  # at 72 dpi a pixel is a point
    return renderer.get_text_width_height_descent(text, FontProperties(size=font), ismath=False)[0]


def _wrap(tokens: list[str], separator: str, width: float, font: float) -> list[str]:
    """`tokens` joined by `separator` into lines no wider than `width` points (a token longer
    than a line gets a line of its own)."""
    lines: list[str] = []
    for token in tokens:
        if lines and _text_width(lines[-1] + separator + token, font) <= width:
            lines[-1] += separator + token
        else:
            lines.append(token)
    return lines


def fit_labels(
    runs: list[list[tuple[str, str]]], width: float, font: float, min_font: float = 6.0
) -> tuple[list[str], float, bool]:
    """Titles of at most two lines, `width` points wide, for runs given as `(key, value)` pairs:
    `key=value` at the largest font from `font` down to `min_font` that fits every run, else the
    values alone at `font` (the bool says so: the figure then names the keys once). Every run
    gets the same form and size; a title too long even so is cut with an ellipsis."""
    size = font
    while size >= min_font:
        titles = [_wrap([f"{k}={v}" for k, v in parts], " ", width, size) for parts in runs]
        if all(len(lines) <= 2 for lines in titles):
            return ["\n".join(lines) for lines in titles], size, False
        size -= 0.5
    result = []
    for parts in runs:
        lines = _wrap([value for _, value in parts], " · ", width, font)
        if len(lines) > 2:
            rest = " · ".join(lines[1:])
            while rest and _text_width(rest + " …", font) > width:
                rest = rest[:-1]
            lines = [lines[0], rest.rstrip(" ·") + " …"]
        result.append("\n".join(lines))
    return result, font, True


def comparison_figure(study: Study, path: Path) -> Path | None:
    """noisy | each run | ground truth for the first test images; None without test samples.

    Up to MAX_RUNS_PER_ROW runs sit side by side; more wrap into further bands (each with its own
    noisy and ground-truth columns and fewer images), so the figure stays about 1,300 pixels
    wide. Each run is titled once per band; under each image is its PSNR, the best of the row in
    bold.
    """
    samples = _test_samples(study)
    if not samples:
        return None
    reference = samples[0][1]
    bands = math.ceil(len(samples) / MAX_RUNS_PER_ROW)
    per_band = math.ceil(len(samples) / bands)
    chunks = [samples[i:i + per_band] for i in range(0, len(samples), per_band)]
    wanted = NUM_COMPARISON_IMAGES if bands == 1 else max(2, NUM_COMPARISON_IMAGES // bands)
    rows = min(wanted, *(len(data["restored"]) for _, data in samples))
    columns = per_band + 2
    height, width = reference["clean"].shape[-2:]
    cell = min(1.6, MAX_COMPARISON_WIDTH / columns)  # inches
    cell_height = cell * min(height / width, 2.0)  # a very tall image is shown narrower
    font = float(np.clip(cell * 5.0, 6.5, 8.0))  # points

    keys = [key.rsplit(".", 1)[-1] for key in study.varying]
    parts = [list(zip(keys, (run["overrides"].get(k, "") for k in study.varying)))
             for run, _ in samples]
    if keys:
        titles, title_font, values_only = fit_labels(parts, cell * 72 - 4, font)
    else:  # nothing varies: the job names tell the runs apart
        titles, title_font, values_only = [run["job"] for run, _ in samples], font, False
    labels = {run["job"]: title for (run, _), title in zip(samples, titles)}
    title_height = 2 * title_font * 1.3 / 72  # two lines of title, in inches
    label_height = font * 1.6 / 72
    figure_height = bands * (title_height + rows * (cell_height + label_height)) + 0.75
    figure = Figure(figsize=(columns * cell + 0.3, figure_height), layout="constrained")
    grid = figure.add_gridspec(bands * rows, columns)
    for band, chunk in enumerate(chunks):
        for i in range(rows):
            cells = _comparison_row(reference, chunk, i, labels)
            for column, (image, title, label, bold) in enumerate(cells):
                axis = figure.add_subplot(grid[band * rows + i, column])
                _show(axis, image)
                axis.set_xlabel(label, fontsize=font, labelpad=1,
                                fontweight="bold" if bold else "normal")
                if i == 0:
                    axis.set_title(title, fontsize=title_font, pad=2)
    sentences = [(f"{len(samples)} runs on the first {rows} test images, the same seeded noise "
                  "for every run."),
                 "PSNR against the ground truth (dB), the best of each row in bold."]
    if values_only:
        sentences.append("Run titles give the values of " + " · ".join(keys) + ".")
    figure_width = (columns * cell + 0.3) * 72 - 20  # points, less the margins
    lines = [line for sentence in sentences
             for line in _wrap(sentence.split(" "), " ", figure_width, font + 1)]
    figure.suptitle("\n".join(lines), fontsize=font + 1)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=120)
    return path


def _test_samples(study: Study) -> list[tuple[dict[str, Any], Any]]:
    """(run, its `images/test_samples.npz`) for every run that saved test samples."""
    samples = []
    for run in study.runs:
        file = study.root / run["job"] / "images" / "test_samples.npz"
        if file.is_file():
            samples.append((run, np.load(file)))
    return samples


def _comparison_row(
    reference: Any, chunk: list[tuple[dict[str, Any], Any]], i: int, labels: dict[str, str]
) -> list[tuple[np.ndarray, str, str, bool]]:
    """The panels of test image `i` in one band, as (image, title, PSNR label, bold): the
    noisy input, each run of `chunk`, the ground truth."""
    clean = reference["clean"][i]
    noisy = reference["noisy"][i]
    scores = [psnr(data["restored"][i], clean) for _, data in chunk]
    best = max(scores)
    cells = [(noisy, "noisy input", f"{psnr(noisy, clean):.2f} dB", False)]
    cells += [
        (data["restored"][i], labels[run["job"]], f"{score:.2f} dB", score == best)
        for (run, data), score in zip(chunk, scores)
    ]
    cells.append((clean, "ground truth", "", False))
    return cells


def run_style(index: int) -> dict[str, Any]:
    """Colour, line style and marker of run `index`: neighbours differ in all three."""
    return {
        "color": _COLOURS[index % len(_COLOURS)],
        "linestyle": _LINE_STYLES[index % len(_LINE_STYLES)],
        "marker": _MARKERS[index % len(_MARKERS)],
    }


def curves_figure(study: Study, path: Path) -> Path:
    """Validation PSNR and training loss of every run against the step, on shared axes, with
    one legend for both panels below them (it covers no data)."""
    labels = [run_label(study, run) for run in study.runs]
    longest = max((len(label) for label in labels), default=10)
    # Legend columns that fit the 11-inch width at 8 pt (about 0.07 inch a character).
    legend_columns = max(1, min(len(labels) + 1, int(11 / (0.07 * longest + 0.8))))
    legend_rows = math.ceil((len(labels) + 1) / legend_columns)
    figure = Figure(figsize=(11, 4.2 + 0.2 * legend_rows), layout="constrained")
    psnr_axis, loss_axis = figure.subplots(1, 2)
    for index, (run, label) in enumerate(zip(study.runs, labels)):
        history = logged_curves(study.root / run["job"])
        style = run_style(index)
        for axis, key in ((psnr_axis, "val/psnr"), (loss_axis, "train/loss")):
            if history[key]:
                steps, values = zip(*sorted(history[key]))
                marker = style["marker"] if key == "val/psnr" else None
                axis.plot(steps, values, label=label, color=style["color"],
                          linestyle=style["linestyle"], marker=marker, markersize=3.5,
                          linewidth=1.3)
    psnr_axis.set(xlabel="step", ylabel="PSNR (dB)", title="validation PSNR")
    loss_axis.set(xlabel="step", ylabel="loss", title="training loss (each logged step)",
                  yscale="log")
    if study.runs:
        noisy = study.runs[0].get("val/psnr_noisy")
        if isinstance(noisy, (int, float)):
            psnr_axis.axhline(noisy, color="gray", linestyle=(0, (1, 3)), linewidth=1.2,
                              label="noisy input")
    for axis in (psnr_axis, loss_axis):
        axis.grid(alpha=0.3)
        if not [line for line in axis.get_lines() if line.get_label() != "noisy input"]:
            # Say so, rather than leave an empty frame (runs shorter than log_every_n_steps).
            axis.text(0.5, 0.5, "no values logged", transform=axis.transAxes, ha="center",
                      va="center", color="gray")
    # One entry per run for both panels (a run without validation points still has its loss).
    entries: dict[str, Any] = {}
    for axis in (psnr_axis, loss_axis):
        for handle, name in zip(*axis.get_legend_handles_labels()):
            entries.setdefault(name, handle)
    handles, names = list(entries.values()), list(entries)
    if handles:
        figure.legend(handles, names, loc="outside lower center", ncols=legend_columns,
                      fontsize=8, frameon=False)
    figure.suptitle(
        f"{len(study.runs)} runs: PSNR is the mean over {validation_images(study)}, "
        "with the same seeded noise at every validation",
        fontsize=10,
    )
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=110)
    return path


def build_report(root: Path) -> Study:
    """Writes the four report files of a study folder; returns what was found."""
    study = collect(root)
    if not study.runs and not study.missing:
        raise SystemExit(f"no run folders (with .hydra/config.yaml) under {root}")
    write_tables(study)
    comparison = comparison_figure(study, root / "comparison.png")
    curves_figure(study, root / "curves.png")
    text = (root / "results.md").read_text() + "\n![validation PSNR and training loss](curves.png)\n"
    if comparison is not None:
        text += "\n![noisy | each run | ground truth](comparison.png)\n"
    write_text_atomic(root / "results.md", text)
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
