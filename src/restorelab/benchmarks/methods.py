"""What a benchmark scores: trained nets (run folders, .ckpt, safetensors exports, published
weights) and classical baselines, each as one `Method` with one `restore` call.

A method spec is `[LABEL=]SPEC`, SPEC being a run folder, a `.ckpt`, a `.safetensors` export, or
`dncnn-published:PATH` for the published DnCNN weights; in a config file it may also be
`{name: LABEL, path: SPEC, ensemble: true, color: opponent}`, `ensemble` scoring the net with
the x8 self-ensemble (the 8 flips and rotations averaged; its row's name then says "x8", as the
literature's protocol asks), `color` (opponent or rgb) scoring a gray noise-conditional net on
color images, channel by channel in that color space (`restorelab.models.color_from_gray`).
Baselines are named as in `restorelab.baselines` (noisy, median, tv, nlm, wavelet, bm3d) and get
the true sigma.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from restorelab.atomic import atomic_path
from restorelab.errors import RestoreLabError

PUBLISHED_PREFIX = "dncnn-published:"
CACHED_BASELINES = ("bm3d",)  # the slow ones: minutes per set and sigma
# The published row a measured method is the counterpart of, per channel count.
PUBLISHED_AS = {"bm3d": {1: "BM3D", 3: "CBM3D"}, "dncnn-published": {1: "DnCNN-S", 3: "CDnCNN-B"}}


@dataclass
class Method:
    """`restore(noisy [H, W, C] float32, sigma in [0, 1] units) -> restored [H, W, C]`.

    `channels` is None for the baselines (any image); `published_as` names the published rows of
    the same method by channel count, drawn beside it in the curve."""

    name: str
    kind: str  # "model" | "baseline"
    restore: Callable[[np.ndarray, float], np.ndarray]
    source: str
    channels: int | None = None
    published_as: dict[int, str] = field(default_factory=dict)
    cache_key: str | None = None  # set for the baselines whose outputs are cached on disk
    # Given the true sigma: a sigma-aware baseline, or a noise-conditional net (one called
    # net(x, sigma), see models.conditioning).
    told_sigma: bool = False


def _label(path: Path) -> str:
    """A short name for a weights path: the run or experiment folder it belongs to."""
    if path.is_dir():
        return path.name
    if path.suffix == ".ckpt" and path.parent.name == "checkpoints":
        return path.parent.parent.name
    return path.parent.name if path.stem in ("model", "last", "best") else path.stem


# The keys of a method given as a mapping in a config file.
METHOD_KEYS = ("name", "path", "ensemble", "color")


def split_spec(spec: str | dict[str, Any]) -> tuple[str | None, str]:
    """(label or None, SPEC) of `LABEL=SPEC`, `SPEC` or `{name: LABEL, path: SPEC}`."""
    if isinstance(spec, dict):
        if "path" not in spec:
            raise RestoreLabError(f"method {dict(spec)} needs a 'path' (and may have a 'name')")
        unknown = sorted(set(spec) - set(METHOD_KEYS))
        if unknown:
            raise RestoreLabError(f"method {dict(spec)}: unknown key(s) {unknown}; allowed: "
                                  f"{list(METHOD_KEYS)}")
        return spec.get("name"), str(spec["path"])
    # Hydra names run folders like `model=unet,seed=1`: an existing path is never split.
    if Path(spec).exists():
        return None, spec
    cuts = [i for i, char in enumerate(spec) if char == "=" and i and "/" not in spec[:i]]
    # A label may hold "=" itself ("sigma=25 net=PATH"): the first cut whose rest exists wins.
    for i in cuts:
        rest = spec[i + 1 :]
        if Path(rest).exists() or Path(rest.removeprefix(PUBLISHED_PREFIX)).exists():
            return spec[:i], rest
    if cuts:
        return spec[: cuts[0]], spec[cuts[0] + 1 :]
    return None, spec


def wants_ensemble(spec: str | dict[str, Any]) -> bool:
    """Whether a config file's method mapping asks for the x8 self-ensemble."""
    if not isinstance(spec, dict):
        return False
    value = spec.get("ensemble", False)
    if not isinstance(value, bool):
        raise RestoreLabError(f"method {dict(spec)}: 'ensemble' is true or false, not {value!r}")
    return value


def color_space(spec: str | dict[str, Any]) -> str | None:
    """The color space a config file's method mapping asks a gray net to be applied in."""
    from restorelab.models.color_from_gray import SPACES

    if not isinstance(spec, dict) or spec.get("color") is None:
        return None
    value = spec["color"]
    if value not in SPACES:
        raise RestoreLabError(f"method {dict(spec)}: 'color' is one of {list(SPACES)}, "
                              f"not {value!r}")
    return str(value)


def as_color_denoiser(denoiser: Any, space: str, path: Path) -> Any:
    """`denoiser`'s gray conditional net inside `ColorFromGray(space)`, as a Denoiser."""
    from restorelab.inference import Denoiser
    from restorelab.models.color_from_gray import ColorFromGray

    try:
        net = ColorFromGray(denoiser.net, space)
    except ValueError as error:
        raise RestoreLabError(f"method {path} with color: {space}: {error}") from None
    return Denoiser(net.eval(), tile_size=None, device=denoiser.device, config=denoiser.config)


def x8_name(name: str) -> str:
    """The row name of a net scored with the x8 self-ensemble: it always says so."""
    return name if name.lower().endswith("x8") else f"{name} x8"


