"""Faults and bad input, tried as a new user would: nothing a user owns is overwritten, nothing is
silently lost, the exit status tells the truth, and an expected error is one line that names the
key or file and what to do."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import CLI_TINY, ROOT, run_train
from PIL import Image

from restorelab.checkpoint_io import AtomicCheckpointIO
from restorelab.checkpoints import CheckpointError, check_resume_checkpoint
from restorelab.errors import ConfigError

FAST_CLI = ["debug=fdr", "data.patch_size=32", "data.eval_size=64", "data.batch_size=2",
            "callbacks.rich_progress_bar=null", "callbacks.model_summary=null"]


def _env(cwd: Path) -> dict[str, str]:
    env = {**os.environ, "RESTORELAB_ROOT": str(cwd), "WANDB_MODE": "offline"}
    env.pop("HYDRA_FULL_ERROR", None)
    return env


def restorelab(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "restorelab.cli", *args], cwd=cwd,
                          env=_env(cwd), capture_output=True, text=True, timeout=300)


def train(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=cwd,
                          env=_env(cwd), capture_output=True, text=True, timeout=300)


def assert_one_line_error(result: subprocess.CompletedProcess, *parts: str) -> str:
    """Exit status 1, no traceback, and one line that holds every one of `parts`."""
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    lines = [line for line in output.splitlines() if all(part in line for part in parts)]
    assert lines, f"no line holds {parts}:\n{output[-3000:]}"
    return lines[0]


@pytest.fixture(scope="module")
def export_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny trained U-Net, exported to safetensors (a self-contained model file)."""
    from test_inference import tiny_run

    from restorelab.export import export

    root = tiny_run(tmp_path_factory.mktemp("run"))
    return export(root, "safetensors", root / "model.safetensors")


