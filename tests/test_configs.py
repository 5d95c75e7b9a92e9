"""Every YAML of every config group composes and instantiates (parametrized over the files on
disk, so a new config file is tested without editing a test)."""

from __future__ import annotations

from pathlib import Path

import hydra
import lightning as L
import pytest
import torch
from conftest import CONF, FAST, compose_train, config_files

from restorelab.train import build_module, instantiate_group

# Groups whose choice is swapped in `train.yaml`'s defaults list.
SWAPPABLE = ["data", "model", "noise", "loss", "objective", "optimizer", "scheduler", "trainer",
             "logger", "callbacks", "debug", "experiment"]
CASES = [(group, name) for group in SWAPPABLE for name in config_files(group)]


def test_every_group_has_choices() -> None:
    for group in SWAPPABLE:
        if group != "experiment":
            assert config_files(group), f"conf/{group}/ has no config file"


@pytest.mark.parametrize(("group", "name"), CASES, ids=[f"{g}={n}" for g, n in CASES])
def test_config_composes_and_instantiates(group: str, name: str, tmp_path: Path) -> None:
    overrides = [f"{group}={name}"]
    if group == "noise" and name in ("desaturate", "mixed"):
        overrides.append("data.channels=3")  # these damages need color
    cfg = compose_train(tmp_path, overrides)
    module = build_module(cfg)
    assert isinstance(module, L.LightningModule)
    datamodule = hydra.utils.instantiate(cfg.data)
    assert datamodule.channels == cfg.data.channels
    instantiate_group(cfg.get("callbacks"))
    instantiate_group(cfg.get("logger"))
    extra = {}
    if cfg.trainer.accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        extra["accelerator"] = "cpu"  # everything but the device is still checked here
    trainer = hydra.utils.instantiate(
        cfg.trainer, logger=False, enable_checkpointing=False, **extra
    )
    assert isinstance(trainer, L.Trainer)
    # One forward pass through the composed pipeline: corruption then net, which gets the
    # level the corruption drew when it takes one (FFDNet, DRUNet).
    clean = torch.rand(2, cfg.data.channels, 32, 32)
    with torch.no_grad():
        corrupted = module.corruption.apply_with_level(clean)
        restored = module(corrupted.noisy, corrupted.sigma)
    assert restored.shape == clean.shape


def test_paths_and_hydra_configs_compose(tmp_path: Path) -> None:
    cfg = compose_train(tmp_path)
    assert cfg.hydra.run.dir and cfg.hydra.sweep.subdir
    assert Path(cfg.paths.output_dir) == tmp_path


def test_monitor_is_named_once() -> None:
    # The monitored metric is written in train.yaml; everything else interpolates it. An
    # experiment may choose another one, but only through the top-level `monitor` key.
    hits = {}
    for path in CONF.rglob("*.yaml"):
        lines = [line for line in path.read_text().splitlines()
                 if "val/psnr" in line.split("#")[0]]
        if lines:
            hits[path] = lines
    assert hits.pop(CONF / "train.yaml") == ["monitor: val/psnr"]
    for path, lines in hits.items():
        assert path.parent.name == "experiment", path
        assert all(line.startswith("monitor: val/psnr") for line in lines), (path, lines)


def test_fast_overrides_are_valid(tmp_path: Path) -> None:
    compose_train(tmp_path, FAST)
