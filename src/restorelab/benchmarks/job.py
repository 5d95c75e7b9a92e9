"""The job behind `restorelab benchmark`: N methods and the classical baselines on M named sets
at K sigmas, every method on the very same noisy inputs, one report.

A study's evaluation is a YAML file (every key optional but methods or baselines; paths relative
to the directory the command runs from, like the command line's):

    protocol: literature          # literature | float (see protocol.py)
    sets: [bsd68, set12]          # or NAME=FOLDER: a folder of your own 8-bit images
    sigmas: [15, 25, 50]
    root: ../shared/datasets      # DIR/<set>/ or DIR itself; default data/benchmarks/<set>
    methods:
      - {name: "DnCNN-S (published sigma=25 weights)", path: "dncnn-published:weights.safetensors"}
      - experiments/natural_gray_sigma25/model.safetensors
      - {path: experiments/natural_gray_sigma25/model.safetensors, ensemble: true}  # "... x8"
    ensemble: false               # true: every net also scored with the x8 self-ensemble
    baselines: [noisy, bm3d]
    output: experiments/benchmark_literature
    overwrite: true               # this config regenerates its folder (else refused if present)
"""

from __future__ import annotations

import logging
import os
import platform
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from restorelab.benchmarks.methods import (
    Method,
    OutputCache,
    baseline_methods,
    check_channels,
    model_methods,
)
from restorelab.benchmarks.protocol import Protocol, get_protocol
from restorelab.benchmarks.published import published_rows
from restorelab.benchmarks.sets import default_data_dir, get_set, parse_set, set_root
from restorelab.errors import RestoreLabError

log = logging.getLogger(__name__)


@dataclass
class BenchmarkConfig:
    """Everything one benchmark run needs; the keys of its YAML form."""

    methods: list[Any] = field(default_factory=list)
    sets: list[str] = field(default_factory=lambda: ["bsd68", "set12"])
    sigmas: list[float] = field(default_factory=lambda: [15.0, 25.0, 50.0])
    # `auto`: BM3D, or non-local means with a warning when the opt-in bm3d extra is missing
    baselines: list[str] = field(default_factory=lambda: ["noisy", "auto"])
    protocol: str = "literature"
    root: str | None = None
    roots: dict[str, str] = field(default_factory=dict)  # per set, before `root`
    output: str | None = None
    seed: int = 0
    device: str | None = None
    cache_dir: str | None = None  # default <data_dir>/benchmarks/.cache
    cache: bool = True
    max_images: int | None = None  # the first N images of each set (quick looks only)
    grid_image: int = 0
    crop: int = 128
    download: bool = False
    # Every net scored twice: as given, and with the x8 self-ensemble (a row "<name> x8").
    ensemble: bool = False
    # Replace the report in an `output` folder that holds one (results.json); else refused.
    overwrite: bool = False


def load_config(path: str | Path, **overrides: Any) -> BenchmarkConfig:
    """A BenchmarkConfig from a YAML file, with `overrides` (not None) taking precedence."""
    from omegaconf import OmegaConf

    path = Path(path)
    if not path.is_file():
        raise RestoreLabError(f"benchmark config {path} does not exist")
    content = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    known = {f.name for f in fields(BenchmarkConfig)}
    unknown = sorted(set(content or {}) - known)  # type: ignore[arg-type]
    if unknown:
        raise RestoreLabError(f"{path}: unknown key(s) {unknown}; allowed: {sorted(known)}")
    merged = {**(content or {}), **{k: v for k, v in overrides.items() if v is not None}}
    return BenchmarkConfig(**merged)  # type: ignore[arg-type]


@dataclass
class BenchmarkData:
    """One set, loaded: its registry entry, root and `(name, [H, W, C] uint8)` images."""

    name: str
    info: dict[str, Any]
    images: list[tuple[str, np.ndarray]]