def _photos(folder: Path, count: int = 3) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        path = folder / f"photo{i}.png"
        Image.fromarray(rng.integers(0, 256, (24, 20), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


# ------------------------------------------------------------------------------- data loss
def test_denoise_never_replaces_the_inputs_unless_asked(export_file: Path, tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos")
    before = {p: p.read_bytes() for p in photos}
    result = restorelab("denoise", "photos", "-o", "photos", "-c", str(export_file), cwd=tmp_path)
    assert_one_line_error(result, "would replace the input", "--in-place")
    one = restorelab("denoise", "photos/photo0.png", "-o", "photos", "-c", str(export_file),
                     cwd=tmp_path / "..")
    assert one.returncode == 1
    single = restorelab("denoise", "photo1.png", "-o", ".", "-c", str(export_file),
                        cwd=tmp_path / "photos")
    assert_one_line_error(single, "would replace the input")
    assert {p: p.read_bytes() for p in photos} == before  # not one byte changed

    asked = restorelab("denoise", "photos", "-o", "photos", "--in-place", "-c", str(export_file),
                       cwd=tmp_path)
    assert asked.returncode == 0, asked.stderr[-2000:]
    assert all(p.read_bytes() != before[p] for p in photos)
    assert not list((tmp_path / "photos").glob(".*tmp*"))  # no temporary file left behind


def test_denoise_keeps_existing_outputs_unless_overwrite(export_file: Path, tmp_path: Path) -> None:
    _photos(tmp_path / "photos", 2)
    (tmp_path / "out").mkdir()
    mine = tmp_path / "out" / "photo1.png"
    mine.write_bytes(b"the user's own file")
    result = restorelab("denoise", "photos", "-o", "out", "-c", str(export_file), cwd=tmp_path)
    assert_one_line_error(result, "photo1.png already exists", "--overwrite")
    assert mine.read_bytes() == b"the user's own file"
    assert not (tmp_path / "out" / "photo0.png").exists()  # refused before anything is written
    again = restorelab("denoise", "photos", "-o", "out", "--overwrite", "-c", str(export_file),
                       cwd=tmp_path)
    assert again.returncode == 0 and Image.open(mine).size == (20, 24)


def test_output_inside_the_input_folder_is_not_read_back(export_file: Path, tmp_path: Path) -> None:
    _photos(tmp_path / "photos", 2)
    for _ in range(2):  # the second run must not take the first run's outputs for inputs
        result = restorelab("denoise", "photos", "-o", "photos/restored", "--overwrite",
                            "-c", str(export_file), cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "photos" / "restored").rglob("*.png")) == [
        "photo0.png", "photo1.png"]


def test_one_unreadable_file_does_not_stop_the_others(export_file: Path, tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos", 3)
    broken = tmp_path / "photos" / "photo1.png"
    broken.write_bytes(photos[0].read_bytes()[:60])  # a truncated PNG
    (tmp_path / "photos" / "notes.tif").write_bytes(b"not a tiff at all")
    result = restorelab("denoise", "photos", "-o", "out", "-c", str(export_file), cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["photo0.png", "photo2.png"]
    assert "2 file(s) could not be restored" in result.stderr
    assert "photo1.png" in result.stderr and "notes.tif" in result.stderr


def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path: Path) -> None:
    command = [sys.executable, str(ROOT / "train.py"), *FAST_CLI]
    runs = [subprocess.Popen(command, cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs[0][1][-2000:] + outputs[1][1][-2000:]
    folders = sorted((tmp_path / "logs" / "debug" / "runs").iterdir())
    assert len(folders) == 2
    for folder in folders:
        assert json.loads((folder / "metrics.json").read_text())["status"] == "completed"


def test_checkpoint_write_on_a_full_disk_leaves_no_truncated_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    io = AtomicCheckpointIO()
    path = tmp_path / "checkpoints" / "epoch003.ckpt"
    state = {"state_dict": {"net.w": torch.randn(64, 64)}, "pytorch-lightning_version": "2"}
    io.save_checkpoint(state, path)
    good = path.read_bytes()

    real_open = open

    class FullDisk:
        """A file that takes 100 bytes, then fails as a full disk does."""

        def __init__(self, name: str, mode: str) -> None:
            self.file = real_open(name, mode)

        def write(self, data: bytes) -> int:
            self.file.write(bytes(data)[:100])
            self.file.flush()
            raise OSError(errno.ENOSPC, "No space left on device")

        def __enter__(self) -> FullDisk:
            return self

        def __exit__(self, *args: object) -> None:
            self.file.close()

    monkeypatch.setattr("builtins.open", lambda name, mode="r", *a, **k: (
        FullDisk(name, mode) if "w" in mode and ".tmp-" in str(name) else real_open(name, mode, *a, **k)))
    state["state_dict"]["net.w"] = torch.zeros(64, 64)
    with pytest.raises(OSError, match="No space"):
        io.save_checkpoint(state, path)
    monkeypatch.undo()
    assert path.read_bytes() == good  # the previous checkpoint is untouched
    assert sorted(p.name for p in path.parent.iterdir()) == ["epoch003.ckpt"]  # no leftovers


def test_a_truncated_checkpoint_is_passed_over(tmp_path: Path) -> None:
    from restorelab.inference import resolve_checkpoint

    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save({"state_dict": {}}, folder / "epoch001.ckpt")
    whole = (folder / "epoch001.ckpt").read_bytes()
    (folder / "epoch002.ckpt").write_bytes(whole[: len(whole) // 2])  # cut off mid-write
    assert resolve_checkpoint(tmp_path / "run") == folder / "epoch001.ckpt"
    with pytest.raises(CheckpointError, match="not a whole one"):
        check_resume_checkpoint(folder / "epoch002.ckpt")


# ------------------------------------------------------------------- signals tell the truth
def _start_long_run(cwd: Path) -> tuple[subprocess.Popen, Path]:
    args = ["data.patch_size=32", "data.eval_size=32", "data.batch_size=2",
            "data.samples_per_epoch=8", "trainer.max_epochs=10000", "model.base_channels=4",
            "callbacks.rich_progress_bar=null", "callbacks.model_summary=null", "test=false"]
    process = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args], cwd=cwd,
                               env=_env(cwd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # wait until training is well under way
        lasts = list((cwd / "logs" / "train" / "runs").glob("*/checkpoints/last.ckpt"))
        if lasts:
            time.sleep(1.0)
            return process, lasts[0].parent.parent
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.kill()
    pytest.fail("the run did not reach its first checkpoint: " + process.communicate()[0][-3000:])


@pytest.mark.parametrize(("sent", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_saves_the_step_and_exits_non_zero(
    sent: signal.Signals, status: int, tmp_path: Path
) -> None:
    process, run_dir = _start_long_run(tmp_path)
    process.send_signal(sent)
    output = process.communicate(timeout=120)[0]
    assert process.returncode == status, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and metrics["signal"] == sent.name
    assert metrics["global_step"] > 0
    saved = Path(metrics["interrupted_checkpoint"])
    assert saved == run_dir / "checkpoints" / "interrupted.ckpt"
    check_resume_checkpoint(saved)  # whole, safe, a Lightning checkpoint
    content = torch.load(saved, map_location="cpu", weights_only=True)
    assert content["global_step"] == metrics["global_step"]
    assert f"ckpt_path={saved}" in output


_CTRL_C_IN_A_DESTRUCTOR = """
import os, signal, sys, time
from restorelab import interrupts

# Python's own Ctrl-C handler, as a terminal starts Python: a parent that ignores SIGINT (a
# pytest-xdist worker does) hands that on, and Python then installs none.
signal.signal(signal.SIGINT, signal.default_int_handler)

class Garbage:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        # Python handles the signal here, inside __del__, however late a loaded machine
        # delivers it: an unhandled one raises KeyboardInterrupt in the sleep, a handled one
        # is recorded and ends the wait.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and interrupts.received() is None:
            time.sleep(0.001)

if sys.argv[1:] == ["handled"]:
    interrupts.install()
Garbage()
print("received:", interrupts.received())
"""


@pytest.mark.parametrize("handled", [False, True])
def test_a_ctrl_c_that_lands_in_a_destructor_is_not_lost(handled: bool) -> None:
    # How a study's Ctrl-C was lost: Python's KeyboardInterrupt, raised in a `__del__` or a
    # garbage-collection callback, is printed as "Exception ignored" and dropped.
    args = ["handled"] if handled else []
    result = subprocess.run([sys.executable, "-c", _CTRL_C_IN_A_DESTRUCTOR, *args],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    if handled:
        assert "received: SIGINT" in result.stdout and "KeyboardInterrupt" not in result.stderr
    else:
        assert "received: None" in result.stdout and "Exception ignored" in result.stderr


@pytest.mark.slow
def test_an_interrupted_study_still_reports_every_planned_job(tmp_path: Path) -> None:
    grid = ["model.kernel_size=3,5", "model.depth=2,3"]
    tiny = [a for a in CLI_TINY if not a.startswith("trainer.max_epochs")]
    command = [sys.executable, str(ROOT / "sweep.py"), *tiny, "trainer.max_epochs=200", *grid,
               "model.base_channels=4"]
    log = tmp_path / "sweep.log"  # a file, not a pipe that nobody reads until the end
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=tmp_path, env=_env(tmp_path), stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    root = tmp_path / "logs" / "sweep_architecture" / "multiruns"
    try:
        # Generous limits for a loaded 2-core machine; the test waits on what happened, not time.
        deadline = time.monotonic() + 600
        while not list(root.glob("*/0/checkpoints/last.ckpt")):  # job 0 has trained a step
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("job 0 saved no checkpoint:\n" + log.read_text()[-3000:])
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in a terminal reaches the whole group
        returncode = process.wait(timeout=600)
    finally:
        if process.poll() is None:  # never leave a study running behind a failed test
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    output = log.read_text()
    assert returncode == 130, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert "KeyboardInterrupt" not in output, output[-3000:]  # a handler took it, not Python
    (sweep_dir,) = root.iterdir()
    assert [p.name for p in sweep_dir.iterdir() if p.name.isdigit()] == ["0"]  # no job after it
    metrics = json.loads((sweep_dir / "0" / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and metrics["signal"] == "SIGINT", metrics
    saved = Path(metrics["interrupted_checkpoint"])
    assert saved == sweep_dir / "0" / "checkpoints" / "interrupted.ckpt"
    check_resume_checkpoint(saved)
    table = (sweep_dir / "results.md").read_text()
    header = table.splitlines()[0]
    assert "model.kernel_size" in header and "model.depth" in header
    assert f"missing (interrupted at step {metrics['global_step']}): `0`" in table
    for job in range(1, 8):  # the study's model.skip doubles the four given here
        assert f"missing (not started): `{job}`" in table
    assert "model.kernel_size=5 model.depth=3" in table  # the planned values of a later job


# ----------------------------------------------------------- bad input: one clear line each
def test_an_absurd_model_size_is_refused_before_allocating(tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(ConfigError, match=r"model.depth=20.*parameters.*this machine has"):
        run_train(tmp_path, ["debug=fdr", "model.depth=20"])
    assert time.monotonic() - start < 60  # counted, not allocated


def test_model_channels_that_do_not_match_the_data_name_data_channels(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"model.in_channels=3 .*\(data.channels=1\)"):
        run_train(tmp_path, ["debug=fdr", "model.in_channels=3"])


@pytest.mark.parametrize("key", ["data.batch_size=0", "data.num_workers=-1", "data.patch_size=0"])
def test_data_keys_that_cannot_work_are_named(key: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=key.split("=")[0].replace(".", r"\.")):
        run_train(tmp_path, ["debug=fdr", key])


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # unpickling this calls os.system
        return (os.system, (f"touch {self.marker}",))


def test_resume_checkpoints_that_are_not_are_one_line_each(tmp_path: Path) -> None:
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(os.urandom(2000))
    bomb = tmp_path / "bomb.ckpt"
    torch.save({"pytorch-lightning_version": "2", "payload": _RunsCode(tmp_path / "pwned")}, bomb)
    plain = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(3)}, plain)
    cases = {
        tmp_path / "missing.ckpt": "does not exist",
        junk: "not a PyTorch checkpoint",
        bomb: "refused to load",
        plain: "not a Lightning training checkpoint",
    }
    for path, message in cases.items():
        with pytest.raises(CheckpointError, match=message) as raised:
            check_resume_checkpoint(path)
        assert "weights_only" not in str(raised.value)  # never the advice to turn it off
    assert not (tmp_path / "pwned").exists()
    result = train(f"ckpt_path={bomb}", *FAST_CLI, cwd=tmp_path)
    line = assert_one_line_error(result, "CheckpointError", "refused to load")
    assert "weights_only=False" not in result.stdout + result.stderr, line


def test_unknown_data_key_gets_a_hint_with_the_real_name(tmp_path: Path) -> None:
    result = train("data=folder", f"data.root={tmp_path}", "debug=fdr", cwd=tmp_path)
    assert result.returncode == 1
    assert "did you mean data.data_dir?" in result.stderr


def test_config_errors_from_constructors_are_one_line(tmp_path: Path) -> None:
    result = train("model.skip=sideways", *FAST_CLI, cwd=tmp_path)
    assert_one_line_error(result, "ValueError", "skip", "HYDRA_FULL_ERROR=1")
    sweep = subprocess.run([sys.executable, str(ROOT / "sweep.py"), "sweep=no_such_study"],
                           cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True,
                           timeout=120)
    assert_one_line_error(sweep, "no_such_study", "architecture")


def test_cli_errors_are_one_line(export_file: Path, tmp_path: Path) -> None:
    missing = restorelab("denoise", "x.png", "-o", "out", "-c", str(tmp_path / "nope"),
                         cwd=tmp_path)
    assert_one_line_error(missing, "restorelab denoise", "does not exist")
    exported = tmp_path / "model.onnx"
    exported.write_bytes(b"the user's file")
    export = restorelab("export", "-c", str(export_file), "-f", "onnx", "-o", str(exported),
                        cwd=tmp_path)
    assert_one_line_error(export, "already exists", "--overwrite")
    assert exported.read_bytes() == b"the user's file"
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "summary.json").write_text("{}")
    evaluation = restorelab("eval", str(export_file), "-o", str(tmp_path / "report"),
                            "--baselines", "none", cwd=tmp_path)
    assert_one_line_error(evaluation, "already holds a report", "--overwrite")
    assert (tmp_path / "report" / "summary.json").read_text() == "{}"


def test_float_tiff_is_read_as_intensities_not_black(tmp_path: Path) -> None:
    import tifffile

    from restorelab.inference import read_image_file, write_image_file

    values = np.linspace(0.1, 0.9, 32 * 24, dtype=np.float32).reshape(32, 24)
    tifffile.imwrite(tmp_path / "float.tif", values)
    image = read_image_file(tmp_path / "float.tif")
    np.testing.assert_allclose(image.pixels[..., 0], values)
    write_image_file(tmp_path / "back.tif", image)
    np.testing.assert_allclose(tifffile.imread(tmp_path / "back.tif"), values)
    tifffile.imwrite(tmp_path / "counts.tif", values * 4000)
    with pytest.raises(ValueError, match=r"float pixels in \[.*rescale"):
        read_image_file(tmp_path / "counts.tif")


def test_demo_refuses_tiny_uploads_and_reads_float_tiffs() -> None:
    import io

    import tifffile

    from restorelab.demo_app import DemoInputError, quality, read_upload

    tiny = io.BytesIO()
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tiny, "PNG")
    with pytest.raises(DemoInputError, match="at least 16 pixels"):
        read_upload(tiny.getvalue(), 256)
    values = np.linspace(0.2, 0.8, 40 * 30, dtype=np.float32).reshape(40, 30)
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, values)
    array, _ = read_upload(buffer.getvalue(), 256)
    np.testing.assert_allclose(array[..., 0], values, atol=1e-6)
    assert np.isfinite(quality(array, array)[1])  # the page scores it without crashing


def test_one_decoder_reads_16_bit_gray_alpha_at_16_bits(tmp_path: Path) -> None:
    # Training data and `restorelab denoise` read files through the same decoder: a 16-bit
    # gray+alpha PNG used to train at 16 bits but be denoised at 8.
    from restorelab.data.files import read_image
    import imagecodecs

    from restorelab.inference import read_image_file

    rng = np.random.default_rng(0)
    gray = rng.integers(0, 65536, (20, 30), dtype=np.uint16)
    alpha = np.full((20, 30), 40000, dtype=np.uint16)
    (tmp_path / "ga16.png").write_bytes(imagecodecs.png_encode(np.stack([gray, alpha], axis=-1)))
    image = read_image_file(tmp_path / "ga16.png")
    assert image.bit_depth == 16
    np.testing.assert_array_equal(np.rint(image.pixels[..., 0] * 65535).astype(np.uint16), gray)
    np.testing.assert_array_equal(image.alpha, alpha)
    training = read_image(tmp_path / "ga16.png", 1)
    assert training.dtype == torch.uint16 or training.max() > 255


def test_a_failed_rewrite_of_metrics_csv_keeps_the_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Lightning rewrites metrics.csv whole when a new metric appears (the first validation, the
    # test), truncating it first: a job killed then lost every row logged so far.
    import csv

    from restorelab.loggers import RunCSVLogger

    logger = RunCSVLogger(str(tmp_path), name="csv", version="")
    logger.log_metrics({"train/loss": 0.5}, step=0)
    logger.save()
    path = tmp_path / "csv" / "metrics.csv"
    history = path.read_bytes()
    assert b"train/loss" in history

    def fail(self, rows):  # the disk fills, or a signal lands, halfway through the rewrite
        raise OSError("No space left on device")

    monkeypatch.setattr(csv.DictWriter, "writerows", fail)
    logger.log_metrics({"train/loss": 0.4, "val/psnr": 30.0}, step=1)
    with pytest.raises(OSError):
        logger.save()
    assert path.read_bytes() == history
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []
    monkeypatch.undo()
    logger.save()
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["val/psnr"] for row in rows] == ["", "30.0"]
