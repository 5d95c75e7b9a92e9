"""Progress for long work where a rich bar cannot draw: a Slurm job's output file, `nohup ... >
run.log`, a pipe into `tee`. Rich draws its bars on a terminal only; elsewhere it prints them
once, at the end, so a two-hour job would say nothing until it is over. There, these print one
line at the start and then one every `every` seconds: how much is done, what is being done, the
time spent and about how long is left.

Imports nothing heavy: `restorelab benchmark` and `restorelab denoise` use it without Lightning.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def on_terminal() -> bool:
    """Whether rich draws live bars here: on the console the bars use (stdout), when it is an
    interactive terminal (not TERM=dumb, not a pipe into `tee`) or a notebook."""
    import rich

    console = rich.get_console()
    return console.is_interactive or console.is_jupyter


def duration(seconds: float) -> str:
    """"45s", "12m05s", "1h04m": a span as a person reads it in a log."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class PeriodicLines:
    """`update(done, what)` after each unit of work writes a line when `every` seconds have
    passed since the last one (and on the first call), with the share done, `what`, the time
    spent and, once something is done, about how long is left at the rate so far. `finish()`
    writes the closing line (with `done`, or the last count). `write` takes the line (default:
    stderr, flushed)."""

    def __init__(self, total: int, label: str, every: float = 60.0,
                 write: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.label, self.every = int(total), label, float(every)
        self.write = write or _to_stderr
        self.clock = clock
        self.start = clock()
        self.last: float | None = None
        self.done = 0

    def update(self, done: int, what: str = "") -> None:
        self.done = done
        now = self.clock()
        if self.last is not None and now - self.last < self.every:
            return
        self.last = now
        self.write(self.line(done, what, now))

    def line(self, done: int, what: str, now: float) -> str:
        spent = now - self.start
        parts = [f"{self.label}: {done:,}/{self.total:,}"]
        if self.total > 0:
            parts[0] += f" ({100 * done / self.total:.0f}%)"
        if what:
            parts.append(what)
        timing = f"{duration(spent)} spent"
        if 0 < done < self.total:
            timing += f", about {duration(spent / done * (self.total - done))} left"
        parts.append(timing)
        return " · ".join(parts)

    def finish(self, what: str = "done", done: int | None = None) -> None:
        self.done = self.done if done is None else done
        self.write(self.line(self.done, what, self.clock()))


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def track(items: Iterable[T], total: int, description: str, every: float = 60.0,
          describe: Callable[[T], str] | None = None, transient: bool = True) -> Iterator[T]:
    """Rich's bar on a terminal (gone when done if `transient`); elsewhere a line every `every`
    seconds, naming the current item by `describe(item)` when given."""
    if on_terminal():
        from rich.progress import track as rich_track

        yield from rich_track(items, total=total, description=description, transient=transient)
        return
    lines = PeriodicLines(total, description, every)
    count = 0
    for item in items:
        lines.update(count, describe(item) if describe else "")
        yield item
        count += 1
    lines.finish(done=count)
