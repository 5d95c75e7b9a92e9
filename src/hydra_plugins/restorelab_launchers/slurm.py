"""Hydra's submitit Slurm launcher (`launcher=slurm`), with three changes for studies.

Hydra loads launchers from the `hydra_plugins` namespace only, hence this module's place.

- It checks the cluster before submitting: no `sbatch` on this machine, or a partition Slurm
  does not have, is one line that says what to do, not a traceback after the submission.
- It waits for every job, and asks Slurm itself (`squeue`) whether a job ended. Submitit asks
  `sacct`, which answers nothing on clusters without accounting, so a job that ended without a
  result (cancelled, out of time, killed for memory) left the multirun waiting forever; and it
  raised at the first failed job while the others still ran. Here the multirun returns when all
  jobs ended, with one line naming the ones that did not finish; `sweep.py` then reports the
  study, the unfinished jobs listed as missing.
- Inside a job, Slurm's warning before the time limit (submitit asks for SIGUSR2, or the signal
  `SUBMITIT_PREEMPT_SIGNAL` names, `signal_delay_s` seconds ahead) stops the run as SIGTERM
  does: `checkpoints/interrupted.ckpt` is saved and `metrics.json` says "interrupted", so a job
  out of time reads as stopped, not as a crash.
  (Submitit, with `max_num_timeout: 0`, would fail it mid-step.) With `max_num_timeout` above 0
  the job is then requeued, as submitit does, and the requeued job continues from that
  checkpoint instead of starting over (submitit's requeue came mid-step, and the job trained
  again from step 0 in its folder).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra.errors import CompactHydraException
from omegaconf import OmegaConf

try:
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as _Submitit
except ImportError:  # no `sweeps` extra: nothing to extend, and nothing for Hydra to register
    _Submitit = object  # type: ignore[assignment,misc]

from restorelab.errors import ConfigError, RestoreLabError
from restorelab import interrupts

log = logging.getLogger(__name__)

# Slurm job states in which a job may still produce its result.
_ACTIVE = {
    "PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD",
    "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED",
}
POLL_SECONDS = 2.0
MAX_POLL_SECONDS = 30.0
# How long a job that Slurm says ended may take to show its result file (a slow shared disk).
RESULT_GRACE_SECONDS = 30.0


class SlurmError(ConfigError):
    """The cluster refused the study (no sbatch, unknown partition, sbatch's own refusal)."""


class UnfinishedJobs(RestoreLabError, CompactHydraException):
    """Jobs of the multirun that ended without a result; the message names each and its state."""


class SlurmLauncher(_Submitit):
    """`hydra/launcher: submitit_slurm` with the checks, the waiting and the time-limit handling
    described in this module's docstring; its config keys are submitit's."""

    def __call__(self, *args: Any, **kwargs: Any) -> JobReturn:  # runs inside the Slurm job
        # Slurm's warning stops the run where it is, interrupted.ckpt saved. With requeues asked
        # for, submitit's own handler (which requeues the job and exits at once, mid-step) runs
        # after that stop, and the requeued job continues from the checkpoint (restorelab.train).
        interrupts.install()  # a warning while Hydra composes the job is not lost
        usr_sig = _warning_signal()
        requeue = signal.getsignal(usr_sig) if self.params.get("max_num_timeout") else None
        requeue = requeue if callable(requeue) else None
        warned: list[int] = []

        def warning(signum: int, frame: FrameType | None) -> None:
            if requeue is not None and not warned:
                # Should the stop not finish in time (a slow step, a slow disk), requeue as
                # submitit would, 30 s before Slurm's limit: the job must not end as TIMEOUT.
                delay = int(self.params.get("signal_delay_s") or 90)
                signal.signal(signal.SIGALRM, lambda *_: _requeue(requeue, usr_sig, "the stop was late"))
                signal.alarm(max(delay - 30, 1))
            warned.append(signum)
            _stop_as_sigterm(signum, frame)

        signal.signal(usr_sig, warning)
        try:
            return super().__call__(*args, **kwargs)
        except (interrupts.RunStopped, interrupts.SignalReceived):  # stopped, state saved
            if warned and requeue is not None:
                signal.alarm(0)
                _requeue(requeue, usr_sig, "the run stopped at its checkpoint")
            raise

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        try:
            self._check_cluster()
            jobs = self._submit(job_overrides, initial_job_idx)
        except SlurmError as error:  # nothing was submitted: one line, as train.py's errors
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            log.error("%s", error)
            raise SystemExit(1) from None
        return self._wait(jobs, job_overrides, initial_job_idx)

    def _check_cluster(self) -> None:
        if shutil.which("sbatch") is None:
            raise SlurmError(
                "launcher=slurm submits with sbatch, which this machine does not have: run the "
                "command on the cluster's login node, or run the jobs here with launcher=basic "
                "(in turn) or launcher=joblib (in parallel)"
            )
        partition = self.params.get("partition")
        if not partition:
            return
        listed = _run(["sinfo", "--noheader", "--format=%R"])
        partitions = sorted(set(listed.split())) if listed is not None else []
        unknown = [name for name in str(partition).split(",") if name not in partitions]
        if partitions and unknown:  # sbatch takes a comma-separated list
            raise SlurmError(
                f"hydra.launcher.partition={partition}: Slurm has no partition "
                f"{', '.join(unknown)} (it has {', '.join(partitions)}); choose one of them, or "
                "leave hydra.launcher.partition out for the cluster's default"
            )

    def _submit(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[Any]:
        """Submits the jobs as one Slurm array, as the submitit launcher does."""
        import submitit

        assert self.config is not None
        params = dict(self.params)
        folder = params.pop("submitit_folder")
        init_params: dict[str, Any] = {"folder": folder}
        if "max_num_timeout" in params:
            init_params["slurm_max_num_timeout"] = params.pop("max_num_timeout")
        executor = submitit.AutoExecutor(cluster="slurm", **init_params)
        shared = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{key if key in shared else f"slurm_{key}": value for key, value in params.items()}
        )
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
        log.info("Submitit 'slurm' sweep output dir : %s", sweep_dir)
        arguments = []
        for number, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info("\t#%d : %s", number, " ".join(filter_overrides(overrides)))
            arguments.append(
                (list(overrides), "hydra.sweep.dir", number, f"job_id_for_{number}",
                 Singleton.get_state())
            )
        try:
            return list(executor.map_array(self, *zip(*arguments)))
        except submitit.core.utils.FailedJobError as error:
            reason = " ".join(str(error).split()) or "no reason given"
            raise SlurmError(
                f"sbatch refused the jobs ({reason}); check hydra.launcher.partition, "
                "hydra.launcher.account and the resources asked for (hydra.launcher.*)"
            ) from None

    def _wait(
        self, jobs: list[Any], job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> list[JobReturn]:
        """Waits until every job has its result or Slurm says it ended; one return per job."""
        ended: dict[str, str] = {}  # job id -> Slurm's last state
        first_seen_ended: dict[str, float] = {}
        silent_since: float | None = None
        started = time.monotonic()
        while True:
            waiting_for = [job.job_id for job in jobs if not _has_result(job)]
            states = _states(waiting_for) if waiting_for else {}
            now = time.monotonic()
            if states is None:  # squeue did not answer: keep waiting, and say so once a minute
                silent_since = now if silent_since is None else silent_since
                if now - silent_since > 60:
                    log.warning("squeue has not answered for a minute; still waiting for the jobs")
                    silent_since = now
                states = {}
            pending = []
            for job in jobs:
                if _has_result(job):
                    continue
                state = states.get(job.job_id)
                if state is None or state in _ACTIVE:
                    pending.append(job)
                    continue
                ended[job.job_id] = state
                first = first_seen_ended.setdefault(job.job_id, now)
                if state == "COMPLETED" and now - first < RESULT_GRACE_SECONDS:
                    pending.append(job)  # its result file may still be on its way
            if not pending:
                break
            # Often at first, when short jobs end; then gently, for the controller's sake.
            time.sleep(min(MAX_POLL_SECONDS, POLL_SECONDS + (now - started) / 20))

        returns: list[JobReturn] = []
        unfinished: list[str] = []
        for number, (job, overrides) in enumerate(zip(jobs, job_overrides), start=initial_job_idx):
            if _has_result(job):
                try:
                    returns.append(job.results()[0])
                    continue
                except Exception as error:  # noqa: BLE001  a pickled failure: report it as one
                    detail = " ".join(str(error).split())[-300:]
            else:
                detail = _describe(job.job_id, ended.get(job.job_id, "ENDED"))
                detail += _run_status(Path(str(self.config.hydra.sweep.dir)) / str(number))
            unfinished.append(f"job {number} (Slurm job {job.job_id}): {detail}")
            returns.append(
                JobReturn(overrides=list(overrides), status=JobStatus.FAILED, _return_value=None)
            )
        if unfinished:
            sweep_dir = self.config.hydra.sweep.dir if self.config else "the sweep folder"
            error = UnfinishedJobs(
                f"{len(unfinished)} of {len(jobs)} Slurm jobs did not finish: "
                + "; ".join(unfinished)
                + f". `python sweep.py --report {sweep_dir}` reports the others and lists these "
                "as missing; each job's Slurm log is in its .submitit folder"
            )
            for job_return in returns:
                if job_return.status == JobStatus.FAILED and job_return._return_value is None:
                    job_return.return_value = error
        return returns


def _run_status(run_dir: Path) -> str:
    """What the job's own metrics.json says (a run stopped by SIGTERM wrote "interrupted")."""
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return ""
    return f"; its metrics.json says {metrics.get('status')} at step {metrics.get('global_step')}"


def _warning_signal() -> signal.Signals:
    """The signal submitit asks Slurm to send before the time limit (its `--signal`): SIGUSR2,
    or the one `SUBMITIT_PREEMPT_SIGNAL` names (read by submitit when it is imported)."""
    try:
        from submitit.core.job_environment import JobEnvironment

        return JobEnvironment._usr_sig()  # noqa: SLF001 (how submitit itself resolves it)
    except (ImportError, AttributeError, RuntimeError):
        return signal.SIGUSR2


def _requeue(handler: Any, signum: int, why: str) -> None:
    """Submitit's handler for Slurm's warning: pickles the job, requeues it and exits. When it
    cannot (the last time-out `max_num_timeout` allows, a failed `scontrol requeue`), the job
    ends as a stopped one, its metrics.json "interrupted", as without requeues."""
    try:
        handler(signum, None)
    except Exception as error:  # submitit's UncompletedJobError, scontrol's CalledProcessError
        log.warning("Slurm's time-limit warning: the job is not requeued (%s)", error)
    else:  # on a DDP rank other than 0 submitit's handler returns: rank 0 requeues the job
        log.info("Slurm's time-limit warning (%s): rank 0 requeues the job", why)


def _stop_as_sigterm(signum: int, frame: object) -> None:
    # Lightning turns SIGTERM into a clean stop after the current step (see restorelab.train).
    os.kill(os.getpid(), signal.SIGTERM)


def _has_result(job: Any) -> bool:
    return all(job.task(task).paths.result_pickle.exists() for task in range(job.num_tasks))


def _run(command: list[str]) -> str | None:
    """A Slurm client command's output, None when it fails."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _states(job_ids: list[str]) -> dict[str, str] | None:
    """Slurm's state of each job, "ENDED" for a job it has forgotten; None when squeue does not
    answer (the daemon is down or unreachable), so the caller keeps waiting. One squeue call per
    array (`12_0`, `12_1`, ... are the tasks of array 12), however many jobs it holds."""
    states = {}
    for array_id in sorted({job_id.split("_")[0] for job_id in job_ids}):
        try:
            done = subprocess.run(
                ["squeue", "--noheader", "--array", "--states=all", "--format=%i %T",
                 f"--jobs={array_id}"],
                capture_output=True, text=True, timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        if done.returncode != 0 and "invalid job id" not in done.stderr.lower():
            return None
        for line in done.stdout.splitlines():
            fields = line.split()
            if len(fields) == 2:
                states[fields[0]] = fields[1]
    # Not listed: purged from the controller's memory (MinJobAge) after it ended.
    return {job_id: states.get(job_id, "ENDED") for job_id in job_ids}


def _describe(job_id: str, state: str) -> str:
    """`Slurm says CANCELLED (exit 0:15)`, from scontrol while Slurm still holds the record."""
    record = _run(["scontrol", "--oneliner", "show", "job", job_id]) or ""
    fields = dict(item.split("=", 1) for item in record.split() if "=" in item)
    state = fields.get("JobState", state)
    exit_code = fields.get("ExitCode")
    reason = fields.get("Reason")
    details = [f"exit {exit_code}"] if exit_code else []
    if reason and reason not in ("None", "(null)"):
        details.append(reason)
    return "Slurm says " + state + (f" ({', '.join(details)})" if details else "")
