"""Reading a trained net back: resolving what a user points at (a run folder, a `.ckpt` in one,
a `.safetensors` export) and loading it without executing pickled code
(`torch.load(weights_only=True)` or safetensors). Used by training's `init_weights`, `export`,
inference and evaluation alike."""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from restorelab.checkpoints import CheckpointError, is_complete_archive, safe_load

# safetensors exports keep the run's config here, as JSON (see export.py).
SAFETENSORS_METADATA_KEY = "restorelab"


def resolve_checkpoint(path: str | Path) -> Path:
    """The weights file `path` names: itself for a file; for a run folder its best checkpoint
    (from `metrics.json`), else `checkpoints/last.ckpt`."""
    path = Path(path).expanduser()
    if path.is_file():
        return path
    if not path.is_dir():
        raise CheckpointError(
            f"{path} does not exist: give a run folder (logs/train/runs/<run>), a .ckpt inside "
            "one, or a .safetensors export"
        )
    checkpoints = path / "checkpoints"
    metrics_path = path / "metrics.json"
    if metrics_path.is_file():
        metrics = json.loads(metrics_path.read_text())
        for key in ("best_checkpoint", "tested_checkpoint", "last_checkpoint"):
            if metrics.get(key):
                saved = Path(metrics[key])
                # The run folder may have been moved since: look for the file by name in it.
                for candidate in (saved, checkpoints / saved.name):
                    if candidate.is_file() and is_complete_archive(candidate):
                        return candidate
    if (checkpoints / "last.ckpt").is_file() and is_complete_archive(checkpoints / "last.ckpt"):
        return checkpoints / "last.ckpt"
    found = sorted(checkpoints.glob("*.ckpt")) if checkpoints.is_dir() else []
    # A truncated file (a crash mid-write before writes were atomic) is passed over.
    complete = [candidate for candidate in found if is_complete_archive(candidate)]
    if complete:
        return complete[-1]
    if found:
        raise CheckpointError(
            f"{path}: every checkpoint in {checkpoints} is truncated or unreadable "
            f"({', '.join(c.name for c in found)}); the run cannot be restored from them"
        )
    raise CheckpointError(
        f"{path} holds no checkpoint: expected {checkpoints}/*.ckpt (and metrics.json naming the "
        "best one), as `python train.py` writes them"
    )


def _read_lightning_checkpoint(path: Path) -> tuple[dict[str, Tensor], str | None]:
    """The net's weights from a Lightning .ckpt, read with `weights_only=True`, and what they are
    when not the trained weights themselves (an average, see `restorelab.callbacks.EMAWeights`)."""
    content = safe_load(path)
    state = content.get("state_dict") if isinstance(content, dict) else None
    weights = {
        key[len("net.") :]: value
        for key, value in (state or {}).items()
        if isinstance(key, str) and key.startswith("net.") and isinstance(value, Tensor)
    }
    if not weights:
        raise CheckpointError(
            f"{path} is not a RestoreLab checkpoint: it holds no 'state_dict' with 'net.' "
            "weights (train one with `python train.py`, or give its run folder)"
        )
    from restorelab.callbacks import WEIGHTS_KEY

    averaged = content.get(WEIGHTS_KEY)
    return weights, averaged if isinstance(averaged, str) else None


def _run_config(checkpoint: Path) -> DictConfig:
    """The composed config saved by Hydra beside a run's checkpoints."""
    import restorelab  # noqa: F401  (registers the `restorelab.cwd` resolver the config uses)

    for run_dir in (checkpoint.parent.parent, checkpoint.parent):
        config_path = run_dir / ".hydra" / "config.yaml"
        if config_path.is_file():
            return OmegaConf.load(config_path)  # type: ignore[return-value]
    raise CheckpointError(
        f"no config for {checkpoint}: expected {checkpoint.parent.parent}/.hydra/config.yaml "
        "(a checkpoint must stay inside its run folder, or be exported with "
        "`restorelab export --format safetensors`, which embeds the config)"
    )


def _read_safetensors(path: Path) -> tuple[dict[str, Tensor], DictConfig]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as file:
            metadata = file.metadata() or {}
            weights = {key: file.get_tensor(key) for key in file.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path} is not a readable safetensors file ({error})") from None
    if SAFETENSORS_METADATA_KEY not in metadata:
        from restorelab.published_weights import recognize

        published = recognize(weights, metadata)  # e.g. the published DnCNN's dncnn.N keys
        if published is not None:
            return published
        raise CheckpointError(
            f"{path} is a safetensors file without RestoreLab's config in its metadata (nor "
            "a published layout RestoreLab reads, such as DnCNN's dncnn.N keys); export one "
            "with `restorelab export --format safetensors`"
        )
    config = OmegaConf.create(json.loads(metadata[SAFETENSORS_METADATA_KEY]))
    return weights, config  # type: ignore[return-value]


def load_network(path: str | Path) -> tuple[nn.Module, DictConfig]:
    """The restoration net (in eval mode, on the CPU) and the run config it was trained with.

    `path`: a run folder, a Lightning `.ckpt` inside one, or a `.safetensors` export. The model is
    rebuilt from the config's `model` node with Hydra, then the weights are loaded strictly.
    """
    checkpoint = resolve_checkpoint(path)
    averaged = None  # a safetensors export carries it in its config
    if checkpoint.suffix == ".safetensors":
        weights, config = _read_safetensors(checkpoint)
    else:
        weights, averaged = _read_lightning_checkpoint(checkpoint)
        config = _run_config(checkpoint)
    try:
        model_config = OmegaConf.to_container(config.model, resolve=True)
        net: nn.Module = hydra.utils.instantiate(model_config)
    except Exception as error:  # a config from another version: say where it came from
        raise CheckpointError(f"could not rebuild the model of {checkpoint}: {error}") from None
    try:
        net.load_state_dict(weights, strict=True)
    except RuntimeError as error:
        raise CheckpointError(
            f"the weights in {checkpoint} do not fit the model in its config: {error}"
        ) from None
    # `weights`: "EMA, decay 0.999" for averaged weights, which reports and exports repeat.
    found = {"source": str(checkpoint), **({"weights": averaged} if averaged else {})}
    with_source = OmegaConf.merge(config, found)
    return net.eval(), with_source  # type: ignore[return-value]
