"""What a run prints: the results table explains a negative gain; Lightning's litlogger tip, its
LeafSpec FutureWarning and (outside a Slurm job) its srun hint are silenced, and nothing else is."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import lightning as L
import pytest
import torch
from rich.console import Console

from restorelab import console
from restorelab.console import negative_gain_note, print_results, quiet_third_party, results_table

RANK_ZERO_LOGGER = "lightning.pytorch.utilities.rank_zero"


def rendered(renderable: object) -> str:
    out = Console(width=120, record=True, file=open("/dev/null", "w"))
    out.print(renderable)
    return out.export_text()


def test_a_negative_gain_is_explained(capsys: pytest.CaptureFixture) -> None:
    metrics = {"test/psnr": 19.5, "test/psnr_noisy": 20.25, "test/ssim": 0.30,
               "test/ssim_noisy": 0.33, "global_step": 24}
    assert "-0.75" in rendered(results_table(metrics))
    note = negative_gain_note(metrics)
    assert note is not None and "after 24 steps" in note
    for advice in ("trainer.max_epochs", "model.residual=true", "optimizer.lr"):
        assert advice in note
    print_results(metrics, Path("run"), None)
    out = " ".join(capsys.readouterr().out.split())  # rich wraps the note to the terminal
    assert "negative gain means" in out and "trainer.max_epochs" in out


def test_a_positive_gain_needs_no_note(capsys: pytest.CaptureFixture) -> None:
    metrics = {"test/psnr": 27.0, "test/psnr_noisy": 20.25}
    assert negative_gain_note(metrics) is None
    assert negative_gain_note({"test/psnr": 27.0}) is None  # no noisy score: nothing to say
    print_results(metrics, Path("run"), None)
    assert "negative gain" not in capsys.readouterr().out


@pytest.fixture
def lightning_info() -> Iterator[list[str]]:
    """The lines Lightning logs through `rank_zero_info`, with our filter removed before and
    after (another test may have installed it in this process)."""
    logger = logging.getLogger(RANK_ZERO_LOGGER)

    def remove_ours() -> None:
        for existing in list(logger.filters):
            if isinstance(existing, console._LitLoggerTip):
                logger.removeFilter(existing)

    lines: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    remove_ours()
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(level)
    remove_ours()


def make_trainer() -> None:
    L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
              enable_model_summary=False, accelerator="cpu")


def test_the_litlogger_tip_is_silenced_and_other_lines_are_kept(lightning_info: list[str]) -> None:
    make_trainer()
    assert any("litlogger" in line for line in lightning_info)  # Lightning still says it
    lightning_info.clear()
    quiet_third_party()
    quiet_third_party()  # idempotent: one filter
    logger = logging.getLogger(RANK_ZERO_LOGGER)
    assert sum(isinstance(f, console._LitLoggerTip) for f in logger.filters) == 1
    make_trainer()
    assert not any("litlogger" in line for line in lightning_info)
    assert any("GPU available" in line for line in lightning_info)  # the rest still shows


def test_the_leafspec_warning_is_silenced_and_other_warnings_are_kept() -> None:
    from lightning.pytorch.utilities._pytree import _tree_flatten

    with warnings.catch_warnings(record=True) as caught:  # restores the filters afterwards
        warnings.simplefilter("always")
        _tree_flatten({"a": torch.zeros(1)})  # what Lightning's loops do with every batch
        assert any("LeafSpec" in str(w.message) for w in caught)
        caught.clear()
        quiet_third_party()
        _tree_flatten({"a": torch.zeros(1)})
        warnings.warn("another deprecation", FutureWarning, stacklevel=1)
        messages = [str(w.message) for w in caught]
    assert not any("LeafSpec" in m for m in messages)
    assert "another deprecation" in messages


def test_the_srun_hint_is_silenced_outside_a_slurm_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    srun = tmp_path / "srun"  # Slurm is installed: Lightning finds `srun` on the PATH
    srun.write_text("#!/bin/sh\n")
    srun.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    for key in ("SLURM_JOB_ID", "SLURM_NTASKS", "SLURM_JOB_NAME"):
        monkeypatch.delenv(key, raising=False)

    def hinted(quiet: bool) -> bool:
        with warnings.catch_warnings(record=True) as caught:  # restores the filters afterwards
            warnings.simplefilter("always")
            if quiet:
                quiet_third_party()
            make_trainer()
        return any("`srun` command is available" in str(w.message) for w in caught)

    assert hinted(quiet=False)  # Lightning says it in every Trainer
    assert not hinted(quiet=True)
    monkeypatch.setenv("SLURM_JOB_ID", "1234")  # inside a Slurm job, the hint may be right
    assert hinted(quiet=True)
