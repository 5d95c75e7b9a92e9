"""A budget of CPU time for training: `CPUTimeBudget` stops fitting once the process has used
it, as `trainer.max_time` stops it on wall-clock time, so that the runs of a study get equal
budgets on a loaded or shared machine (`callbacks=with_cpu_budget`)."""

from __future__ import annotations

import time
from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_info


def parse_duration(value: float | str) -> float:
    """Seconds from a number of seconds or a `[[DD:]HH:]MM:SS` string, as `trainer.max_time` is
    written ("00:00:06:00" is six minutes)."""
    if isinstance(value, bool):
        raise ValueError(f"a duration is seconds or DD:HH:MM:SS, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        parts = str(value).strip().split(":")
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            raise ValueError(
                f"a duration is seconds or DD:HH:MM:SS, e.g. 360 or 00:00:06:00, got {value!r}"
            ) from None
        if not 1 <= len(numbers) <= 4:
            raise ValueError(f"a duration is seconds or DD:HH:MM:SS, got {value!r}")
        seconds = 0.0
        for number, unit in zip(reversed(numbers), (1, 60, 3600, 86400)):
            seconds += number * unit
    if not seconds > 0:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return seconds


class CPUTimeBudget(L.Callback):
    """Stops training once the process has used `budget` of CPU time, as `trainer.max_time` stops
    it on wall-clock time: `callbacks=with_cpu_budget callbacks.cpu_budget.budget=00:00:06:00`.

    CPU time (`time.process_time`: every thread of this process, validation included) is what a
    run costs whatever else the machine runs, so runs on a shared or loaded machine, or on nodes
    of different speeds in load, get equal budgets where a wall-clock budget would give the
    runs that shared the machine fewer steps. Run with `OMP_NUM_THREADS=1` for budgets that
    compare across runs: threads that wait on a busy core spin, and spinning is counted.
    Data-loader workers are other processes and not counted; the in-memory sets load none.

    The budget is checked after every training step (all ranks stop together, on rank 0's
    count); validation then runs once more, as on any requested stop. A resumed run goes on with
    what its checkpoint had left.
    """

    def __init__(self, budget: float | str) -> None:
        super().__init__()
        self.budget = parse_duration(budget)
        self.used = 0.0        # CPU seconds spent in fitting, over every resumed run
        self._mark: float | None = None
        self.stopped_at_step: int | None = None

    def _tick(self) -> None:
        now = time.process_time()
        if self._mark is not None:
            self.used += now - self._mark
        self._mark = now

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._mark = time.process_time()

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self._tick()
        should_stop = trainer.strategy.broadcast(self.used >= self.budget)
        if should_stop and not trainer.should_stop:
            self.stopped_at_step = trainer.global_step
            rank_zero_info(f"CPU budget spent: {self.used:.0f} of {self.budget:.0f} CPU seconds "
                           f"at step {trainer.global_step}; stopping")
        trainer.should_stop = trainer.should_stop or should_stop

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._tick()
        self._mark = None

    def state_dict(self) -> dict[str, Any]:
        if self._mark is not None:
            self._tick()
        return {"used": self.used}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.used = float(state_dict.get("used", 0.0))