def model_methods(spec: str | dict[str, Any], device: str | None = None,
                  also_x8: bool = False) -> list[Method]:
    """A trained net from a spec (module docstring), restoring whole images (no tiling): one
    method, with the x8 self-ensemble when the spec asks for it; with `also_x8`, the plain one
    and then the x8 one, both on the same loaded net."""
    from restorelab.inference import Denoiser, load_denoiser
    from restorelab.published_weights import load_published_dncnn

    label, text = split_spec(spec)
    only_x8 = wants_ensemble(spec)
    space = color_space(spec)
    published = text.startswith(PUBLISHED_PREFIX)
    path = Path(text[len(PUBLISHED_PREFIX) :] if published else text).expanduser()
    if published:
        plain = Denoiser(load_published_dncnn(path), tile_size=None, device=device)
        default = f"DnCNN ({path.stem})"
    else:
        plain = load_denoiser(path, device=device, tile_size=None)
        published = plain.config is not None and "published" in plain.config
        default = _label(path)
    if space is not None:
        plain = as_color_denoiser(plain, space, path)
        default = f"{default} ({space} color)"
    name = label or default
    source = f"{path} (gray net, {space} color space)" if space else str(path)

    def method(denoiser: Denoiser) -> Method:
        def restore(noisy: np.ndarray, sigma: float) -> np.ndarray:
            # A noise-conditional net is told the true sigma (0-255), as the baselines are: the
            # papers' non-blind rows. Blind nets ignore it.
            return denoiser.denoise(noisy, sigma * 255.0)

        x8 = denoiser.ensemble
        return Method(
            x8_name(name) if x8 else name, "model", restore,
            f"{source} (x8 self-ensemble)" if x8 else source, denoiser.channels,
            PUBLISHED_AS["dncnn-published"] if published and not x8 else {},
            told_sigma=denoiser.takes_noise_level,
        )

    if not (only_x8 or also_x8):
        return [method(plain)]
    x8 = Denoiser(plain.net, tile_size=None, device=plain.device, config=plain.config,
                  ensemble=True)
    return [method(x8)] if only_x8 else [method(plain), method(x8)]


def baseline_methods(names: list[str]) -> list[Method]:
    """The named baselines, always led by `noisy` (the input itself: the protocol reports it)."""
    from restorelab.baselines import select_baselines
    from restorelab.corruptions import GaussianNoise

    chosen = select_baselines(["noisy", *[n for n in names if n != "noisy"]], GaussianNoise)
    methods = []
    for baseline in chosen:
        def restore(noisy: np.ndarray, sigma: float, baseline: Any = baseline) -> np.ndarray:
            return baseline(noisy, sigma)

        key = None
        if baseline.name in CACHED_BASELINES:
            key = f"{baseline.name}-{_package_version(baseline.package or baseline.name)}"
        methods.append(Method(baseline.name, "baseline", restore, baseline.description,
                              published_as=PUBLISHED_AS.get(baseline.name, {}), cache_key=key,
                              told_sigma=baseline.uses_sigma))
    return methods


def _package_version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def check_channels(methods: list[Method], title: str, channels: int) -> None:
    """One clear error when a net was trained for another channel count than the set's."""
    for method in methods:
        if method.channels is not None and method.channels != channels:
            kinds = {1: "gray (1 channel)", 3: "RGB (3 channels)"}
            raise RestoreLabError(
                f"method {method.name!r} ({method.source}) restores "
                f"{kinds.get(method.channels, f'{method.channels}-channel')} images, but "
                f"{title} is {kinds[channels]}: score it on "
                f"{'gray' if method.channels == 1 else 'color'} sets only"
                + (", or give it `color: opponent` in a config file's method (a gray net that "
                   "takes the noise level, restored in the opponent color space)"
                   if method.channels == 1 and channels == 3 and method.told_sigma
                   else "")
            )


class OutputCache:
    """Finished outputs of the slow baselines, one `.npz` per (set, image, sigma, protocol),
    written atomically. An entry holds a digest of the noisy input and the baseline's version:
    a different input or package recomputes instead of returning a stale output."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.hits = 0
        self.misses = 0

    def _path(self, folder: Path, method: Method, benchmark: str, image: str, sigma: float,
              protocol: str) -> Path:
        return folder / method.name / benchmark / protocol / f"sigma{sigma:g}" / f"{image}.npz"

    def run(self, method: Method, noisy: np.ndarray, sigma: float, key: tuple[str, str, str],
            finish: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, float]:
        """(finished output, seconds it took to compute) for `method` on `noisy`."""
        if self.folder is None or method.cache_key is None:
            start = time.perf_counter()
            finished = finish(method.restore(noisy, sigma / 255.0))
            return finished, time.perf_counter() - start
        benchmark, image, protocol = key
        path = self._path(self.folder, method, benchmark, image, sigma, protocol)
        digest = hashlib.sha256(np.ascontiguousarray(noisy).tobytes()).hexdigest()
        if path.is_file():
            try:
                with np.load(path) as entry:
                    if str(entry["digest"]) == digest and str(entry["version"]) == method.cache_key:
                        self.hits += 1
                        return entry["output"], float(entry["seconds"])
            except (OSError, ValueError, KeyError):
                pass  # unreadable entry: computed again and overwritten below
        start = time.perf_counter()
        finished = finish(method.restore(noisy, sigma / 255.0))
        seconds = time.perf_counter() - start
        with atomic_path(path) as tmp, open(tmp, "wb") as file:
            np.savez_compressed(file, output=finished, digest=digest, version=method.cache_key,
                                seconds=seconds)
        self.misses += 1
        return finished, seconds
