"""Resuming in place: `ckpt_path=<run>/checkpoints/last.ckpt` or `resume=<run>` continue in the
run's own folder, its metrics.csv and metrics.json, from a last.ckpt that is the latest state."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import CLI_TINY, compose_train, run_cli, run_train

from restorelab.checkpoints import safe_load
from restorelab.resume import merge_overrides

TINY = ["model.base_channels=4", "model.depth=2", "debug=limit", "trainer.max_epochs=2"]


def _rows(run: Path) -> list[dict[str, str]]:
    with open(run / "csv" / "metrics.csv", newline="") as file:
        return list(csv.DictReader(file))


def test_last_checkpoint_is_the_latest_state_without_improvement(tmp_path: Path) -> None:
    # lr 0: every validation scores the same, so only the first is a new best.
    result = run_train(tmp_path, [*TINY, "optimizer.lr=0.0", "~scheduler"])
    assert Path(result["best_checkpoint"]).name == "epoch000.ckpt"
    assert safe_load(Path(result["last_checkpoint"]))["global_step"] == result["global_step"] == 8


def test_ckpt_path_of_a_run_continues_its_folder_and_logs(tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = run_train(run, TINY)
    before = _rows(run)
    resumed = run_train(run, [*TINY[:-1], "trainer.max_epochs=3",
                              f"ckpt_path={first['last_checkpoint']}"])
    assert resumed["global_step"] == 12
    rows = _rows(run)
    # Epochs 0 and 1 as logged the first time, then epoch 2; the first test's row is gone.
    kept = [{key: row[key] for key in before[0]} for row in rows[: len(before) - 1]]
    assert kept == before[:-1] and before[-1]["test/psnr"]
    validated = [row["epoch"] for row in rows if row.get("val/psnr")]
    assert validated == ["0", "1", "2"]
    assert sum(1 for row in rows if row.get("test/psnr")) == 1
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["resumes"] == [{"checkpoint": first["last_checkpoint"], "global_step": 8,
                                 "previous_status": "completed",
                                 "previous_train_seconds": first["train_seconds"]}]
    assert (run / "images" / "val_epoch002.png").is_file()


def test_hydra_puts_a_resumed_job_in_the_run_folder(tmp_path: Path) -> None:
    run = tmp_path / "logs" / "train" / "runs" / "first"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text("{}\n")
    for overrides in ([f"ckpt_path={run}/checkpoints/last.ckpt"], [f"resume={run}"]):
        cfg = compose_train(tmp_path, overrides)
        assert cfg.hydra.run.dir == str(run)
        cfg.hydra.runtime.output_dir = str(run)  # as Hydra sets it from hydra.run.dir
        assert cfg.hydra.output_subdir.startswith(".hydra/resumed/")
        cfg.hydra.runtime.output_dir = str(tmp_path / "elsewhere")  # hydra.run.dir=elsewhere
        assert cfg.hydra.output_subdir == ".hydra"
    fresh = compose_train(tmp_path, [f"ckpt_path={tmp_path}/elsewhere.ckpt"])
    assert "/runs/" in fresh.hydra.run.dir and fresh.hydra.output_subdir == ".hydra"


def test_resume_takes_the_runs_overrides_under_the_new_ones() -> None:
    saved = ["model=dncnn", "+trainer.limit_train_batches=2", "trainer.max_epochs=2",
             "ckpt_path=old.ckpt"]
    given = ["resume=logs/run", "trainer.max_epochs=5", "trainer.limit_train_batches=4"]
    assert merge_overrides(saved, given) == [
        "model=dncnn", "trainer.max_epochs=5", "+trainer.limit_train_batches=4"]


@pytest.mark.slow
def test_resume_from_the_command_line(tmp_path: Path) -> None:
    overrides = [*CLI_TINY, "model.base_channels=4", "model.depth=2", "data.samples_per_epoch=4"]
    first = run_cli("train.py", *overrides, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    (run,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    original = (run / ".hydra" / "config.yaml").read_text()
    again = run_cli("train.py", f"resume={run}", "trainer.max_epochs=2", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert list((tmp_path / "logs" / "train" / "runs").iterdir()) == [run]  # no new folder
    assert (run / ".hydra" / "config.yaml").read_text() == original
    (record,) = (run / ".hydra" / "resumed").iterdir()
    recorded = (record / "overrides.yaml").read_text()
    assert "model.base_channels=4" in recorded and "trainer.max_epochs=2" in recorded
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["global_step"] == 4 and len(saved["resumes"]) == 1
    assert [row["epoch"] for row in _rows(run) if row.get("val/psnr")] == ["0", "1"]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.mark.slow
def test_a_new_job_in_a_folder_a_run_wrote_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    # `hydra.run.dir=` given twice: the second job replaced the first one's metrics.json,
    # metrics.csv, image grids and .hydra/overrides.yaml (which `resume=` reads) before this.
    run = tmp_path / "run"
    overrides = [*CLI_TINY, "model.base_channels=4", "model.depth=2", "data.samples_per_epoch=4",
                 f"hydra.run.dir={run}"]
    first = run_cli("train.py", *overrides, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    before = _files(run)
    assert "metrics.json" in before and ".hydra/overrides.yaml" in before
    again = run_cli("train.py", *overrides, "seed=3", cwd=tmp_path)
    assert again.returncode == 1
    output = again.stdout + again.stderr
    errors = [line for line in output.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "already holds a run" in errors[0], output[-2000:]
    assert f"resume={run}" in errors[0]
    after = _files(run)
    logs = {name for name in after if name.endswith(".log") and name != "config_tree.log"}
    assert logs and {k: v for k, v in after.items() if k not in logs} == {
        k: v for k, v in before.items() if k not in logs}  # Hydra's job log is appended to


def test_which_folders_hold_a_run(tmp_path: Path) -> None:
    from restorelab.resume import output_subdir, previous_run

    assert previous_run(tmp_path / "absent") is None and previous_run(tmp_path) is None
    (tmp_path / "metrics.json").write_text('{"status": "not started", "signal": "SIGTERM"}')
    assert previous_run(tmp_path) is None  # a multirun job stopped before it began
    assert output_subdir(None, None, str(tmp_path)) == ".hydra"
    (tmp_path / "metrics.json").write_text('{"status": "failed"}')
    assert previous_run(tmp_path) == "metrics.json"
    assert output_subdir(None, None, str(tmp_path)) is None  # Hydra saves nothing over it
    (tmp_path / "metrics.json").unlink()
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"")
    assert previous_run(tmp_path) == "checkpoints/last.ckpt"
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("{}\n")
    assert output_subdir(str(tmp_path), None, str(tmp_path)).startswith(".hydra/resumed/")


def test_a_new_in_process_job_in_a_run_folder_is_refused(tmp_path: Path) -> None:
    from restorelab.errors import ConfigError

    run = tmp_path / "run"
    first = run_train(run, [*TINY[:-1], "trainer.max_epochs=1"])
    saved = (run / "metrics.json").read_bytes()
    with pytest.raises(ConfigError, match="already holds a run"):
        run_train(run, [*TINY[:-1], "trainer.max_epochs=1", "seed=5"])
    assert (run / "metrics.json").read_bytes() == saved
    # Resuming it in place still continues it.
    resumed = run_train(run, [*TINY, f"ckpt_path={first['last_checkpoint']}"])
    assert resumed["global_step"] == 8


def test_a_job_slurm_requeued_continues_from_its_newest_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A requeued job (a preemption, a node failure, the time-limit warning) runs its command
    again in its folder: it continues from its own checkpoint instead of being refused or
    training again from step 0, and the weights it was first started from are not loaded."""
    import os

    from restorelab.errors import ConfigError
    from restorelab.train import _requeued_checkpoint

    run = tmp_path / "run"
    first = run_train(run, [*TINY[:-1], "trainer.max_epochs=1"])
    assert _requeued_checkpoint(run) is None  # not requeued: a new job here is refused
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    last = run / "checkpoints" / "last.ckpt"
    assert _requeued_checkpoint(run) == last
    interrupted = run / "checkpoints" / "interrupted.ckpt"
    interrupted.write_bytes(last.read_bytes())
    os.utime(last, (1e9, 1e9))  # interrupted.ckpt is newer: the warning saved it after last.ckpt
    assert _requeued_checkpoint(run) == interrupted
    # Started with ckpt_path= one of this folder's checkpoints: the newest state, not that one
    # again at each requeue; a checkpoint of another run is the job's own business.
    older = run / "checkpoints" / "older.ckpt"
    older.write_bytes(b"")
    os.utime(older, (1e8, 1e8))
    assert _requeued_checkpoint(run, str(older)) == interrupted
    assert _requeued_checkpoint(run, str(tmp_path / "other" / "checkpoints" / "last.ckpt")) is None
    older.unlink()
    interrupted.unlink()
    hpc = run / "hpc_ckpt_1.ckpt"  # Lightning's own requeue saved the newest state: its turn
    hpc.write_bytes(b"")
    assert _requeued_checkpoint(run) is None
    hpc.unlink()

    weights = first["best_checkpoint"]  # given to the first job; the checkpoint supersedes it
    again = run_train(run, [*TINY, f"init_weights={weights}"])
    assert again["global_step"] == 8
    (resumed,) = again["resumes"]
    assert (resumed["checkpoint"], resumed["global_step"]) == (str(last), 4)
    assert resumed["previous_status"] == "completed"
    monkeypatch.setenv("SLURM_RESTART_COUNT", "0")
    with pytest.raises(ConfigError, match="already holds a run"):
        run_train(run, TINY)
