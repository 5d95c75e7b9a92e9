"""What `restorelab eval` is asked (`EvalRequest`, from options or a study's YAML) and the models
it names, loaded and labelled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from restorelab.evaluation.harness import DEFAULT_CURVE_SIGMAS


@dataclass
class EvalRequest:
    """What `restorelab eval` was asked; the keyword arguments of `run_evaluation`.

    Images: a folder (`images`), a dataset config (`data`, e.g. "natural", with `data.key=value`
    `overrides`), or by default the dataset of the checkpoint's run; whole images (`eval_size`
    null) unless an override says otherwise. Noise: the run's own unless `noise` names a config
    (with `noise.key=value` overrides); `levels` sets its main level (sigma, amount, peak).
    Models: `checkpoint`, and or `checkpoints`, each `[LABEL=]PATH` (a run folder, a `.ckpt`,
    a `.safetensors` export); with one model its row is "model", with several each row is its
    label (by default the run folder's or the file's name). The first model's run gives the
    default data and noise, and every model must take the same number of channels.
    """

    checkpoint: str | Path | None = None
    checkpoints: Sequence[str | Path] = ()
    images: str | Path | None = None
    data: str | None = None
    noise: str | None = None
    levels: Sequence[float] | None = None
    baselines: Sequence[str] = ("auto",)
    curve: bool = False
    curve_sigmas: Sequence[float] = DEFAULT_CURVE_SIGMAS
    curve_images: int | None = None
    seed: int = 0
    output: str | Path | None = None
    grid: int = 4
    split: str = "test"
    overrides: Sequence[str] = ()
    channels: int | None = None
    tile_size: int | str | None = "auto"
    device: str | None = None
    progress: bool = True
    ensemble: bool = False
    max_images: int | None = None  # only the first N images (a quick look, or a study's subset)
    clean_input: bool = False  # also a level "clean": each method on the clean images themselves
    # Also the corruption exactly as configured (a range: drawn per image, as in training), first.
    as_configured: bool = False


@dataclass
class LoadedModel:
    """A scored checkpoint: its denoiser, run config, run folder (None for an export) and the
    name of its rows."""

    denoiser: Any
    config: Any
    run_dir: Path | None
    source: Path
    label: str = "model"


def load_request(path: str | Path, **overrides: Any) -> EvalRequest:
    """An EvalRequest from a YAML file of its fields (a study's evaluation, `restorelab eval
    --config FILE`), with `overrides` that are not None taking precedence; paths in it are
    relative to the working directory."""
    from omegaconf import OmegaConf

    from restorelab.errors import RestoreLabError

    path = Path(path)
    if not path.is_file():
        raise RestoreLabError(f"evaluation config {path} does not exist")
    from omegaconf.errors import InterpolationResolutionError

    try:
        content = OmegaConf.to_container(OmegaConf.load(path), resolve=True) or {}
    except InterpolationResolutionError as error:  # ${oc.env:M} without M: say which
        raise RestoreLabError(
            f"{path}: {error.msg.split(': ', 1)[-1].strip()}; set it, e.g. "
            f"M=logs/<sweep>/multiruns/<stamp> restorelab eval --config {path}"
        ) from None
    known = {f.name for f in fields(EvalRequest)}
    unknown = sorted(set(content) - known)  # type: ignore[arg-type]
    if unknown:
        raise RestoreLabError(f"{path}: unknown key(s) {unknown}; allowed: {sorted(known)}")
    merged = {**content, **{k: v for k, v in overrides.items() if v is not None}}  # type: ignore[dict-item]
    return EvalRequest(**merged)


def load_models(request: EvalRequest) -> list[LoadedModel]:
    """Every requested checkpoint, loaded and labelled; ValueError for two of one label or
    models of different channel counts."""
    from restorelab.inference import load_denoiser, resolve_checkpoint

    specs = ([request.checkpoint] if request.checkpoint is not None else []) + list(
        request.checkpoints)
    models = []
    for spec in specs:
        label, path = _label_and_path(str(spec))
        denoiser = load_denoiser(path, device=request.device, tile_size=request.tile_size)
        source = resolve_checkpoint(path)
        run_dir = source.parent.parent if source.suffix == ".ckpt" else None
        if label is None:
            label = "model" if len(specs) == 1 else _default_label(Path(path), run_dir, source)
        models.append(LoadedModel(denoiser, denoiser.config, run_dir, source, label))
    labels = [m.label for m in models]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise ValueError(f"two models are labelled {', '.join(twice)}: name them LABEL=PATH")
    channels = {m.label: m.denoiser.channels for m in models}
    if len(set(channels.values())) > 1:
        shown = ", ".join(f"{label} {c}" for label, c in channels.items())
        raise ValueError(f"the models take different channel counts ({shown}): score gray and "
                         "RGB models in separate evaluations")
    return models


def _label_and_path(spec: str) -> tuple[str | None, str]:
    """`LABEL=PATH` or `PATH` (a path that exists is a path, even with "=" in it)."""
    if "=" in spec and not Path(spec).exists():
        label, path = spec.split("=", 1)
        if not label or not path:
            raise ValueError(f"{spec!r}: give a model as PATH or LABEL=PATH")
        return label, path
    return None, spec


def _default_label(path: Path, run_dir: Path | None, source: Path) -> str:
    """A run's folder name (a sweep's job number with its sweep folder), or an export's stem."""
    folder = run_dir if run_dir is not None else (path if path.is_dir() else None)
    if folder is None:
        return source.stem if source.stem != "model" else source.parent.name
    folder = folder.resolve()
    return f"{folder.parent.name}/{folder.name}" if folder.name.isdigit() else folder.name
