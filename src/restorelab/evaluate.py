"""The evaluation harness behind `restorelab eval`: models and classical baselines scored on the
same seeded noisy images, by the measurement protocol of the guide (docs/evaluation.md).

- Clean references are float in [0, 1] (8-bit / 255, 16-bit / 65535).
- Image `i` is corrupted with a generator seeded by `seed + i`, at every level and for every
  method: all methods see the very same noisy image, and for Gaussian noise every sigma scales
  the same N(0, 1) draw, so curves over sigma are smooth.
- PSNR and SSIM (torchmetrics, data_range = 1) per image on the output clamped to [0, 1], then
  averaged over images; no border crop; gray or RGB as the images are.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torchmetrics.functional.image import (
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)

from restorelab.atomic import atomic_path, write_text_atomic
from restorelab.baselines import Baseline
from restorelab.inference import Denoiser

# The main level argument of each corruption class, in the units of its config.
LEVEL_KEYS = {
    "GaussianNoise": "sigma",
    "SpeckleNoise": "sigma",
    "PoissonNoise": "peak",
    "SaltPepperNoise": "amount",
    "PixelFlip": "amount",
}
DEFAULT_CURVE_SIGMAS = (5, 15, 25, 35, 50, 65, 75)


@dataclass
class EvalImage:
    """A clean reference `[C, H, W]` in [0, 1]; `noisy` is set for data with real noise."""

    name: str
    clean: Tensor
    noisy: Tensor | None = None


@dataclass
class Level:
    """One corruption setting: `corruption` None means the images' own (real) noise.
    `sigma` is the true Gaussian noise level in [0, 1] units when there is one."""

    name: str
    corruption: nn.Module | None
    sigma: float | None = None
    value: float | None = None


@dataclass
class Method:
    """Anything that restores: `restore(noisy [C, H, W], sigma or None) -> [C, H, W]`."""

    name: str
    restore: Callable[[Tensor, float | None], Tensor]
    kind: str = "baseline"  # "model" | "baseline"


def model_method(denoiser: Denoiser, name: str = "model") -> Method:
    """A trained net as a method. A net that takes the noise level is given the true sigma, as
    the classical baselines are (the literature's non-blind rows); a blind net never sees it."""

    def restore(noisy: Tensor, sigma: float | None) -> Tensor:
        return denoiser.denoise(noisy, None if sigma is None else sigma * 255.0)

    return Method(name, restore, kind="model")


def baseline_method(baseline: Baseline) -> Method:
    def restore(noisy: Tensor, sigma: float | None) -> Tensor:
        array = noisy.permute(1, 2, 0).double().numpy()  # (H, W, C)
        return torch.from_numpy(baseline(array, sigma)).permute(2, 0, 1).float()

    return Method(baseline.name, restore)


def score(restored: Tensor, clean: Tensor) -> tuple[float, float]:
    """(PSNR, SSIM) of one `[C, H, W]` image: data_range 1, output clamped to [0, 1]."""
    preds = restored.float().clamp(0.0, 1.0)[None]
    target = clean.float()[None]
    psnr = peak_signal_noise_ratio(preds, target, data_range=1.0, dim=(1, 2, 3))
    ssim = structural_similarity_index_measure(preds, target, data_range=1.0)
    return float(psnr), float(ssim)


def corrupt(image: EvalImage, index: int, level: Level, seed: int) -> Tensor:
    """The noisy version of image `index` at `level`, identical for every method and run."""
    if level.corruption is None:
        if image.noisy is None:
            raise ValueError(f"{image.name} has no noisy version and the level has no corruption")
        return image.noisy
    generator = torch.Generator().manual_seed(seed + index)
    with torch.no_grad():
        return level.corruption(image.clean[None].float(), generator)[0]


@dataclass
class EvaluationResult:
    """Per-image rows and, for image grids, the first images' outputs per level."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """{level: {method: {psnr, ssim, seconds, images}}}, means over images."""
        grouped: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for row in self.rows:
            grouped.setdefault(row["level"], {}).setdefault(row["method"], []).append(row)
        return {
            level: {
                method: {
                    "psnr": float(np.mean([r["psnr"] for r in rows])),
                    "ssim": float(np.mean([r["ssim"] for r in rows])),
                    "seconds_per_image": float(np.mean([r["seconds"] for r in rows])),
                    "images": len(rows),
                }
                for method, rows in methods.items()
            }
            for level, methods in grouped.items()
        }


def evaluate(
    methods: Sequence[Method],
    images: Sequence[EvalImage],
    levels: Sequence[Level],
    seed: int = 0,
    keep_samples: int = 0,
    progress: bool = False,
) -> EvaluationResult:
    """Scores every method on every image at every level (see the module docstring)."""
    result = EvaluationResult()
    jobs = [(level, i, image) for level in levels for i, image in enumerate(images)]
    iterator: Any = jobs
    if progress:
        from rich.progress import track

        names = ", ".join(m.name for m in methods)
        iterator = track(  # one tick per noisy image: every method (BM3D too) has restored it
            jobs, description=f"scoring {names} on {len(images)} images x {len(levels)} levels"
        )
    for level, index, image in iterator:
        noisy = corrupt(image, index, level, seed)
        sample: dict[str, Any] = {"image": image.name, "noisy": noisy.clamp(0, 1),
                                  "clean": image.clean}
        for method in methods:
            start = time.perf_counter()
            restored = method.restore(noisy, level.sigma)
            seconds = time.perf_counter() - start
            psnr, ssim = score(restored, image.clean)
            result.rows.append(
                {
                    "image": image.name,
                    "level": level.name,
                    "method": method.name,
                    "psnr": psnr,
                    "ssim": ssim,
                    "seconds": seconds,
                }
            )
            sample[method.name] = restored.float().clamp(0, 1)
        if index < keep_samples:
            result.samples.setdefault(level.name, []).append(sample)
    return result


# ---------------------------------------------------------------------------------------------
# Corruption levels
# ---------------------------------------------------------------------------------------------
def _class_name(target: str) -> str:
    return target.rsplit(".", 1)[-1]


def corruption_levels(noise: dict[str, Any], values: Sequence[float] | None = None) -> list[Level]:
    """Levels for a noise config (a dict with `_target_`): at `values` of its main level key
    (sigma, amount, peak) when given; else its fixed level, or for a [min, max] range the levels
    its validation uses (15/25/50 inside a sigma range, else the two ends)."""
    import hydra

    from restorelab.corruptions.base import level_name

    noise = dict(noise)
    kind = _class_name(str(noise.get("_target_", "")))
    key = LEVEL_KEYS.get(kind)
    if values:
        if key is None:
            raise ValueError(f"{kind} has no single level to set; allowed for: {list(LEVEL_KEYS)}")
        configs = [(level_name(key, float(v)), {**noise, key: float(v)}) for v in values]
        levels = [(name, hydra.utils.instantiate(cfg)) for name, cfg in configs]
    else:
        corruption = hydra.utils.instantiate(noise)
        fixed = corruption.fixed_levels()
        if fixed:
            levels = list(fixed.items())
        else:
            value = getattr(corruption, key)[0] if key else None
            levels = [(level_name(key, value) if key else kind, corruption)]
    result = []
    for name, corruption in levels:
        value = getattr(corruption, key)[0] if key and hasattr(corruption, key) else None
        sigma = value / 255.0 if kind == "GaussianNoise" and value is not None else None
        result.append(Level(name, corruption, sigma, value))
    return result


def gaussian_levels(sigmas: Sequence[float], clip: bool = False) -> list[Level]:
    """Gaussian noise at each sigma (0-255 units)."""
    from restorelab.corruptions import GaussianNoise

    return [
        Level(f"sigma{s:g}", GaussianNoise(sigma=float(s), clip=clip), float(s) / 255.0, float(s))
        for s in sigmas
    ]


# ---------------------------------------------------------------------------------------------
# Reports: CSV, JSON, image grid, noise-level curve
# ---------------------------------------------------------------------------------------------
def write_rows(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]) if rows else ["image"])
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in row.items()}
            )


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # the PSNR of a perfect output is inf
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json(path: Path, content: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(_json_safe(content), indent=2) + "\n")


def _show(ax: Any, image: Tensor) -> None:
    array = image.permute(1, 2, 0).numpy()
    if array.shape[-1] == 1:
        ax.imshow(array[..., 0], cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(array.clip(0, 1))
    ax.set_xticks([])
    ax.set_yticks([])


def write_grid(path: Path, result: EvaluationResult, methods: Sequence[str]) -> None:
    """One row per kept image and level: noisy | each method | clean, PSNR in the titles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(level, s) for level, samples in result.samples.items() for s in samples]
    if not rows:
        return
    columns = ["noisy", *[m for m in methods if m != "noisy"], "clean"]
    figure, axes = plt.subplots(
        len(rows), len(columns), figsize=(2.4 * len(columns), 2.5 * len(rows)), squeeze=False
    )
    for r, (level, sample) in enumerate(rows):
        for c, column in enumerate(columns):
            ax = axes[r][c]
            _show(ax, sample[column])
            title = column
            if column != "clean":
                psnr, _ = score(sample[column], sample["clean"])
                title = f"{column}\n{psnr:.2f} dB"
            ax.set_title(title, fontsize=8)
            if c == 0:
                ax.set_ylabel(f"{sample['image']}\n{level}", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100)
    plt.close(figure)


