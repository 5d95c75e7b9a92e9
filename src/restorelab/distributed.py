"""DDP inside Hydra runs and multiruns: the fixes Lightning's script launcher needs.

Lightning starts ranks 1..N-1 by re-running the command line. Inside a Hydra multirun that
command is the whole sweep (`-m` and every swept value), so each rank would re-run the sweep and
write extra output folders. Here ranks are started with the job's own overrides instead, as a
single run writing into the job's folder. After a job, the process group and the environment
variables the launcher set are cleared, so the next job of the sweep starts its own ranks
instead of believing they already exist. And a process group that never forms (a node that
never starts) ends in one line that says who was expected where, not in a traceback.

Every rank is seeded with the same `seed`, which keeps the nets' initial weights equal, but the
data would then be equal too: the random crops (drawn in the main process when `num_workers` is
0) and the noise (drawn on the device) repeat across ranks, and N ranks train on one rank's
batches N times. `RankSeeds` re-seeds each rank above 0 with its own stream once the ranks
exist.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import lightning as L
import torch.distributed

# Set by Lightning's subprocess launcher in the parent process; their presence makes the next
# job think its ranks were started externally (LightningEnvironment.creates_processes_externally).
_LAUNCHER_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


# The command that starts a training job, before its overrides. Empty: the script this process
# runs (`python train.py`); `restorelab train` sets its own, since its argv[0] is the `restorelab`
# command without the `train` that selects the job.
JOB_COMMAND: list[str] = []


def hydra_job_command(local_rank: int) -> tuple[Sequence[str], str]:
    """The command that starts `local_rank` of the current Hydra job (run or multirun job)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.utils import get_original_cwd, to_absolute_path

    hydra_cfg = HydraConfig.get()
    start = JOB_COMMAND or [sys.executable, to_absolute_path(sys.argv[0])]
    command = [*start, *hydra_cfg.overrides.task]
    command += [
        f'hydra.run.dir="{hydra_cfg.runtime.output_dir}"',
        f"hydra.job.name={hydra_cfg.job.name}_rank{local_rank}",
        "hydra.output_subdir=null",  # rank 0 already wrote the job's .hydra/ folder
    ]
    return command, get_original_cwd()


def use_job_command_for_ranks() -> None:
    """Makes Lightning start the other ranks of a Hydra job with `hydra_job_command`."""
    from lightning.pytorch.strategies.launchers import subprocess_script

    subprocess_script._hydra_subprocess_cmd = hydra_job_command


class RankSeeds(L.Callback):
    """Gives every rank of a distributed run its own random stream for data and noise: rank 0
    keeps `seed`, rank r > 0 takes one derived from (`seed`, r). Runs when the ranks exist, after
    the nets were built from `seed` (DDP broadcasts rank 0's weights anyway); workers of data
    loaders follow (Lightning seeds them from the rank's seed)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if trainer.world_size > 1 and trainer.global_rank > 0:
            L.seed_everything(rank_seed(self.seed, trainer.global_rank), workers=True,
                              verbose=False)


def rank_seed(seed: int, rank: int) -> int:
    """The seed of `rank` (0 keeps `seed`): a 32-bit value from NumPy's SeedSequence, so that no
    rank's stream is another run's rank 0 (as `seed + rank` would be for seed + 1)."""
    import numpy as np

    if rank == 0:
        return seed
    return int(np.random.SeedSequence([seed, rank]).generate_state(1)[0])


def teardown(trainer: L.Trainer) -> None:
    """Ends the job's ranks so that the next job of a multirun starts cleanly."""
    launcher = getattr(trainer.strategy, "launcher", None)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    for process in getattr(launcher, "procs", []):
        process.wait(timeout=120)
    if trainer.world_size > 1 and trainer.global_rank == 0:
        for name in _LAUNCHER_VARIABLES:
            os.environ.pop(name, None)


def rendezvous_failure(error: BaseException, cfg: Any) -> str | None:
    """One line for a process group that did not form within the strategy's timeout (the other
    nodes never started, or cannot reach the master address); None for any other error."""
    joining = (torch.distributed.DistStoreError, torch.distributed.DistNetworkError)
    if not isinstance(error, joining):
        return None
    trainer = cfg.get("trainer") or {}
    nodes, devices = trainer.get("num_nodes", 1), trainer.get("devices", 1)
    where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
    detail = " ".join(str(error).split()).split(" Exception raised from")[0]
    return (
        f"the {nodes} x {devices} processes of trainer.num_nodes={nodes} trainer.devices={devices} "
        f"did not all join at {where} ({detail}): start every node's process with the same "
        f"MASTER_ADDR and MASTER_PORT and NODE_RANK=0..{nodes - 1} (srun and torchrun set them), "
        "raise trainer.strategy.timeout.seconds if nodes start late, or train on one node with "
        "trainer.num_nodes=1"
    )
