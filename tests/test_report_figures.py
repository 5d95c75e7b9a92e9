"""The study figures read at a glance: every run of a 12-run study has its own colour and line
style, one legend sits outside both panels, the title says what is averaged; the comparison keeps
a readable width, with titles of at most two lines."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restorelab import report

# The faces_architecture study's plan: kernel size x depth {2, 3} x skip, a max-pool run, then
# kernel size x skip at depth 4.
GRID = [
    {"model.kernel_size": k, "model.depth": d, "model.skip": s, "model.down": "strided",
     "model.up": "transposed"}
    for d, k, s in itertools.product("23", "35", ("none", "concat"))
]
GRID.append({**GRID[5], "model.down": "maxpool", "model.up": "upsample"})  # k3 d3 concat
GRID += [{**run, "model.depth": "4"} for run in GRID[:4]]


def synthetic_study(root: Path, runs: int = 12, val_images: int | None = 10) -> Path:
    """`runs` job folders in the formats a training run writes (metrics.json, the Hydra files,
    the CSV log, test_samples.npz), with made-up curves and images: figures to look at, not
    results."""
    import skimage.data
    from skimage.transform import resize

    rng = np.random.default_rng(0)
    faces = skimage.data.lfw_subset()[:4]  # 25 x 25 gray faces, as data=lfw_subset uses them
    clean = np.stack([resize(face, (48, 48))[None] for face in faces]).astype(np.float32)
    noisy = np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1).astype(np.float32)
    for job, overrides in enumerate(GRID[:runs]):
        folder = root / str(job)
        (folder / ".hydra").mkdir(parents=True)
        (folder / ".hydra" / "overrides.yaml").write_text(
            "".join(f"- {k}={v}\n" for k, v in overrides.items()))
        (folder / ".hydra" / "config.yaml").write_text("data:\n  image_size: 48\n")
        (folder / ".hydra" / "hydra.yaml").write_text(
            "hydra:\n  runtime:\n    choices:\n      data: lfw_subset\n")
        metrics = {"status": "completed", "test/psnr": 25 + job / 10, "val/psnr_noisy": 20.3}
        if val_images is not None:
            metrics["val_images"] = val_images
        (folder / "metrics.json").write_text(json.dumps(metrics))
        rows = ["step,train/loss,val/psnr"]
        for step in range(10, 160, 10):
            rows.append(f"{step},{0.02 * np.exp(-step / (50 + 5 * job)):.6f},")
            if step % 25 == 0 or step == 150:
                rows.append(f"{step},,{27 - 12 * np.exp(-step / (30 + 3 * job)):.4f}")
        (folder / "csv").mkdir()
        (folder / "csv" / "metrics.csv").write_text("\n".join(rows) + "\n")
        restored = np.clip(clean + rng.normal(0, 0.05 + job / 200, clean.shape), 0, 1)
        (folder / "images").mkdir()
        np.savez(folder / "images" / "test_samples.npz", noisy=noisy, clean=clean,
                 restored=restored.astype(np.float32))
    return root


def test_curves_tell_twelve_runs_apart_and_the_legend_covers_no_data(tmp_path: Path) -> None:
    study = report.collect(synthetic_study(tmp_path))
    path = report.curves_figure(study, tmp_path / "curves.png")
    # The drawn figure, read back through the same code path (matplotlib keeps no global state).
    styles = {(report.run_style(i)["color"], report.run_style(i)["linestyle"])
              for i in range(len(study.runs))}
    assert len(styles) == 12  # colour and line style together tell every run apart
    assert all(report.run_style(i) != report.run_style(i + 1) for i in range(139))
    width, height = Image.open(path).size
    assert width <= 1300 and height <= 800


def test_curves_figure_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    figures = []
    original = report.Figure

    def keep(*args, **kwargs):
        figures.append(original(*args, **kwargs))
        return figures[-1]

    monkeypatch.setattr(report, "Figure", keep)
    study = report.collect(synthetic_study(tmp_path))
    report.curves_figure(study, tmp_path / "curves.png")
    (figure,) = figures
    psnr_axis, loss_axis = figure.axes
    assert psnr_axis.get_legend() is None and loss_axis.get_legend() is None
    (legend,) = figure.legends  # one legend for both panels
    names = [text.get_text() for text in legend.get_texts()]
    assert len(names) == 13 and names[-1] == "noisy input"
    assert "kernel_size=3 depth=2 skip=none down=strided up=transposed" in names
    assert "kernel_size=3 depth=3 skip=concat down=maxpool up=upsample" in names
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)  # lays the figure out again, as savefig did
    box = legend.get_window_extent(renderer)
    for axis in (psnr_axis, loss_axis):
        assert not box.overlaps(axis.get_window_extent(renderer))  # outside the data
    for axis in (psnr_axis, loss_axis):  # each run drawn in the same style in both panels
        lines = [line for line in axis.get_lines() if line.get_label() != "noisy input"]
        assert len({(line.get_color(), line.get_linestyle()) for line in lines}) == 12
    assert "mean over 10 validation images of data=lfw_subset" in figure.get_suptitle()


def test_curves_title_without_a_count(tmp_path: Path) -> None:
    study = report.collect(synthetic_study(tmp_path, runs=3, val_images=None))
    assert report.validation_images(study) == "the validation split of data=lfw_subset"
    (tmp_path / "0" / ".hydra" / "config.yaml").write_text("data:\n  val_images: 20\n")
    # The runs disagree (one says 20, the others nothing): no count.
    assert report.validation_images(study) == "the validation split of data=lfw_subset"
    for job in ("1", "2"):
        (tmp_path / job / ".hydra" / "config.yaml").write_text("data:\n  val_images: 20\n")
    assert report.validation_images(study) == "20 validation images of data=lfw_subset"


@pytest.mark.parametrize("runs", [3, 12])
def test_comparison_reads_at_natural_size(tmp_path: Path, runs: int) -> None:
    study = report.collect(synthetic_study(tmp_path, runs=runs))
    path = report.comparison_figure(study, tmp_path / "comparison.png")
    width, height = Image.open(path).size
    assert width <= 1400 and height <= 1100  # was 3600 x 1332 for 12 runs
    aspect = width / height
    assert 0.8 < aspect < 4  # no tall or flat strip of blank bands


def test_titles_fit_in_two_lines() -> None:
    parts = [("kernel_size", "3"), ("depth", "2"), ("skip", "none"), ("down", "strided"),
             ("up", "transposed")]
    titles, font, values_only = report.fit_labels([parts], width=300, font=8)
    assert titles == ["kernel_size=3 depth=2 skip=none down=strided up=transposed"]
    assert font == 8 and not values_only
    titles, font, values_only = report.fit_labels([parts, parts[:2]], width=160, font=8)
    assert not values_only and titles[0].count("\n") == 1 and titles[1] == "kernel_size=3 depth=2"
    titles, font, values_only = report.fit_labels([parts, parts[:2]], width=95, font=8)
    assert values_only and font == 8  # one form for every run: the values alone
    assert titles == ["3 · 2 · none · strided\ntransposed", "3 · 2"]
    for title in titles:
        assert all(report._text_width(line, font) <= 95 for line in title.split("\n"))
    titles, _, _ = report.fit_labels([[(f"key{i}", "a-long-value") for i in range(12)]], 80, 8)
    assert titles[0].count("\n") == 1 and titles[0].endswith("…")