def load_sets(config: BenchmarkConfig) -> list[BenchmarkData]:
    """Every set checked (and fetched with `download`) before any model is loaded."""
    loaded = []
    for spec in config.sets:
        benchmark, folder = parse_set(str(spec))
        given = config.roots.get(benchmark.name)
        root = folder or (Path(given) if given else set_root(benchmark.name, config.root))
        if config.download and folder is None:
            benchmark.download(root)
        images = benchmark.load(root)[: config.max_images or None]
        info = {"name": benchmark.name, "title": benchmark.title, "color": benchmark.color,
                "channels": benchmark.channels, "root": str(root), "images": len(images),
                "source": benchmark.source, "names": [n for n, _ in images]}
        loaded.append(BenchmarkData(benchmark.name, info, images))
    return loaded


def _score_set(data: BenchmarkData, methods: list[Method], config: BenchmarkConfig,
               protocol: Protocol, cache: OutputCache, advance: Any) -> tuple[list, dict]:
    """Per-image rows of one set, and the grid sample (outputs of one image at every sigma)."""
    rows: list[dict[str, Any]] = []
    grid_index = min(config.grid_image, len(data.images) - 1)
    sample: dict[str, Any] = {"image": data.images[grid_index][0],
                              "clean": data.images[grid_index][1],
                              "methods": [m.name for m in methods], "outputs": {}}
    for sigma in map(float, config.sigmas):
        for index, (name, clean) in enumerate(data.images):
            noisy = protocol.noisy(clean, index, sigma)  # one input, shared by every method
            for method in methods:
                advance(f"{data.info['title']} sigma {sigma:g} {method.name}")
                key = (data.name, Path(name).stem, protocol.name)
                finished, seconds = cache.run(method, noisy, sigma, key, protocol.finish)
                psnr, ssim = protocol.score(finished, clean)
                rows.append({"benchmark": data.name, "sigma": sigma, "image": name,
                             "method": method.name, "psnr": psnr, "ssim": ssim,
                             "seconds": seconds})
                if index == grid_index:
                    sample["outputs"].setdefault(sigma, {})[method.name] = (
                        protocol.display(finished), psnr)
    return rows, sample


