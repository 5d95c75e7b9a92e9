"""Clusters for real: studies on a Slurm cluster of one machine (two nodes, started by
`.ci/slurm.sh`), jobs that Slurm kills, data parallel across two nodes on loopback, and the bad
input of each (a partition Slurm lacks, nodes that never join, a GPU trainer without a GPU)."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from conftest import CLI_TINY, ROOT, compose_train
from test_faults import assert_one_line_error

from restorelab.errors import ConfigError
from restorelab.preflight import check_config

# One test process (pytest-xdist's loadgroup) for every test here: they share the cluster's two
# CPUs and the session fixture that starts and stops its daemons.
pytestmark = pytest.mark.xdist_group("slurm")

SLURM_SCRIPT = ROOT / ".ci" / "slurm.sh"
SLURM_DIR = Path(os.environ.get("RESTORELAB_SLURM_DIR", "/tmp/restorelab-slurm"))
# A job of the test cluster: one of its two CPUs, a little memory, no GPU (trainer=cpu).
SLURM_JOB = ["launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1",
             "hydra.launcher.timeout_min=10"]
# A small training job on the CPU: 4 steps an epoch, each epoch validated on 64 x 64 images.
SMALL_TRAINING = ["trainer=cpu", "data.patch_size=32", "data.eval_size=64", "data.batch_size=2",
                  "data.samples_per_epoch=8", "model.base_channels=8",
                  "callbacks.rich_progress_bar=null", "callbacks.model_summary=null",
                  "callbacks.image_grid=null"]
# Generous: a loaded 2-core machine runs these in tens of seconds, a hang would run forever.
TIMEOUT = 600


def _slurm_answers(env: dict[str, str]) -> bool:
    try:
        done = subprocess.run(["sinfo", "--noheader"], env=env, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _start_slurm() -> tuple[dict[str, str] | None, str, bool]:
    """(client environment, why not, whether this call started the daemons)."""
    # RESTORELAB_SLURM=off runs the tests' paths without Slurm; =required (.ci/run) fails
    # the Slurm tests instead of skipping them when no cluster answers.
    if os.environ.get("RESTORELAB_SLURM") == "off":
        return None, "RESTORELAB_SLURM=off", False
    env = {**os.environ, "SLURM_CONF": str(SLURM_DIR / "slurm.conf")}
    if _slurm_answers(env):
        return env, "", False
    if shutil.which("slurmctld") is None:
        why = "Slurm is not installed (`bash .ci/slurm.sh --install` as root sets it up)"
        return None, why, False
    try:
        done = subprocess.run(["bash", str(SLURM_SCRIPT)], capture_output=True, text=True,
                              timeout=180)
    except subprocess.TimeoutExpired:
        return None, ".ci/slurm.sh did not finish within 180 s", False
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no message"]
        return None, f"the local Slurm cluster did not start: {lines[-1]}", False
    return env, "", True


@pytest.fixture(scope="session")
def slurm_session() -> Iterator[tuple[dict[str, str] | None, str]]:
    """(environment of Slurm's clients for the one-machine cluster, or None and why not); the
    daemons this fixture started are stopped at the end of the session."""
    env, why, started = _start_slurm()
    yield env, why
    if started:
        subprocess.run(["bash", str(SLURM_SCRIPT), "--stop"], capture_output=True, timeout=60)


@pytest.fixture
def slurm_cluster(slurm_session: tuple[dict[str, str] | None, str]) -> dict[str, str] | None:
    return slurm_session[0]


@pytest.fixture
def slurm(slurm_session: tuple[dict[str, str] | None, str]) -> dict[str, str]:
    env, why = slurm_session
    if env is None:
        if os.environ.get("RESTORELAB_SLURM") == "required":  # .ci/run started one
            pytest.fail(f"RESTORELAB_SLURM=required, but {why}")
        pytest.skip(why)
    return env


def _env(cwd: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, **(extra or {}), "RESTORELAB_ROOT": str(cwd), "WANDB_MODE": "offline",
           "WANDB_SILENT": "true", "OMP_NUM_THREADS": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    env.pop("WANDB_API_KEY", None)
    return env


def _start(script: str, *args: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / script), *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen, timeout: int = TIMEOUT) -> subprocess.CompletedProcess:
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        pytest.fail(f"{process.args[1:3]} did not end within {timeout} s:\n{stderr[-3000:]}")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _run(script: str, *args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return _finish(_start(script, *args, cwd=cwd, env=env))


def _wait_for(pattern: str, root: Path, what: str, timeout: float = TIMEOUT) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(root.glob(pattern))
        if found:
            return found[0]
        time.sleep(0.5)
    pytest.fail(f"{what}: nothing matched {root}/{pattern} within {timeout} s")


def _stop_all(multirun: subprocess.Popen, multiruns: Path, env: dict[str, str]) -> None:
    """Kills the multirun and cancels its Slurm jobs, should the test have failed first."""
    if multirun.poll() is None:
        multirun.kill()
    for slurm_dir in multiruns.glob("*/.submitit/*_*"):
        subprocess.run(["scancel", slurm_dir.name], env=env, capture_output=True, timeout=60)


def _metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ------------------------------------------------------------------------ studies on Slurm
@pytest.mark.slow
def test_a_study_runs_its_jobs_under_slurm_and_reports(
    slurm: dict[str, str], tmp_path: Path
) -> None:
    result = _run(
        "sweep.py", "model.kernel_size=3", "model.depth=2", *SLURM_JOB, "trainer=cpu", *CLI_TINY,
        cwd=tmp_path, env=_env(tmp_path, slurm),
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    (sweep_dir,) = (tmp_path / "logs" / "sweep_architecture" / "multiruns").iterdir()
    rows = list(csv.DictReader((sweep_dir / "results.csv").open()))
    assert sorted(r["model.skip"] for r in rows) == ["concat", "none"]  # the 2 jobs of the study
    assert all(float(r["test/psnr"]) > 0 for r in rows)
    for name in ("results.md", "comparison.png", "curves.png"):
        assert (sweep_dir / name).is_file(), name
    for job in ("0", "1"):
        assert _metrics(sweep_dir / job)["status"] == "completed"
        # Hydra's job id is Slurm's (array job _ task), and Slurm's log of it is there.
        hydra_cfg = (sweep_dir / job / ".hydra" / "hydra.yaml").read_text()
        slurm_id = re.search(r"^    id: '?(\d+_\d+)'?$", hydra_cfg, re.MULTILINE).group(1)
        assert slurm_id.endswith(f"_{job}")
        slurm_log = (sweep_dir / ".submitit" / slurm_id / f"{slurm_id}_0_log.out").read_text()
        assert f"Starting with JobEnvironment(job_id={slurm_id}" in slurm_log


@pytest.mark.slow
def test_jobs_that_slurm_stops_are_reported_missing_not_crashed(
    slurm: dict[str, str], tmp_path: Path
) -> None:
    """A plain `train.py -m` through the Slurm launcher: job 0 finishes; job 1 gets the warning
    Slurm sends before a time limit (SIGUSR2, `scancel --signal`), job 2 is cancelled."""
    env = _env(tmp_path, slurm)
    multirun = _start(
        "train.py", "-m", "trainer.max_epochs=1,10000,10000", *SLURM_JOB, *SMALL_TRAINING,
        cwd=tmp_path, env=env,
    )
    multiruns = tmp_path / "logs" / "train" / "multiruns"
    try:
        # Each long job is stopped once it trains: after its first validation is logged.
        for job, stop in (("1", ["--signal=USR2"]), ("2", [])):
            _wait_for(f"*/{job}/csv/metrics.csv", multiruns, f"job {job} training")
            slurm_dir = _wait_for(f"*/.submitit/*_{job}", multiruns, f"job {job} submitted")
            subprocess.run(["scancel", *stop, slurm_dir.name], env=env, check=True, timeout=60)
        result = _finish(multirun)
    finally:
        _stop_all(multirun, multiruns, env)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "2 of 3 Slurm jobs did not finish" in output, output[-3000:]
    assert "Slurm says CANCELLED" in output
    (sweep_dir,) = multiruns.iterdir()
    assert _metrics(sweep_dir / "0")["status"] == "completed"
    for job in ("1", "2"):
        stopped = _metrics(sweep_dir / job)
        assert (stopped["status"], stopped["signal"]) == ("interrupted", "SIGTERM"), stopped
        assert (sweep_dir / job / "checkpoints" / "interrupted.ckpt").is_file()

    report = _run("sweep.py", "--report", str(sweep_dir), cwd=tmp_path, env=env)
    assert report.returncode == 0, report.stderr[-3000:]
    assert "1 runs, 2 missing" in report.stdout
    table = (sweep_dir / "results.md").read_text()
    for job in ("1", "2"):
        assert re.search(rf"missing \(interrupted at step \d+\): `{job}`", table), table
    assert "failed" not in table


@pytest.mark.slow
def test_a_job_requeued_at_the_time_limit_warning_continues_from_its_checkpoint(
    slurm: dict[str, str], tmp_path: Path
) -> None:
    """With requeues asked for (`hydra.launcher.max_num_timeout`), Slurm's warning before the time
    limit stops the run at a checkpoint, the job is requeued, and the requeued job continues from
    that step in its folder: one history, no epoch trained twice, the multirun ends as done."""
    env = _env(tmp_path, slurm)
    epochs = 40  # 4 steps each: long enough that the warning comes mid-run on any machine
    multirun = _start(
        "train.py", "-m", f"trainer.max_epochs={epochs}", "seed=0,1", *SLURM_JOB,
        "hydra.launcher.max_num_timeout=2", *SMALL_TRAINING, cwd=tmp_path, env=env,
    )
    multiruns = tmp_path / "logs" / "train" / "multiruns"
    try:
        _wait_for("*/1/csv/metrics.csv", multiruns, "job 1 training")
        job_id = _wait_for("*/.submitit/*_1", multiruns, "job 1 submitted").name
        subprocess.run(["scancel", "--signal=USR2", job_id], env=env, check=True, timeout=60)
        result = _finish(multirun)
    finally:
        _stop_all(multirun, multiruns, env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    (sweep_dir,) = multiruns.iterdir()
    run = sweep_dir / "1"
    metrics = _metrics(run)
    assert (metrics["status"], metrics["global_step"]) == ("completed", 4 * epochs), metrics
    (resumed,) = metrics["resumes"]  # requeued once, from the checkpoint the warning saved
    assert resumed["checkpoint"] == str(run / "checkpoints" / "interrupted.ckpt")
    assert resumed["previous_status"] == "interrupted"
    assert 0 < resumed["global_step"] < 4 * epochs
    # One history: each epoch validated once, in order (a job trained again from step 0 would
    # have restarted the file, or repeated the first epochs). A warning that came during an
    # epoch's validation leaves that epoch unvalidated: Lightning resumes at the next epoch.
    rows = list(csv.DictReader((run / "csv" / "metrics.csv").open()))
    validated = [int(r["epoch"]) for r in rows if r.get("val/psnr")]
    assert validated == sorted(set(validated)), validated
    step = resumed["global_step"]
    assert set(range(epochs)) - set(validated) <= ({step // 4 - 1} if step % 4 == 0 else set())
    logs = sweep_dir / ".submitit" / job_id
    slurm_log = "".join(path.read_text() for path in sorted(logs.glob(f"{job_id}_0_log.*")))
    assert "Requeued job" in slurm_log, slurm_log[-3000:]  # submitit's line
    assert "Slurm requeued this job (SLURM_RESTART_COUNT=1): it continues from" in slurm_log
    assert _metrics(sweep_dir / "0")["status"] == "completed"  # the other job, not warned


# A Slurm job's process, without Slurm: the launcher's __call__ around a run that stops on
# SIGTERM (as train.main does), with a stand-in for submitit's SIGUSR2 handler.
_WARNED_JOB = """
import logging, os, signal, sys, time
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as Submitit
from hydra_plugins.restorelab_launchers.slurm import SlurmLauncher
from restorelab import interrupts

logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
max_num_timeout, send, handler_fails = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
late = int(sys.argv[4])  # seconds the stop takes (the step, the checkpoint's save)

def submitit_handler(signum, frame):  # what submitit installs: requeue, then exit
    print("handler called; the run had stopped:", interrupts.received() == "SIGTERM", flush=True)
    if handler_fails:
        raise RuntimeError("Job not requeued because: timed-out too many times.")
    print("requeued", flush=True)
    sys.exit(255)

def run(self, *args):  # the job: trains until a stop signal, then stops as train.main does
    os.kill(os.getpid(), getattr(signal, send))
    for _ in range(200):
        if interrupts.received():
            time.sleep(late)
            print("run stopped", flush=True)
            raise interrupts.RunStopped(143)
        time.sleep(0.01)
    return "completed"

warning = "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2")  # as submitit reads it
signal.signal(getattr(signal, warning), submitit_handler)
Submitit.__call__ = run
SlurmLauncher(max_num_timeout=max_num_timeout, signal_delay_s=31)()  # a fallback after 1 s
"""


@pytest.mark.parametrize(
    ("max_num_timeout", "send", "handler_fails", "late", "exit_code", "lines", "absent"),
    [
        (2, "SIGUSR2", "0", 0, 255, ["run stopped\nhandler called; the run had stopped: True",
                                     "requeued"], []),
        (2, "SIGUSR2", "1", 0, 143,
         ["the job is not requeued (Job not requeued because: timed-out"], ["requeued\n"]),
        # A stop that outlasts the warning's margin: requeued as submitit would, mid-stop.
        (2, "SIGUSR2", "0", 20, 255, ["handler called", "requeued"], ["run stopped"]),
        (0, "SIGUSR2", "0", 0, 143, [], ["handler called"]),  # no requeues asked for: stop, keep
        (2, "SIGTERM", "0", 0, 143, [], ["handler called"]),  # scancel: stopped, not requeued
        # SUBMITIT_PREEMPT_SIGNAL=USR1: submitit asks Slurm for SIGUSR1 and handles that one.
        (2, "SIGUSR1", "0", 0, 255, ["run stopped\nhandler called; the run had stopped: True",
                                     "requeued"], []),
    ],
    ids=["requeued-after-the-stop", "last-time-out", "late-stop", "no-requeues", "cancelled",
         "other-signal"],
)
def test_the_time_limit_warning_stops_the_run_before_submitit_requeues_it(
    tmp_path: Path, max_num_timeout: int, send: str, handler_fails: str, late: int,
    exit_code: int, lines: list[str], absent: list[str],
) -> None:
    script = tmp_path / "job.py"
    script.write_text(_WARNED_JOB)
    command = [sys.executable, str(script), str(max_num_timeout), send, handler_fails, str(late)]
    env = {**os.environ, "SUBMITIT_PREEMPT_SIGNAL": send.removeprefix("SIG")}
    if send == "SIGTERM":
        del env["SUBMITIT_PREEMPT_SIGNAL"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env=env)
    output = done.stdout + done.stderr
    assert done.returncode == exit_code, output[-3000:]
    for line in lines:
        assert line in output, output[-3000:]
    for line in absent:
        assert line not in output, output[-3000:]


# ------------------------------------------------------------------ two nodes, one machine
# Whole test images, 4 of them: the two ranks score 2 each (coffee and hubble_deep_field on
# rank 0, gravel and moon on rank 1). Their noisy PSNRs are 21.3 and 20.2 dB, the four together
# 20.8: a metric that was not reduced across the nodes would miss the single process's by 0.5 dB.
DATA = ["data.patch_size=32", "data.eval_size=null", "+data.test_fraction=0.25",
        "data.samples_per_epoch=16", "model.base_channels=8", "trainer.max_epochs=1",
        "callbacks.rich_progress_bar=null", "callbacks.model_summary=null",
        "callbacks.image_grid=null"]
# The same global batch: 4 images a step, in one process or as 2 per node on 2 nodes.
ONE_PROCESS = ["trainer=cpu", "data.batch_size=4"]
TWO_NODES = ["trainer=ddp_cpu", "trainer.devices=1", "trainer.num_nodes=2", "data.batch_size=2",
             "trainer.strategy.timeout.seconds=300"]


def _slurm_environment(node: int, port: int) -> dict[str, str]:
    """What srun gives task `node` of `sbatch --nodes=2 --ntasks-per-node=1`, on loopback."""
    return {
        "SLURM_JOB_ID": "4242", "SLURM_JOB_NAME": "train", "SLURM_NNODES": "2",
        "SLURM_NTASKS": "2", "SLURM_NTASKS_PER_NODE": "1", "SLURM_NODELIST": "node[1-2]",
        "SLURM_NODEID": str(node), "SLURM_PROCID": str(node), "SLURM_LOCALID": "0",
        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
    }


@pytest.mark.slow
def test_two_nodes_train_like_one_process_with_the_same_global_batch(
    slurm_cluster: dict[str, str] | None, tmp_path: Path
) -> None:
    """Lightning DDP across 2 nodes of 1 process each, gloo on loopback: under the Slurm
    cluster when it runs here (2 nodes, 1 task each), else the two node processes are started
    with the environment Slurm would give them, each node writing to a folder of its own."""
    single = _start("train.py", *ONE_PROCESS, *DATA, f"hydra.run.dir={tmp_path / 'single'}",
                    cwd=tmp_path, env=_env(tmp_path))
    if slurm_cluster is not None:
        # MASTER_ADDR: the nodes' names resolve nowhere here; a real cluster's do.
        env = _env(tmp_path, {**slurm_cluster, "MASTER_ADDR": "127.0.0.1"})
        result = _run("train.py", "-m", *TWO_NODES, *DATA, *SLURM_JOB, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
        (sweep_dir,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
        writer = sweep_dir / "0"
        (slurm_dir,) = [p for p in (sweep_dir / ".submitit").iterdir() if p.is_dir()]
        logs = "".join(p.read_text() for p in sorted(slurm_dir.glob("*_log.*")))
        for rank in (0, 1):  # one task on each Slurm node, each a rank of one process group
            assert f"node={rank}(2), global_rank={rank}(2)" in logs
            assert f"GLOBAL_RANK: {rank}, MEMBER: {rank + 1}/2" in logs
        # Rank 0 alone reports (the config tree, the results table); the folder is shared.
        task0, task1 = (
            (slurm_dir / f"{slurm_dir.name}_{task}_log.out").read_text() for task in (0, 1)
        )
        assert "test results" in task0 and "── data" in task0
        assert "test results" not in task1 and "── data" not in task1
    else:
        port = _free_port()
        nodes = [
            _start("train.py", *TWO_NODES, *DATA, f"hydra.run.dir={tmp_path / f'node{node}'}",
                   cwd=tmp_path, env=_env(tmp_path, _slurm_environment(node, port)))
            for node in (0, 1)
        ]
        for node, process in enumerate(nodes):
            done = _finish(process)
            assert done.returncode == 0, f"node {node}:\n{done.stderr[-3000:]}"
        writer = tmp_path / "node0"
        # Only rank 0 writes results: node 1's folder holds its own log and nothing else.
        assert not any((tmp_path / "node1").glob("*.json"))
        for output in ("checkpoints", "csv", "images", "config_tree.log"):
            assert not (tmp_path / "node1" / output).exists(), output
    done = _finish(single)
    assert done.returncode == 0, done.stderr[-3000:]

    one, two = _metrics(tmp_path / "single"), _metrics(writer)
    assert one["status"] == two["status"] == "completed"
    assert one["global_step"] == two["global_step"] == 4  # 16 crops / 4 a step, in both
    assert len(list((writer / "checkpoints").glob("*.ckpt"))) >= 1
    # Same images; the noise differs (seeded per rank), which moves PSNR by hundredths of a dB.
    assert abs(one["test/psnr_noisy"] - two["test/psnr_noisy"]) < 0.05
    assert abs(one["test/psnr"] - two["test/psnr"]) < 0.2
    assert abs(one["val/psnr"] - two["val/psnr"]) < 0.2
    assert abs(one["test/ssim"] - two["test/ssim"]) < 0.01


# --------------------------------------------------------------- bad input: one line each
def test_nodes_that_never_join_end_in_one_line_after_the_timeout(tmp_path: Path) -> None:
    """trainer.num_nodes=2, and only node 0 is ever started."""
    node0 = {"NODE_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port())}
    result = _run(
        "train.py", "trainer=ddp_cpu", "trainer.devices=1", "trainer.num_nodes=2",
        "trainer.strategy.timeout.seconds=10", *CLI_TINY, cwd=tmp_path, env=_env(tmp_path, node0),
    )
    assert_one_line_error(result, "did not all join at 127.0.0.1", "1/2 clients joined",
                          "NODE_RANK=0..1", "trainer.num_nodes=1")


def test_a_partition_that_slurm_lacks_is_one_line(slurm: dict[str, str], tmp_path: Path) -> None:
    result = _run("train.py", "-m", "model.depth=2,3", *SLURM_JOB, "trainer=cpu",
                  "hydra.launcher.partition=nowhere", cwd=tmp_path, env=_env(tmp_path, slurm))
    assert_one_line_error(result, "hydra.launcher.partition=nowhere", "(it has debug)")
    assert not list(tmp_path.glob("logs/train/multiruns/*/.submitit"))  # nothing was submitted


def test_the_slurm_launcher_without_sbatch_is_one_line(tmp_path: Path) -> None:
    result = _run("train.py", "-m", "model.depth=2,3", *SLURM_JOB, "trainer=cpu", cwd=tmp_path,
                  env={**_env(tmp_path), "PATH": str(Path(sys.executable).parent)})
    assert_one_line_error(result, "launcher=slurm submits with sbatch", "launcher=joblib")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize(
    ("trainer", "advice"), [("gpu", "trainer=cpu"), ("ddp", "trainer=ddp_cpu")]
)
def test_a_gpu_trainer_without_a_gpu_says_how_to_run_on_the_cpu(
    trainer: str, advice: str, tmp_path: Path
) -> None:
    message = rf"no GPU that PyTorch can use: run on the CPU with {advice}"
    with pytest.raises(ConfigError, match=message):
        check_config(compose_train(tmp_path, [f"trainer={trainer}"]))


@pytest.mark.parametrize(("trainer", "gpus"), [("cpu", None), ("ddp_cpu", None), ("ddp", 4)])
def test_slurm_jobs_ask_for_gpus_only_for_gpu_trainers(
    trainer: str, gpus: int | None, tmp_path: Path
) -> None:
    cfg = compose_train(tmp_path, ["launcher=slurm", f"trainer={trainer}"])
    assert cfg.hydra.launcher.gpus_per_node == gpus
    assert cfg.hydra.launcher.tasks_per_node == cfg.trainer.devices  # one task per device
