"""Ctrl-C and SIGTERM in a training process: recorded by a handler, acted on at known places.

Python's own Ctrl-C raises KeyboardInterrupt in whatever bytecode runs when the signal comes.
When that is a garbage-collection callback or a `__del__`, Python prints "Exception ignored in
..." and the interrupt is gone: the run trained on, and the jobs of a multirun after it started.
Here the first SIGINT or SIGTERM is recorded instead, and then

- while a Trainer fits or tests, passed on to Lightning's SIGTERM handler, so that its loops stop
  after the current step (under DDP, every rank at the same step) and `interrupted.ckpt` is saved;
- checked by the training job where Lightning does not look (before fitting, before testing, at
  the start and the end of each job), so that a multirun starts no job after it.

`restorelab.train.main` installs the handlers as a job starts, and they stay for the rest of
the process, which a multirun's jobs share. Repeated signals change nothing (as Lightning,
which ignores a second Ctrl-C while it shuts down).
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import Any

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

_received: str | None = None  # the first stop signal's name
_installed_in: int | None = None  # the process whose handlers these are (not a forked worker)
_previous: dict[int, Any] = {}
_told: object = None  # the Lightning handler that already knows of the signal


class RunStopped(SystemExit):
    """A signal stopped a training run after `checkpoints/interrupted.ckpt` was saved: exits with
    128 + the signal's number. Slurm's launcher requeues such a job when its time-limit warning
    stopped it (`hydra.launcher.max_num_timeout` above 0), and the requeued job continues there."""


class SignalReceived(SystemExit):
    """A stop signal came before the job reached a point where Lightning would have acted on it;
    exits with 128 + the signal's number if nothing catches it."""

    def __init__(self, name: str) -> None:
        super().__init__(128 + signal.Signals[name])
        self.name = name


def install() -> None:
    """Handles SIGINT and SIGTERM from now on, for the rest of this process. Idempotent; does
    nothing outside the main thread, where Python allows no signal handlers."""
    global _installed_in
    if _installed_in == os.getpid() or threading.current_thread() is not threading.main_thread():
        return
    _installed_in = os.getpid()
    for signum in _STOP_SIGNALS:
        _previous[signum] = signal.signal(signum, _handle)


def received() -> str | None:
    """The name of the first signal that asked this process to stop ("SIGINT" or "SIGTERM")."""
    return _received


def raise_if_received() -> None:
    """Raises `SignalReceived` if a stop signal came."""
    if _received is not None:
        raise SignalReceived(_received)


def tell_lightning() -> None:
    """Passes a signal that came to Lightning's SIGTERM handler, if one is installed now (a
    Trainer is fitting or testing) and has not heard of it: Lightning forgets a SIGTERM that came
    before it set up, and never sees a SIGINT, which this process no longer raises."""
    global _told
    handler = signal.getsignal(signal.SIGTERM)
    if _received is None or handler is _handle or handler is _told or not callable(handler):
        return
    _told = handler
    handler(signal.Signals[_received], None)


def _handle(signum: int, frame: FrameType | None) -> None:
    global _received, _told
    if os.getpid() != _installed_in:
        # A forked DataLoader worker. A Ctrl-C (or Slurm's SIGTERM) reaches it too, but the
        # training process stops it when it stops, after the current step: were the worker gone
        # before, that step would fail for want of data. (Lightning's SIGTERM handler, which the
        # workers forked while fitting inherit, does the same.)
        return
    previous = _previous.get(signum)
    if _received is None:
        _received = signal.Signals(signum).name
    if callable(previous) and previous is not signal.default_int_handler:
        previous(signum, frame)  # a handler from before (submitit's, in a Slurm job)
    current = signal.getsignal(signal.SIGTERM)
    if signum == signal.SIGTERM and current is not _handle:
        _told = current  # Lightning's handler got this SIGTERM itself and called this one
    else:
        tell_lightning()
