"""Checks a run's config before anything is built, so that a bad value is one clear line.

Each check names the key, the value and what to set instead. They run in `train.run` before the
data is loaded (`check_config`) and before the net is allocated (`check_model`): a typo must
not cost a dataset decode, and an absurd model size must not take the machine's memory (and
every other job on it) down with it.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, open_dict

from restorelab.errors import ConfigError

log = logging.getLogger(__name__)

# Bytes per parameter while training with Adam in fp32: weight, gradient and two moments.
TRAINING_BYTES_PER_PARAMETER = 16

# (key, smallest allowed value, what it means) for the data keys every loader reads.
_DATA_MINIMUMS = (
    ("batch_size", 1, "images per training step"),
    ("num_workers", 0, "loader processes; 0 loads in the main process"),
    ("patch_size", 1, "side of the training crops, in pixels"),
    ("eval_size", 1, "side of the validation and test crops (null: whole images)"),
    ("samples_per_epoch", 1, "training crops per epoch (null: every image once, where allowed)"),
)


def check_config(cfg: DictConfig) -> None:
    """Refuses data keys that no loader can use (`data.batch_size=0`, a negative worker count),
    and a GPU trainer on a machine without one."""
    _check_accelerator(cfg)
    data = cfg.get("data") or {}
    for key, minimum, meaning in _DATA_MINIMUMS:
        if key not in data or data[key] is None:
            continue
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(
                f"data.{key}={value!r} cannot work: it must be an integer >= {minimum} ({meaning})"
            )


def _check_accelerator(cfg: DictConfig) -> None:
    trainer = cfg.get("trainer") or {}
    if str(trainer.get("accelerator", "auto")) not in ("gpu", "cuda"):
        return
    devices = trainer.get("devices", 1)
    found = torch.cuda.device_count() if torch.cuda.is_available() else 0
    wanted = devices if isinstance(devices, int) and not isinstance(devices, bool) else 1
    if found >= max(wanted, 1):
        return
    on_cpu = "trainer=ddp_cpu" if wanted > 1 else "trainer=cpu"
    has = f"{found} GPU{'s' if found > 1 else ''}" if found else "no GPU that PyTorch can use"
    asked = f"{wanted} GPU{'s' if wanted > 1 else ''}"
    raise ConfigError(
        f"trainer.accelerator={trainer.accelerator} asks for {asked} (trainer.devices={devices}), "
        f"but this machine has {has}: run on the CPU with {on_cpu}"
        + (f", or set trainer.devices={found}" if found else "")
    )


def check_model(cfg: DictConfig, datamodule: Any) -> None:
    """The model fits the data's channels and the machine's memory; checked without allocating.

    The net is built on PyTorch's "meta" device, where tensors have shapes but no storage, so a
    config of 10^15 parameters is counted in milliseconds instead of exhausting the memory.
    """
    _check_channels(cfg, datamodule)
    try:
        with torch.device("meta"):
            net = hydra.utils.instantiate(cfg.model)
    except Exception:  # noqa: BLE001  a net that cannot be built on meta is built for real next
        return
    parameters = sum(p.numel() for p in net.parameters())
    needed = parameters * TRAINING_BYTES_PER_PARAMETER
    available = memory_available(cfg)
    if needed > available:
        raise ConfigError(
            f"model={_choice(cfg)} with {_size_keys(cfg)} has {parameters:.3g} parameters: "
            f"training it needs at least {_bytes(needed)} for weights, gradients and optimizer "
            f"state, but this machine has {_bytes(available)}; lower the model's depth or width"
        )


def _check_channels(cfg: DictConfig, datamodule: Any) -> None:
    model_channels = cfg.model.get("in_channels")
    data_channels = getattr(datamodule, "channels", None)
    if model_channels is None or data_channels is None or model_channels == data_channels:
        return
    data_key = "data.channels" if "channels" in cfg.data else f"data={_choice(cfg, 'data')}"
    raise ConfigError(
        f"model.in_channels={model_channels} but the data gives {data_channels}-channel images "
        f"({data_key}={data_channels}): leave model.in_channels at its default "
        "${data.channels}, or choose data with that many channels"
    )


def memory_available(cfg: DictConfig) -> int:
    """Bytes the run can train in: the GPU's memory on a GPU run, else the machine's RAM."""
    accelerator = str((cfg.get("trainer") or {}).get("accelerator", "auto"))
    if accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        return int(torch.cuda.get_device_properties(0).total_memory)
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # not POSIX: no refusal on a guess
        return 1 << 62


def _choice(cfg: DictConfig, group: str = "model") -> str:
    target = str(cfg[group].get("_target_", "?"))
    return target.rsplit(".", 1)[-1]


def _size_keys(cfg: DictConfig) -> str:
    keys = [
        f"model.{key}={value}"
        for key, value in cfg.model.items()
        if isinstance(value, int) and not isinstance(value, bool) and key != "in_channels"
    ]
    return ", ".join(keys) or "its config"


def _bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if count < 1024 or unit == "PiB":
            return f"{count:.3g} {unit}"
        count /= 1024
    return f"{count:.3g} PiB"


def monitor_noisy_only(cfg: DictConfig, datamodule: Any) -> None:
    """Noisy-only data without a clean set (`data.val_root`) scores no PSNR: checkpoints, early
    stopping and schedulers then follow `val/loss` (mode min), said in one log line. Runs after
    the data is built and before anything that reads `${monitor}`."""
    if not getattr(datamodule, "noisy_only", False) or getattr(datamodule, "clean_eval", False):
        return
    monitor, mode = cfg.get("monitor"), cfg.get("monitor_mode")
    if not str(monitor).startswith("val/") or (monitor, mode) == ("val/loss", "min"):
        return  # already val/loss, or a training metric chosen by hand
    log.info(
        "data.noisy_only without a clean set (data.val_root): selecting checkpoints on val/loss "
        "(mode min) instead of %s (mode %s)", monitor, mode,
    )
    with open_dict(cfg):
        cfg.monitor = "val/loss"
        cfg.monitor_mode = "min"