def curve_table(result: EvaluationResult, levels: Sequence[Level]) -> list[dict[str, Any]]:
    """Mean PSNR / SSIM per sigma and method: the rows of the noise-level curve."""
    summary = result.summary()
    return [
        {"sigma": level.value, "method": method, "psnr": stats["psnr"], "ssim": stats["ssim"]}
        for level in levels
        for method, stats in summary[level.name].items()
    ]


def plot_curve(
    path: Path,
    table: Sequence[dict[str, Any]],
    trained_sigma: Sequence[float] | None = None,
    title: str = "",
) -> None:
    """PSNR against sigma, one line per method; the training level (or range) is shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(6.4, 4.2))
    methods = list(dict.fromkeys(row["method"] for row in table))
    for method in methods:
        points = sorted((row["sigma"], row["psnr"]) for row in table if row["method"] == method)
        style = "--" if method == "noisy" else "-"
        ax.plot(*zip(*points), style, marker="o", markersize=3, label=method)
    if trained_sigma:
        low, high = min(trained_sigma), max(trained_sigma)
        if low == high:
            ax.axvline(low, color="gray", linestyle=":", label=f"trained at sigma {low:g}")
        else:
            label = f"trained on sigma {low:g}-{high:g}"
            ax.axvspan(low, high, color="gray", alpha=0.15, label=label)
    ax.set_xlabel("Gaussian noise sigma (0-255)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(title or "PSNR against noise level", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=120)
    plt.close(figure)


def noise_curve(
    methods: Sequence[Method],
    images: Sequence[EvalImage],
    sigmas: Sequence[float] = DEFAULT_CURVE_SIGMAS,
    clip: bool = False,
    seed: int = 0,
    output_dir: Path | None = None,
    trained_sigma: Sequence[float] | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """PSNR against Gaussian sigma for every method; writes curve.csv and curve.png to
    `output_dir` when given; returns the table rows."""
    levels = gaussian_levels(sigmas, clip)
    result = evaluate(methods, images, levels, seed=seed, progress=progress)
    table = curve_table(result, levels)
    if output_dir is not None:
        write_rows(output_dir / "curve.csv", table)
        plot_curve(output_dir / "curve.png", table, trained_sigma)
    return table


def results_table(summary: dict[str, dict[str, dict[str, float]]], title: str = "") -> Any:
    """A rich table: one block of rows per level, the gain over the noisy input beside each."""
    from rich.table import Table

    table = Table(title=title or "evaluation", title_justify="left")
    for column, justify in (("level", "left"), ("method", "left"), ("PSNR (dB)", "right"),
                            ("SSIM", "right"), ("gain (dB)", "right"), ("s / image", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for level, methods in summary.items():
        noisy = methods.get("noisy", {}).get("psnr")
        for i, (method, stats) in enumerate(methods.items()):
            gain = "" if noisy is None or method == "noisy" else f"{stats['psnr'] - noisy:+.2f}"
            table.add_row(
                level if i == 0 else "",
                method,
                f"{stats['psnr']:.2f}",
                f"{stats['ssim']:.4f}",
                gain,
                f"{stats['seconds_per_image']:.3f}",
                end_section=i == len(methods) - 1,
            )
    return table


# ---------------------------------------------------------------------------------------------
# Image sources and the whole job behind `restorelab eval`
# ---------------------------------------------------------------------------------------------
CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def compose_config(overrides: Sequence[str]) -> Any:
    """The config `python train.py <overrides>` would compose (for its data and noise nodes)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    import restorelab  # noqa: F401  (registers the resolvers the configs use)

    if not CONF_DIR.is_dir():
        raise FileNotFoundError(
            f"config folder {CONF_DIR} not found: --data and --noise need RestoreLab's conf/ "
            "(an editable install of the repository); use --images FOLDER instead"
        )
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
            return compose(config_name="train", overrides=list(overrides))
    finally:
        GlobalHydra.instance().clear()


