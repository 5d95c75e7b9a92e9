"""The run's own callbacks: the labelled image grid, the progress bar's epoch count and the
budget of CPU time."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from lightning.pytorch.demos.boring_classes import BoringModel
from PIL import Image

from restorelab.callbacks import (
    CPUTimeBudget,
    EpochProgressBar,
    ImageGridLogger,
    ProgressLog,
    grid_figure,
    image_psnr,
    parse_duration,
)


def samples(count: int = 3, channels: int = 1, size: tuple[int, int] = (40, 56)):
    generator = torch.Generator().manual_seed(0)
    clean = torch.rand(count, channels, *size, generator=generator)
    noisy = (clean + 0.1 * torch.randn(clean.shape, generator=generator)).clamp(0, 1)
    restored = (clean + 0.02 * torch.randn(clean.shape, generator=generator)).clamp(0, 1)
    return noisy, restored, clean


def test_image_psnr_per_image() -> None:
    clean = torch.zeros(2, 1, 4, 4)
    image = clean.clone()
    image[0] += 0.1  # MSE 0.01: 20 dB
    image[1] += 0.01  # MSE 1e-4: 40 dB
    torch.testing.assert_close(image_psnr(image, clean), torch.tensor([20.0, 40.0]))


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_grid_has_column_titles_and_the_psnr_of_each_row(channels: int) -> None:
    noisy, restored, clean = samples(channels=channels)
    figure = grid_figure(noisy, restored, clean, title="validation, epoch 2")
    axes = figure.axes
    assert len(axes) == 3 * 3
    assert [a.get_title() for a in axes[:3]] == ["noisy", "restored", "clean"]
    assert all(a.get_title() == "" for a in axes[3:])  # titled once, at the top
    noisy_psnr, restored_psnr = image_psnr(noisy, clean), image_psnr(restored, clean)
    for row in range(3):
        row_axes = axes[3 * row:3 * row + 3]
        noisy_label, restored_label, clean_label = (a.get_xlabel() for a in row_axes)
        assert noisy_label == f"{noisy_psnr[row]:.2f} dB"
        gain = restored_psnr[row] - noisy_psnr[row]
        assert restored_label == f"{restored_psnr[row]:.2f} dB ({gain:+.2f})"
        assert gain > 0 and clean_label == ""
    assert figure.get_suptitle() == "validation, epoch 2"


def test_the_png_on_disk_is_the_labelled_figure(tmp_path: Path) -> None:
    module = SimpleNamespace(samples={"val": samples(), "test": samples(count=2)})
    trainer = SimpleNamespace(current_epoch=1, global_step=8, loggers=[], sanity_checking=False)
    callback = ImageGridLogger(str(tmp_path / "images"))
    callback.on_validation_epoch_end(trainer, module)
    callback.on_test_epoch_end(trainer, module)
    for name, rows in (("val_epoch001.png", 3), ("test.png", 2)):
        image = Image.open(tmp_path / "images" / name)
        width, height = image.size
        # Titles and labels make it larger than the bare 3 x rows grid of 56 x 40 images.
        assert width > 3 * 56 and height > rows * 40
        assert image.mode == "RGBA"  # matplotlib's rendering, not torchvision's gray grid
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == [
        "test.png", "test_samples.npz", "val_epoch001.png"]  # no temporary file left behind


def test_progress_bar_counts_epochs_from_one() -> None:
    out = io.StringIO()
    bar = EpochProgressBar(console_kwargs={"file": out, "force_terminal": True, "width": 100})
    trainer = L.Trainer(
        max_epochs=2, limit_train_batches=2, limit_val_batches=1, callbacks=[bar], logger=False,
        enable_checkpointing=False, enable_model_summary=False, accelerator="cpu",
    )
    trainer.fit(BoringModel())
    text = out.getvalue()
    assert "Epoch 1/2" in text and "Epoch 2/2" in text
    assert "Epoch 0/1" not in text and "Epoch 1/1" not in text  # what Lightning itself shows
    assert bar._get_train_description(0).strip() == "Epoch 1/2"
    trainer.fit_loop.max_epochs = -1  # no epoch limit (max_steps only): no total shown
    assert bar._get_train_description(4).strip() == "Epoch 5"


class _Busy(BoringModel):
    """BoringModel whose steps cost a known amount of CPU: a few matrix products each."""

    def training_step(self, batch, batch_idx):
        a = torch.randn(192, 192)
        for _ in range(20):
            a = torch.tanh(a @ a)
        return super().training_step(batch, batch_idx)


class _Scored(BoringModel):
    """BoringModel that logs a training loss and a validation PSNR that rises each epoch."""

    def training_step(self, batch, batch_idx):
        out = super().training_step(batch, batch_idx)
        self.log("train/loss", out["loss"])
        return out

    def validation_step(self, batch, batch_idx):
        self.log("val/psnr", 20.0 + self.current_epoch)
        return super().validation_step(batch, batch_idx)


def _fit_with_progress_log(root: Path, callback: ProgressLog, **kwargs) -> None:
    from lightning.pytorch.callbacks import ModelCheckpoint

    checkpoint = ModelCheckpoint(dirpath=root, monitor="val/psnr", mode="max")
    trainer = L.Trainer(
        default_root_dir=root, max_epochs=2, limit_train_batches=4, limit_val_batches=1,
        callbacks=[callback, checkpoint], logger=False, enable_model_summary=False,
        accelerator="cpu", **kwargs)
    trainer.fit(_Scored())


def test_progress_log_writes_lines_where_no_bar_can_draw(tmp_path: Path, caplog) -> None:
    caplog.set_level("INFO", logger="restorelab.callbacks")
    # A tiny interval: a line after every step, as a job of hours gets one every 5 minutes.
    _fit_with_progress_log(tmp_path, ProgressLog(every_minutes=1e-9), enable_progress_bar=False,
                           max_time={"hours": 1})
    lines = [r.getMessage() for r in caplog.records if r.name == "restorelab.callbacks"]
    assert lines[0] == "training from step 0: a line every 0s and after each validation"
    steps = [line for line in lines if line.startswith("epoch ") and "validated" not in line]
    assert len(steps) >= 6  # 8 steps, the first ones logged at once after the start line
    assert steps[-1].startswith("epoch 2/2 · step 8/8 · train/loss ")
    assert " s/step" in steps[0] and "left" in steps[0]
    validated = [line for line in lines if "validated" in line]
    # The best counts the value just measured (the checkpoint callback runs after this one).
    assert validated[0].startswith("epoch 1/2 validated · step 4/8 · val/psnr 20.0000 "
                                   "(best 20.0000) · train/loss ")
    assert validated[1].startswith("epoch 2/2 validated · step 8/8 · val/psnr 21.0000 "
                                   "(best 21.0000)")
    assert "about 0s left" in validated[1]  # the last step is done


def test_progress_log_stays_quiet_under_a_bar_on_a_terminal(tmp_path: Path, caplog,
                                                            monkeypatch) -> None:
    monkeypatch.setattr("restorelab.callbacks.on_terminal", lambda: True)
    caplog.set_level("INFO", logger="restorelab.callbacks")
    _fit_with_progress_log(tmp_path / "bar", ProgressLog(every_minutes=1e-9))
    assert not [r for r in caplog.records if r.name == "restorelab.callbacks"]
    _fit_with_progress_log(tmp_path / "always", ProgressLog(every_minutes=1e-9, always=True))
    assert any("validated" in r.getMessage() for r in caplog.records)
    with pytest.raises(ValueError, match="every_minutes must be positive"):
        ProgressLog(every_minutes=0)


def test_progress_log_time_left_counts_this_run_and_stops_at_the_limits(caplog) -> None:
    from lightning.pytorch.callbacks import Timer

    class LeftTimer(Timer):
        def __init__(self, left: float) -> None:
            super().__init__(duration="00:01:00:00")
            self.left = left

        def time_remaining(self, stage: str = "train") -> float:
            return self.left

    caplog.set_level("INFO", logger="restorelab.callbacks")
    callback = ProgressLog()
    # Resumed at step 400; 200 steps in 100 s of wall time and 50 s of CPU time since.
    callback._start, callback._first_step, callback._start_cpu = 1000.0, 400, 0.0
    callback._clock, callback._cpu_clock = (lambda: 1100.0), (lambda: 50.0)
    budget = CPUTimeBudget(1000)
    budget.used = 970.0  # 30 CPU seconds left: 60 s of wall time at this run's rate
    cases = [
        (1000, [], "step 600/1,000 · 0.50 s/step · about 3m20s left"),  # 400 steps at 0.5 s
        (1000, [LeftTimer(90.0)], "step 600/1,000 · 0.50 s/step · about 1m30s left"),
        (1000, [LeftTimer(-5.0)], "step 600/1,000 · 0.50 s/step · about 0s left"),
        (1000, [LeftTimer(90.0), budget], "step 600/1,000 · 0.50 s/step · about 1m00s left"),
        (float("inf"), [], "step 600 · 0.50 s/step"),  # no step limit, no time limit
        (-1, [], "step 600 · 0.50 s/step"),  # an unsized stream without max_steps
        (float("inf"), [LeftTimer(90.0)], "step 600 · 0.50 s/step · about 1m30s left"),
    ]
    for total, callbacks, expected in cases:
        trainer = SimpleNamespace(global_step=600, estimated_stepping_batches=total,
                                  callbacks=callbacks)
        callback._log(trainer, "epoch 2/5")
        assert caplog.records[-1].getMessage() == f"epoch 2/5 · {expected}"


def test_progress_log_follows_the_console_the_bars_draw_on(monkeypatch) -> None:
    from restorelab.progress_log import on_terminal

    for interactive, jupyter, drawn in [(True, False, True), (False, False, False),
                                        (False, True, True)]:
        console = SimpleNamespace(is_interactive=interactive, is_jupyter=jupyter)
        monkeypatch.setattr("rich.get_console", lambda console=console: console)
        assert on_terminal() is drawn


def _budget_trainer(root: Path, budget: float, **kwargs) -> tuple[L.Trainer, CPUTimeBudget]:
    callback = CPUTimeBudget(budget)
    trainer = L.Trainer(
        default_root_dir=root, max_epochs=10_000, limit_train_batches=8, limit_val_batches=1,
        callbacks=[callback], logger=False, enable_progress_bar=False,
        enable_model_summary=False, accelerator="cpu", **kwargs)
    return trainer, callback


def test_cpu_budget_stops_training_once_spent_and_resumes_with_what_is_left(
    tmp_path: Path,
) -> None:
    torch.manual_seed(0)
    trainer, budget = _budget_trainer(tmp_path, 1.0)
    trainer.fit(_Busy())
    assert budget.used >= 1.0
    assert 0 < trainer.global_step < 10_000 * 8
    assert budget.stopped_at_step == trainer.global_step  # stopped by the budget, on that step
    checkpoint = tmp_path / "spent.ckpt"
    trainer.save_checkpoint(checkpoint)

    # The spent budget travels in the checkpoint: the resumed run stops after its first step.
    resumed, again = _budget_trainer(tmp_path / "resumed", 1.0)
    resumed.fit(_Busy(), ckpt_path=checkpoint)
    assert again.used >= budget.used
    assert resumed.global_step == trainer.global_step + 1

    # A larger budget goes on from what was spent, not from zero.
    more, extended = _budget_trainer(tmp_path / "more", 2.0)
    more.fit(_Busy(), ckpt_path=checkpoint)
    assert extended.used >= 2.0 and more.global_step > trainer.global_step + 1


@pytest.mark.parametrize(("value", "seconds"), [
    (90, 90.0), (2.5, 2.5), ("45", 45.0), ("01:30", 90.0), ("00:00:06:00", 360.0),
    ("1:00:00:00", 86400.0),
])
def test_durations_read_as_max_time_is_written(value, seconds) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", [0, -5, "ten minutes", "1:2:3:4:5", True])
def test_a_duration_that_is_not_one_is_refused(value) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)
