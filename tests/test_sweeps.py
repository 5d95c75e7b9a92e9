"""Studies end to end through the command line: sweep.py and its report, Optuna, DDP inside a
multirun, W&B grouping and resume, launcher configs."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from conftest import CLI_TINY, compose_train, config_files, run_cli

REPORT_FILES = ("results.csv", "results.md", "comparison.png", "curves.png")


# The study takes about a minute: the tests that read it share one worker (and one study).
ON_THE_STUDYS_WORKER = pytest.mark.xdist_group("default_study")


@pytest.fixture(scope="module")
def default_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python sweep.py` with a tiny budget: the 12-run architecture study."""
    cwd = tmp_path_factory.mktemp("study")
    result = run_cli("sweep.py", *CLI_TINY, cwd=cwd)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    (sweep_dir,) = (cwd / "logs" / "sweep_architecture" / "multiruns").iterdir()
    return sweep_dir


@pytest.mark.slow
@ON_THE_STUDYS_WORKER
def test_default_study_writes_its_report(default_study: Path) -> None:
    for name in REPORT_FILES:
        assert (default_study / name).is_file(), name
    rows = list(csv.DictReader((default_study / "results.csv").open()))
    assert len(rows) == 12
    variants = {(r["model.kernel_size"], r["model.depth"], r["model.skip"]) for r in rows}
    assert len(variants) == 12
    assert all(float(r["test/psnr"]) > 0 and r["best_checkpoint"] for r in rows)
    assert len({r["num_parameters"] for r in rows}) == 12  # every variant is its own network


