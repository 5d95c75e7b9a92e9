"""The study table: one row per finished run, the varying overrides as columns, missing runs listed."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from restorelab.report import collect, main, write_tables


def _job(root: Path, num: int, overrides: list[str], metrics: dict | None) -> None:
    job = root / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "config.yaml").write_text("seed: 1\n")
    (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if metrics is not None:
        (job / "metrics.json").write_text(json.dumps(metrics))


def test_table_rows_columns_and_missing_runs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    base = {"status": "completed", "test/ssim": 0.8, "test/psnr_noisy": 20.2, "num_parameters": 1000}
    _job(tmp_path, 0, ["experiment=zoo", "model=unet"], {**base, "test/psnr": 28.5})
    _job(tmp_path, 1, ["experiment=zoo", "model=dncnn"], {**base, "test/psnr": 29.25})
    _job(tmp_path, 2, ["experiment=zoo", "model=rednet"], None)  # interrupted
    # A Ctrl-C between two jobs of a multirun: the next one's folder, and it never trained.
    _job(tmp_path, 3, ["experiment=zoo", "model=drunet"], {"status": "not started"})
    study = collect(tmp_path)
    assert [run["overrides"]["model"] for run in study.runs] == ["unet", "dncnn"]
    assert study.varying == ["model"]  # experiment=zoo is shared, so it is no column
    assert [p.name for p in study.missing] == ["2", "3"]

    csv_path, md_path = write_tables(study)
    rows = list(csv.DictReader(csv_path.open()))
    assert [(r["model"], float(r["test/psnr"])) for r in rows] == [("unet", 28.5), ("dncnn", 29.25)]
    table = md_path.read_text()
    assert "| 0 | unet | 28.50 | 0.8000 | 20.20 |" in table
    assert "missing (no metrics.json): `2`" in table
    assert "missing (not started): `3`" in table

    main([str(tmp_path)])
    assert "2 runs reported, 2 missing" in capsys.readouterr().out


def test_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no run folders"):
        main([str(tmp_path)])


def test_a_job_beside_the_grid_shows_the_keys_it_changed(tmp_path: Path) -> None:
    from restorelab.report import Study

    grid = [{"model.depth": d, "model.down": "strided"} for d in ("2", "3")]
    runs = [{"job": str(i), "overrides": o} for i, o in enumerate(grid)]
    extra = {"job": "2", "overrides": {"model.depth": "3", "model.down": "maxpool"}}
    study = Study(tmp_path, runs=[*runs, extra], grid=grid)
    assert study.varying == ["model.depth", "model.down"]  # the grid alone varies depth only
    assert Study(tmp_path, runs=runs, grid=grid).varying == ["model.depth"]
    one = Study(tmp_path, runs=runs[:1], grid=grid[:1])
    assert one.varying == ["model.depth", "model.down"]  # a single job names all it was given
