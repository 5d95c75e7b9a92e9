"""The training job end to end: every model and noise config runs, training beats the noisy input,
seeds reproduce, resume continues, outputs are written, a NaN loss stops cleanly."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest
import torch
from conftest import compose_train, config_files, run_cli, run_train

from restorelab.errors import NonFiniteLossError

MODELS = config_files("model")
NOISES = config_files("noise")
COLOR_ONLY_NOISES = {"desaturate", "mixed"}


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("model", MODELS)
def test_fast_dev_run_every_model(model: str, channels: int, tmp_path: Path) -> None:
    result = run_train(tmp_path, [f"model={model}", f"data.channels={channels}", "debug=fdr"])
    assert result["status"] == "completed"
    assert result["num_parameters"] > 0
    assert 0 < result["test/psnr"] < 100 and 0 < result["test/psnr_noisy"] < 100


@pytest.mark.parametrize("noise", NOISES)
def test_fast_dev_run_every_noise(noise: str, tmp_path: Path) -> None:
    result = run_train(tmp_path, [f"noise={noise}", "data.channels=3", "debug=fdr"])
    assert result["status"] == "completed"
    assert "test/psnr" in result


@pytest.mark.parametrize("loss", config_files("loss"))
def test_fast_dev_run_every_loss(loss: str, tmp_path: Path) -> None:
    result = run_train(tmp_path, [f"loss={loss}", "debug=fdr"])
    assert result["status"] == "completed"


@pytest.mark.parametrize(
    "switches",
    [
        ["module.channels_last=true"],
        ["trainer.precision=bf16-mixed"],
        ["trainer.precision=bf16-mixed", "loss=bce"],
    ],
    ids=["channels_last", "bf16-mixed", "bf16-mixed-bce"],
)
def test_module_switches_and_mixed_precision(switches: list[str], tmp_path: Path) -> None:
    result = run_train(tmp_path, ["debug=fdr", *switches])
    assert result["status"] == "completed"
    assert math.isfinite(result["test/psnr"])


def test_a_compiled_net_trains_tests_and_saves_under_its_own_names(tmp_path: Path) -> None:
    # One level and one crop size: inductor's C++ build on a cold cache is most of the test
    # (140 s on 2 cores for three levels and two sizes, 23 s for this in CI).
    result = run_train(tmp_path, [
        "debug=limit", "trainer.max_epochs=1", "module.compile=true", "model.base_channels=8",
        "model.depth=1", "data.eval_size=32",
    ])
    assert result["status"] == "completed" and result["global_step"] == 4
    assert math.isfinite(result["test/psnr"])
    state = torch.load(result["last_checkpoint"], map_location="cpu", weights_only=False)
    names = [n for n in state["state_dict"] if n.startswith("net.")]
    assert names and not [n for n in names if "_orig_mod" in n], names[:3]


@pytest.mark.slow
def test_short_training_beats_the_noisy_input(tmp_path: Path) -> None:
    result = run_train(
        tmp_path,
        [
            "data.patch_size=48",
            "data.batch_size=8",
            "data.samples_per_epoch=320",
            "data.eval_size=96",
            "trainer.max_epochs=6",
            "optimizer.lr=2e-3",
        ],
    )
    assert result["global_step"] == 240
    # 120 steps were too few: with batch norm at lr 2e-3 the first hundred steps are bumpy, and
    # the test gain ranged from -0.1 to +4.7 dB with the BLAS thread count. After 240 steps the
    # gains were +7.0 dB (validation) and +7.2 to +7.4 dB (test) with one thread and with two;
    # the floors sit 3 dB and more under those. A net that does not learn stays near 0 dB.
    gain = result["val/psnr_best"] - result["val/psnr_noisy"]
    assert gain >= 4.0, f"240 steps gained only {gain:.2f} dB over the noisy input"
    # The test split (other photographs, other noise) is restored too, by the best checkpoint.
    test_gain = result["test/psnr"] - result["test/psnr_noisy"]
    assert test_gain >= 3.0, f"the best checkpoint gained only {test_gain:.2f} dB on the test split"
    assert result["val/psnr_best"] >= result["val/psnr"] - 1e-6


def test_same_seed_same_metrics(tmp_path: Path) -> None:
    overrides = ["debug=limit", "seed=7"]
    first = run_train(tmp_path / "a", overrides)
    second = run_train(tmp_path / "b", overrides)
    third = run_train(tmp_path / "c", ["debug=limit", "seed=8"])
    assert first["test/psnr"] == second["test/psnr"]
    assert first["val/loss"] == second["val/loss"]
    assert first["val/loss"] != third["val/loss"]


def test_outputs_and_resume(tmp_path: Path) -> None:
    first = run_train(tmp_path / "first", ["debug=limit", "trainer.max_epochs=2"])
    assert first["global_step"] == 8
    run_dir = tmp_path / "first"
    saved = json.loads((run_dir / "metrics.json").read_text())
    for key in ("test/psnr", "test/ssim", "test/psnr_noisy", "test/ssim_noisy", "best_checkpoint"):
        assert key in saved
    assert Path(saved["best_checkpoint"]).is_file()
    assert (run_dir / "images" / "val_epoch001.png").is_file()
    assert (run_dir / "images" / "test.png").is_file()
    assert (run_dir / "config_tree.log").is_file()
    history = (run_dir / "csv" / "metrics.csv").read_text()
    assert "train/loss" in history and "val/psnr_noisy" in history

    resumed = run_train(
        tmp_path / "resumed",
        ["debug=limit", "trainer.max_epochs=3", f"ckpt_path={first['last_checkpoint']}"],
    )
    assert resumed["global_step"] == 12  # 8 restored + one more epoch of 4, not 12 new ones


def test_runs_without_any_logger(tmp_path: Path) -> None:
    result = run_train(tmp_path, ["debug=limit", "trainer.max_epochs=1", "~logger"])
    assert result["status"] == "completed" and (tmp_path / "metrics.json").is_file()


def test_missing_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    from restorelab.checkpoints import CheckpointError

    with pytest.raises(CheckpointError, match="checkpoints"):
        run_train(tmp_path, ["debug=limit", "ckpt_path=/nonexistent/last.ckpt"])


def test_nan_loss_stops_and_keeps_the_good_checkpoint(tmp_path: Path) -> None:
    # Epoch 0 (4 steps) is finite and checkpointed; the loss turns NaN during epoch 1.
    overrides = ["debug=limit", "loss._target_=conftest.NaNAfterSteps", "+loss.after=5"]
    with pytest.raises(NonFiniteLossError, match="lower learning rate"):
        run_train(tmp_path, overrides)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["status"] == "failed" and "nan" in saved["error"]
    last = torch.load(saved["last_checkpoint"], map_location="cpu", weights_only=True)
    assert last["global_step"] == 4
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values() if v.is_floating_point())


def test_blind_noise_reports_psnr_per_level(tmp_path: Path) -> None:
    result = run_train(tmp_path, ["debug=limit", "noise.sigma=[5,55]"])
    for level in (15, 25, 50):
        assert 0 < result[f"val/psnr_sigma{level}"] < 100


def test_wandb_offline_run_holds_the_loss_history(tmp_path: Path) -> None:
    run_train(tmp_path, ["debug=limit", "logger=wandb"])
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    records = list(runs[0].glob("*.wandb"))
    assert records, "the offline run has no .wandb history file"
    # W&B's service process writes the history file on its own; on a loaded machine its last
    # records can land a moment after wandb.finish() returns (seen once: only the header there).
    deadline = time.monotonic() + 60
    while b"train/loss" not in records[0].read_bytes() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert b"train/loss" in records[0].read_bytes()


def test_cli_run_and_multirun(tmp_path: Path) -> None:
    fast = ["debug=fdr", "data.patch_size=32", "data.eval_size=64", "data.batch_size=2"]
    single = run_cli("train.py", *fast, "noise.sigma=50", cwd=tmp_path)
    assert single.returncode == 0, single.stderr[-3000:]
    assert "run folder" in single.stdout
    runs = list((tmp_path / "logs" / "debug" / "runs").glob("*/metrics.json"))
    assert len(runs) == 1

    multi = run_cli("train.py", "-m", *fast, "model.kernel_size=3,5", cwd=tmp_path)
    assert multi.returncode == 0, multi.stderr[-3000:]
    jobs = sorted((tmp_path / "logs" / "debug" / "multiruns").glob("*/*/metrics.json"))
    assert len(jobs) == 2
    kernel_sizes = {
        compose_kernel(job.parent) for job in jobs
    }
    assert kernel_sizes == {3, 5}


def compose_kernel(job_dir: Path) -> int:
    from omegaconf import OmegaConf

    return OmegaConf.load(job_dir / ".hydra" / "config.yaml").model.kernel_size


def test_unknown_key_gets_hydras_error(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="model.no_such_key"):
        compose_train(tmp_path, ["model.no_such_key=3"])


def test_missing_data_is_one_line_and_exit_status_1(tmp_path: Path) -> None:
    result = run_cli("train.py", "data=folder", f"data.data_dir={tmp_path / 'nowhere'}",
                     "debug=fdr", cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert "Traceback" not in output
    (line,) = [line for line in output.splitlines() if "DataError" in line]
    assert str(tmp_path / "nowhere") in line