@pytest.mark.slow
@ON_THE_STUDYS_WORKER
def test_report_rebuild_lists_a_missing_run(default_study: Path, tmp_path: Path) -> None:
    partial = tmp_path / "partial"
    shutil.copytree(default_study, partial)
    (partial / "5" / "metrics.json").unlink()  # as if job 5 had been interrupted
    for name in REPORT_FILES:
        (partial / name).unlink()
    result = run_cli("sweep.py", "--report", str(partial), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "11 runs, 1 missing" in result.stdout
    assert "missing (no metrics.json): `5`" in (partial / "results.md").read_text()
    assert len(list(csv.DictReader((partial / "results.csv").open()))) == 11
    assert (partial / "comparison.png").is_file() and (partial / "curves.png").is_file()


@pytest.mark.slow
def test_optuna_search_with_two_trials(tmp_path: Path) -> None:
    result = run_cli(
        "train.py", "hparams_search=optuna", "hydra.sweeper.n_trials=2", *CLI_TINY, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep_dir,) = (tmp_path / "logs" / "hparams_search" / "multiruns").iterdir()
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == ["0", "1"]
    best = (sweep_dir / "optimization_results.yaml").read_text()
    assert "best_params" in best and "optimizer.lr" in best
    values = [json.loads((sweep_dir / j / "metrics.json").read_text())["best_val/psnr"]
              for j in ("0", "1")]
    assert f"best_value: {max(values)}" in best  # maximized, as monitor_mode says


@pytest.mark.slow
def test_ddp_on_cpu_inside_a_multirun(tmp_path: Path) -> None:
    result = run_cli(
        "train.py", "-m", "trainer=ddp_cpu", "model.kernel_size=3,5", *CLI_TINY, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-4000:]
    logs = tmp_path / "logs" / "train"
    (sweep_dir,) = (logs / "multiruns").iterdir()
    jobs = sorted(p.name for p in sweep_dir.iterdir() if p.is_dir())
    assert jobs == ["0", "1"]  # the ranks did not re-run the sweep into new folders
    assert not (logs / "runs").exists()  # nor start single runs of their own
    assert (result.stdout + result.stderr).count("Launching 2 jobs locally") == 1
    for job in jobs:
        metrics = json.loads((sweep_dir / job / "metrics.json").read_text())
        assert metrics["status"] == "completed"
        assert metrics["global_step"] == 2  # trained once, two steps, not twice
        assert 0 < metrics["test/psnr"] < 100 and 0 < metrics["test/psnr_noisy"] < 100
        assert len(list((sweep_dir / job / "checkpoints").glob("*.ckpt"))) >= 1


@pytest.mark.slow
def test_wandb_offline_multirun_one_run_per_job_in_one_group(tmp_path: Path) -> None:
    result = run_cli("train.py", "-m", "logger=wandb", "model.depth=2,3", *CLI_TINY, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep_dir,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    ids = set()
    for job in ("0", "1"):
        runs = list((sweep_dir / job / "wandb").glob("offline-run-*"))
        assert len(runs) == 1, f"job {job} has {len(runs)} W&B runs"
        ids.add((sweep_dir / job / "wandb_id.txt").read_text().strip())
        record = next(runs[0].glob("*.wandb")).read_bytes()
        assert sweep_dir.name.encode() in record  # the group, named after the multirun
        assert f"model.depth={2 if job == '0' else 3}".encode() in record  # tagged with overrides
        assert b"train/loss" in record
    assert len(ids) == 2


@pytest.mark.slow
def test_resume_keeps_the_wandb_run_id(tmp_path: Path) -> None:
    first = run_cli("train.py", "logger=wandb", *CLI_TINY, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    run_id = (run_dir / "wandb_id.txt").read_text().strip()
    resumed = run_cli(
        "train.py", "logger=wandb", *CLI_TINY, "trainer.max_epochs=2",
        f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}", "hydra.run.dir=" + str(tmp_path / "resumed"),
        cwd=tmp_path,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (tmp_path / "resumed" / "wandb_id.txt").read_text().strip() == run_id
    (offline,) = (tmp_path / "resumed" / "wandb").glob("offline-run-*")
    assert offline.name.endswith(run_id)


@pytest.mark.parametrize("launcher", config_files("launcher"))
def test_launcher_configs_compose(launcher: str, tmp_path: Path) -> None:
    cfg = compose_train(tmp_path, [f"launcher={launcher}"])
    assert "Launcher" in cfg.hydra.launcher._target_


def test_slurm_launcher_renders_a_job(tmp_path: Path) -> None:
    pytest.importorskip("submitit")
    cfg = compose_train(tmp_path, ["launcher=slurm", "trainer=ddp", "trainer.devices=4",
                                   "hydra.launcher.partition=gpu"])
    launcher = cfg.hydra.launcher
    from submitit.slurm.slurm import _make_sbatch_string  # what sbatch would be sent

    script = _make_sbatch_string(
        command="python train.py", folder=tmp_path, job_name="restorelab",
        time=launcher.timeout_min, partition=launcher.partition, nodes=launcher.nodes,
        ntasks_per_node=launcher.tasks_per_node, gpus_per_node=launcher.gpus_per_node,
        cpus_per_task=launcher.cpus_per_task, mem=f"{launcher.mem_gb}GB",
    )
    for line in ("#SBATCH --partition=gpu", "#SBATCH --ntasks-per-node=4",
                 "#SBATCH --gpus-per-node=4", "#SBATCH --time=240"):
        assert line in script


@pytest.mark.parametrize("study", config_files("sweep"))
def test_study_configs_compose(study: str, tmp_path: Path) -> None:
    cfg = compose_train(tmp_path, [f"sweep={study}"])
    assert cfg.hydra.sweeper.params, f"sweep={study} sweeps nothing"


@pytest.mark.parametrize("search", config_files("hparams_search"))
def test_search_configs_compose(search: str, tmp_path: Path) -> None:
    cfg = compose_train(tmp_path, [f"hparams_search={search}"])
    assert cfg.hydra.sweeper.params
    assert cfg.hydra.sweeper.direction == "maximize"  # follows monitor_mode: max
    flipped = compose_train(tmp_path, [f"hparams_search={search}", "monitor_mode=min"])
    assert flipped.hydra.sweeper.direction == "minimize"
