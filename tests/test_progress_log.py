"""Progress where no bar can draw (a job's log, a pipe): `restorelab.progress_log`'s lines, as
the benchmark and `restorelab denoise` print them."""

from __future__ import annotations

import functools

import pytest

from restorelab.benchmarks.job import _progress
from restorelab.progress_log import PeriodicLines, duration, track


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (44.6, "45s"), (60, "1m00s"), (725, "12m05s"), (3840, "1h04m"), (-3, "0s"),
])
def test_durations_read_as_a_person_writes_them(seconds, text) -> None:
    assert duration(seconds) == text


def test_a_line_at_the_start_then_one_per_interval_with_the_time_left() -> None:
    now, written = [0.0], []
    lines = PeriodicLines(10, "benchmark", every=60, write=written.append, clock=lambda: now[0])
    for done, at in [(0, 0.0), (1, 10.0), (2, 59.0), (5, 100.0), (6, 130.0), (8, 168.0)]:
        now[0] = at
        lines.update(done, f"image {done}")
    assert written == [
        "benchmark: 0/10 (0%) · image 0 · 0s spent",
        "benchmark: 5/10 (50%) · image 5 · 1m40s spent, about 1m40s left",
        "benchmark: 8/10 (80%) · image 8 · 2m48s spent, about 42s left",
    ]
    now[0] = 200.0
    lines.finish(done=10)
    assert written[-1] == "benchmark: 10/10 (100%) · done · 3m20s spent"


def test_off_a_terminal_the_benchmark_and_denoise_print_lines(capsys, monkeypatch) -> None:
    monkeypatch.setattr("restorelab.progress_log.on_terminal", lambda: False)
    bar, advance = _progress(3, enabled=True)
    assert bar is None
    for name in ("BSD68 sigma 15 noisy", "BSD68 sigma 15 BM3D", "BSD68 sigma 25 noisy", None):
        advance(name)
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "benchmark: 0/3 (0%) · 0s spent"
    assert err[-1].startswith("benchmark: 3/3 (100%) · done · ")
    items = track(iter("abc"), total=3, description="denoising", describe=lambda c: f"{c}.png")
    assert list(items) == ["a", "b", "c"]
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "denoising: 0/3 (0%) · a.png · 0s spent"
    assert err[-1].startswith("denoising: 3/3 (100%) · done · ")
    # Every call writes a line here: each names the restore done last, not the next one.
    monkeypatch.setattr("restorelab.progress_log.PeriodicLines",
                        functools.partial(PeriodicLines, every=0))
    _, advance = _progress(2, enabled=True)
    for name in ("Set12 sigma 50 noisy", "Set12 sigma 50 BM3D", None):
        advance(name)
    err = [line.split(" · ")[:2] for line in capsys.readouterr().err.splitlines()]
    assert err == [["benchmark: 0/2 (0%)", "0s spent"],
                   ["benchmark: 1/2 (50%)", "Set12 sigma 50 noisy"],
                   ["benchmark: 2/2 (100%)", "done"]]
    _, quiet = _progress(3, enabled=False)
    quiet("BSD68 sigma 15 noisy")
    assert capsys.readouterr().err == ""