def images_from_folder(root: str | Path, channels: int) -> list[EvalImage]:
    """Every image file under `root` (recursive), read as the folder dataset reads them."""
    from restorelab.data.files import find_images, read_image
    from restorelab.data.patches import to_float

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder of images")
    paths = find_images(root, recursive=True)
    if not paths:
        raise FileNotFoundError(f"no image files in {root} (PNG, JPEG, TIFF or BMP)")
    return [
        EvalImage(str(p.relative_to(root)), to_float(read_image(p, channels))) for p in paths
    ]


def images_from_datamodule(data_config: Any, split: str = "test") -> list[EvalImage]:
    """The items of one split of a DataModule config: clean images, or (noisy, clean) pairs of
    data with real noise. Named after the split's items when there is one view per item."""
    import hydra

    datamodule = hydra.utils.instantiate(data_config)
    datamodule.prepare_data()
    datamodule.setup("test" if split == "test" else "fit")
    loader = {"test": datamodule.test_dataloader, "val": datamodule.val_dataloader}[split]()
    items: list[tuple[Tensor, Tensor | None]] = []
    for batch in loader:
        if isinstance(batch, (list, tuple)):
            items += [(clean, noisy) for noisy, clean in zip(*batch)]
        else:
            items += [(clean, None) for clean in batch]
    names = list(getattr(datamodule, "splits", {}).get(split, []))
    if len(names) != len(items):
        names = [f"{split}{i:03d}" for i in range(len(items))]
    return [EvalImage(str(n), clean, noisy) for n, (clean, noisy) in zip(names, items)]