def summarize(rows: list[dict[str, Any]], sets: list[BenchmarkData], methods: list[Method],
              protocol: str) -> list[dict[str, Any]]:
    """Mean PSNR / SSIM / seconds per (set, sigma, method), with the gain over the noisy input."""
    info = {data.name: data.info for data in sets}
    kinds = {m.name: m for m in methods}
    grouped: dict[tuple[str, float, str], list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault((row["benchmark"], row["sigma"], row["method"]), []).append(row)
    summary = []
    for (benchmark, sigma, method), group in grouped.items():
        noisy = grouped[(benchmark, sigma, "noisy")]
        psnr = float(np.mean([r["psnr"] for r in group]))
        summary.append({
            "benchmark": benchmark, "title": info[benchmark]["title"],
            "color": info[benchmark]["color"], "protocol": protocol, "sigma": sigma,
            "method": method, "kind": "measured", "psnr": psnr,
            "ssim": float(np.mean([r["ssim"] for r in group])),
            "gain_db": psnr - float(np.mean([r["psnr"] for r in noisy])),
            "seconds_per_image": float(np.mean([r["seconds"] for r in group])),
            "images": len(group), "source": kinds[method].source,
        })
    return summary


def _progress(total: int, enabled: bool) -> tuple[Any, Any]:
    """A rich progress bar and its `advance(description)`; on no terminal (a job's log, a pipe)
    no bar and a line a minute instead; a no-op when disabled."""
    if not enabled:
        return None, lambda description: None
    from restorelab.progress_log import PeriodicLines, on_terminal

    state = {"started": False, "done": 0, "last": ""}
    if not on_terminal():
        lines = PeriodicLines(total, "benchmark")

        def advance_lines(description: str | None) -> None:
            # Called before each restore, so the count is of the ones done. A line names the one
            # done last: the slow method (BM3D uncached), not the next, often the instant noisy.
            state["done"] += state["started"]
            state["started"] = True
            if description is None:  # the end: the last restore is done too
                lines.finish(done=state["done"])
                return
            lines.update(state["done"], state["last"])
            state["last"] = description

        return None, advance_lines

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.progress import TimeElapsedColumn, TimeRemainingColumn

    bar = Progress(TextColumn("{task.description:<42}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TimeRemainingColumn(), transient=True)
    task = bar.add_task("benchmark", total=total)

    def advance(description: str | None) -> None:
        # Called before each restore: the bar counts the ones done and names the current one.
        if description is None:  # the end
            return
        bar.update(task, description=description, advance=1 if state["started"] else 0)
        state["started"] = True

    return bar, advance


def run_benchmark(config: BenchmarkConfig, progress: bool = True) -> dict[str, Any]:
    """Scores `config.methods` and baselines on its sets and sigmas; writes the report to
    `config.output` (see `write_report`) and returns its content."""
    protocol = get_protocol(config.protocol, config.seed)
    if not config.methods and not [b for b in config.baselines if b != "noisy"]:
        raise RestoreLabError("nothing to score: give --methods and/or --baselines")
    sets = load_sets(config)
    # With `ensemble`, each net's x8 row comes right after its plain one.
    models = [method for spec in config.methods
              for method in model_methods(spec, config.device, also_x8=config.ensemble)]
    for data in sets:
        check_channels(models, data.info["title"], data.info["channels"])
    baselines = baseline_methods(list(config.baselines))
    methods = baselines[:1] + models + baselines[1:]  # noisy, the nets, the classical ones
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise RestoreLabError(f"two methods share a name in {names}: label them NAME=PATH")
    if config.output and (Path(config.output) / "results.json").exists() and not config.overwrite:
        from restorelab.inference import OutputConflict

        raise OutputConflict(  # before an hour of BM3D, not after it
            f"{config.output} already holds a benchmark report (results.json): pass --overwrite "
            "(overwrite: true in a config) to replace it, or choose another --output")
    cache_dir = Path(config.cache_dir or default_data_dir() / "benchmarks" / ".cache")
    cache = OutputCache(cache_dir if config.cache else None)
    total = sum(len(d.images) for d in sets) * len(config.sigmas) * len(methods)
    bar, advance = _progress(total, progress)
    start = time.perf_counter()
    rows, samples = [], {}
    if bar is not None:
        bar.start()
    try:
        for data in sets:
            set_rows, samples[data.name] = _score_set(data, methods, config, protocol, cache,
                                                      advance)
            rows += set_rows
        advance(None)  # the last restore is done
    finally:
        if bar is not None:
            bar.stop()
    content = {
        "protocol": {"name": protocol.name, "description": protocol.description,
                     "baseline_sigma": "the true sigma (sigma / 255) to the methods marked "
                     "told_sigma: the baselines that use it and the noise-conditional nets (the "
                     "papers' non-blind rows); blind nets are not told sigma", "seed": config.seed},
        "sets": [d.info for d in sets], "sigmas": [float(s) for s in config.sigmas],
        "methods": [{"name": m.name, "kind": m.kind, "source": m.source, "channels": m.channels,
                     "told_sigma": m.told_sigma} for m in methods],
        "measured": summarize(rows, sets, methods, protocol.name),
        "published": [{**r, "protocol": "as published", "title": get_set(r["benchmark"]).title,
                       "color": get_set(r["benchmark"]).color}
                      for r in published_rows([d.name for d in sets], list(config.sigmas))],
        "cache": {"folder": str(cache_dir) if config.cache else None, "hits": cache.hits,
                  "computed": cache.misses},
        "hardware": {"machine": platform.machine(), "cpus": os.cpu_count(),
                     "torch_threads": _torch_threads(), "device": config.device or "auto"},
        "seconds": round(time.perf_counter() - start, 1),
        "per_image": rows,
    }
    from restorelab.benchmarks.reports import write_report

    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    output = Path(config.output) if config.output else Path("logs") / "benchmark" / stamp
    write_report(output, content, samples, methods, config.crop)
    content["output_dir"] = str(output)
    return content


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()