def _default_output(run_dir: Path | None) -> Path:
    from restorelab import RUN_ID  # two evaluations in the same second: two folders

    stamp = f"{time.strftime('%Y-%m-%d_%H-%M-%S')}_{RUN_ID}"
    return (run_dir / "eval" / stamp) if run_dir is not None else Path("logs") / "eval" / stamp


def run_evaluation(
    checkpoint: str | Path | None = None,
    images: str | Path | None = None,
    data: str | None = None,
    noise: str | None = None,
    levels: Sequence[float] | None = None,
    baselines: Sequence[str] = ("auto",),
    curve: bool = False,
    curve_sigmas: Sequence[float] = DEFAULT_CURVE_SIGMAS,
    curve_images: int | None = None,
    seed: int = 0,
    output: str | Path | None = None,
    grid: int = 4,
    split: str = "test",
    overrides: Sequence[str] = (),
    channels: int | None = None,
    tile_size: int | None = 512,
    device: str | None = None,
    progress: bool = True,
    ensemble: bool = False,
) -> dict[str, Any]:
    """Scores a checkpoint (or the baselines alone) and writes per_image.csv, summary.json,
    grid.png and, with `curve`, curve.csv / curve.png to `output`; returns the summary.

    Images: a folder (`images`), a dataset config (`data`, e.g. "natural", with `data.key=value`
    `overrides`), or by default the dataset of the checkpoint's run; whole images (`eval_size`
    null) unless an override says otherwise. Noise: the run's own unless `noise` names a config
    (with `noise.key=value` overrides); `levels` sets its main level (sigma, amount, peak).
    """
    from omegaconf import OmegaConf, open_dict
    from rich.console import Console

    from restorelab.baselines import reference_baseline, select_baselines
    from restorelab.inference import load_denoiser, resolve_checkpoint

    console = Console()
    denoiser = None
    run_config = None
    run_dir = None
    if checkpoint is not None:
        denoiser = load_denoiser(checkpoint, device=device, tile_size=tile_size)
        run_config = denoiser.config
        source = resolve_checkpoint(checkpoint)
        run_dir = source.parent.parent if source.suffix == ".ckpt" else None
        channels = denoiser.channels

    user_data = [o for o in overrides if o.startswith("data.")]
    user_noise = [o for o in overrides if o.startswith("noise.")]
    unknown = [o for o in overrides if o not in user_data + user_noise]
    if unknown:
        raise ValueError(f"overrides must start with data. or noise., got {unknown}")

    # The data and noise nodes: the run's own, unless a group is named (or there is no run). A
    # safetensors export embeds the model and noise only: its data node is the default group's.
    base = run_config
    partial_run = run_config is not None and not ("data" in run_config and "noise" in run_config)
    if run_config is None or data is not None or noise is not None or partial_run:
        groups = ([f"data={data}"] if data else []) + ([f"noise={noise}"] if noise else [])
        base = compose_config(groups)
        if run_config is not None:
            with open_dict(base):
                if data is None and "data" in run_config:
                    base.data = run_config.data
                if noise is None and "noise" in run_config:
                    base.noise = run_config.noise
    OmegaConf.set_struct(base, False)
    base = OmegaConf.merge(base, OmegaConf.from_dotlist(list(overrides)))

    if channels is not None and "channels" in base.data:
        base.data.channels = channels
    if "eval_size" in base.data and not any(o.startswith("data.eval_size=") for o in user_data):
        base.data.eval_size = None  # whole images, as benchmark tables score them
    if "num_workers" in base.data:
        base.data.num_workers = 0
    data_config = OmegaConf.to_container(base.data, resolve=True)
    noise_config = OmegaConf.to_container(base.noise, resolve=True)

    if images is not None:
        channels = channels or int(data_config.get("channels", 1))
        eval_images = images_from_folder(images, channels)
        image_source = str(images)
    else:
        eval_images = images_from_datamodule(data_config, split)
        image_source = f"{data_config['_target_']} ({split} split)"
    if not eval_images:
        raise ValueError(f"no images to evaluate in {image_source}")
    image_channels = int(eval_images[0].clean.shape[0])

    paired = eval_images[0].noisy is not None
    if paired:
        eval_levels = [Level("real", None)]
        corruption_name = "real noise"
    else:
        eval_levels = corruption_levels(noise_config, levels)
        corruption_name = _class_name(str(noise_config.get("_target_", "")))
    chosen = select_baselines(baselines, corruption_name)
    methods = [baseline_method(b) for b in chosen]
    if denoiser is not None:
        at = 1 if methods and methods[0].name == "noisy" else 0
        methods.insert(at, model_method(denoiser))
        if ensemble:  # the same net with the x8 self-ensemble, as its own labelled row
            from restorelab.inference import Denoiser

            x8 = Denoiser(denoiser.net, tile_size=denoiser.tile_size, overlap=denoiser.overlap,
                          batch_size=denoiser.batch_size, device=denoiser.device,
                          config=denoiser.config, ensemble=True)
            methods.insert(at + 1, model_method(x8, "model_x8"))

    output_dir = Path(output) if output is not None else _default_output(run_dir)
    result = evaluate(methods, eval_images, eval_levels, seed, keep_samples=grid, progress=progress)
    summary = result.summary()
    sigma_aware = [b.name for b in chosen if b.uses_sigma]
    knows_sigma = all(level.sigma is not None for level in eval_levels)
    content: dict[str, Any] = {
        "checkpoint": str(resolve_checkpoint(checkpoint)) if checkpoint is not None else None,
        "model": (OmegaConf.to_container(run_config.model, resolve=True) if run_config else None),
        "trained_noise": (
            OmegaConf.to_container(run_config.noise, resolve=True)
            if run_config is not None and "noise" in run_config else None
        ),
        "images": {
            "source": image_source,
            "count": len(eval_images),
            "color": "gray" if image_channels == 1 else "RGB",
            "names": [image.name for image in eval_images],
        },
        "corruption": {
            "config": noise_config if not paired else "real noise (paired data)",
            "levels": [level.name for level in eval_levels],
            "clip": noise_config.get("clip") if not paired else None,
        },
        "protocol": {
            "metrics": "PSNR and SSIM (torchmetrics), data_range=1, per image on the output "
            "clamped to [0, 1], averaged over images",
            "border_crop": 0,
            "noise_seed": f"image i uses a torch.Generator seeded with {seed} + i",
            "baseline_sigma": (
                "none of the chosen baselines uses sigma" if not sigma_aware
                else "true sigma of the Gaussian noise" if knows_sigma
                else "estimated from each noisy image (skimage.restoration.estimate_sigma)"
            ),
            "tile_size": tile_size,
            "self_ensemble": (
                "model_x8: the model's outputs for the 8 flips and rotations of each tile, "
                "averaged" if ensemble and denoiser is not None else None
            ),
        },
        "reference_baseline": reference_baseline(corruption_name),
        "seed": seed,
        "results": summary,
    }
    write_rows(output_dir / "per_image.csv", result.rows)
    if grid:
        write_grid(output_dir / "grid.png", result, [m.name for m in methods])
    if curve:
        curve_set = eval_images[:curve_images] if curve_images else eval_images
        if paired:
            raise ValueError("the noise-level curve needs clean images (not paired real noise)")
        trained = None
        if run_config is not None and "noise" in run_config and "sigma" in run_config.noise:
            sigma = OmegaConf.to_container(run_config.noise, resolve=True)["sigma"]
            trained = list(sigma) if isinstance(sigma, (list, tuple)) else [sigma]
        curve_methods = methods if "noisy" in [m.name for m in methods] else [
            baseline_method(select_baselines(["noisy"], "")[0]), *methods
        ]
        table = noise_curve(
            curve_methods, curve_set, curve_sigmas, bool(noise_config.get("clip", False)),
            seed, output_dir, trained, progress=progress,
        )
        content["curve"] = {"sigmas": list(curve_sigmas), "images": len(curve_set),
                            "table": table}
    write_json(output_dir / "summary.json", content)
    console.print(f"{len(eval_images)} {content['images']['color']} image(s) from {image_source}")
    console.print(results_table(summary))
    console.print(f"sigma given to the baselines: {content['protocol']['baseline_sigma']}")
    console.print(f"written to [bold]{output_dir}[/bold]")
    content["output_dir"] = str(output_dir)
    return content
