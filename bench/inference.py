"""Inference on the CPU: speed of `Denoiser.denoise` against BM3D, what tiling costs, and peak
memory bounded by the tile, all measured in one run on the same machine.

    python bench/inference.py                                   # newest run under logs/train
    python bench/inference.py --checkpoint logs/train/runs/<run> --size 2048 --memory-size 4096

1. Speed: megapixels per second of `denoise` (default tiles: sized to the memory budget,
   overlap from the effective receptive field) on a `--size` square gray image (camera,
   upscaled) with Gaussian noise sigma 25, against BM3D (true sigma) on the very same noisy
   image; the ratio is the result.
2. Tiling: PSNR and time of tiled against untiled inference: the default tiles on the `--size`
   image, and tiles of at most `--tile-size` on one `--untiled-size` image (a small memory
   budget, which forces a 3 x 3 grid).
3. Memory: peak resident memory added by restoring a `--memory-size` square image, tiled, each
   measurement in its own process (Linux VmHWM after a reset, minus the RSS before); the
   untiled peak is measured at two small sizes and extrapolated linearly in pixels.

Every part runs with glibc's malloc keeping freed memory, as `restorelab denoise` does
(`restorelab.cpu_memory`), BM3D included; `--system-allocator` measures without it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
ALLOCATOR_ENV = "RESTORELAB_BENCH_ALLOCATOR"  # tells the memory children which allocator


def _allocator(system: bool) -> str:
    """Sets up malloc as `restorelab denoise` does (unless `system`); says what it is."""
    if system:
        return "system (glibc defaults)"
    from restorelab.cpu_memory import keep_freed_memory

    return "keeps freed memory" if keep_freed_memory() else "system (no glibc mallopt)"


def newest_run() -> Path:
    runs = sorted((ROOT / "logs" / "train" / "runs").glob("*/checkpoints/*.ckpt"))
    if not runs:
        raise SystemExit("no run under logs/train/runs: `make train` first, or pass --checkpoint")
    return max((p.parent.parent for p in runs), key=lambda p: p.stat().st_mtime)


def test_image(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(clean, noisy) float32 `[size, size]`: camera upscaled, Gaussian noise sigma 25."""
    import skimage.data
    from skimage.transform import resize

    clean = resize(skimage.data.camera() / 255.0, (size, size), anti_aliasing=False)
    clean = clean.astype(np.float32)
    noise = np.random.default_rng(seed).standard_normal(clean.shape).astype(np.float32)
    return clean, clean + 25.0 / 255.0 * noise


def psnr(restored: np.ndarray, clean: np.ndarray) -> float:
    mse = np.mean((np.clip(restored, 0, 1).astype(np.float64) - clean) ** 2)
    return float(10 * np.log10(1 / mse))


def timed(function, *args) -> tuple[float, object]:
    start = time.perf_counter()
    out = function(*args)
    return time.perf_counter() - start, out


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def _reset_peak() -> float:
    """Resets the kernel's peak-RSS mark (Linux: clear_refs 5) and returns the current RSS."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_mib("VmRSS")


def peak_memory_child(checkpoint: str, size: int, tile_size: int | str | None, run: bool) -> None:
    """In a child process: the peak RSS (MiB) that restoring one image adds, printed as JSON."""
    from restorelab.inference import load_denoiser

    _allocator(os.environ.get(ALLOCATOR_ENV) == "system")

    torch.set_num_threads(2)
    denoiser = load_denoiser(checkpoint, device="cpu", tile_size=tile_size)
    _, noisy = test_image(size)
    warm = np.zeros((64, 64), np.float32)
    denoiser.denoise(warm)  # allocator and kernels warmed up before the reference point
    try:  # the peak from here on, not the one of loading and making the image
        before = _reset_peak()
        read_peak = lambda: _status_mib("VmHWM")
    except OSError:  # not Linux: ru_maxrss never resets, so earlier peaks may hide this one
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        read_peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if run:
        denoiser.denoise(noisy)
    peak = read_peak()
    print(json.dumps({"added_mib": peak - before, "peak_mib": peak}))


def child(checkpoint: str, size: int, tile_size: int | str | None, system: bool) -> float:
    """`tile_size`: "auto" (the default tiles), an integer, or None (untiled)."""
    command = [sys.executable, __file__, "--child", checkpoint, str(size), str(tile_size)]
    env = {**os.environ, ALLOCATOR_ENV: "system" if system else "keep"}
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(output.strip().splitlines()[-1])["added_mib"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", help="run folder, .ckpt or .safetensors")
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--untiled-size", type=int, default=1024)
    parser.add_argument("--memory-size", type=int, default=4096)
    parser.add_argument("--tile-size", type=int, default=512,
                        help="the small tile of the forced-tiling case (2.)")
    parser.add_argument("--skip-bm3d", action="store_true")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch threads (1 compares one core with BM3D's one, which holds on a "
                        "shared machine)")
    parser.add_argument("--system-allocator", action="store_true",
                        help="leave glibc's malloc as it is (restorelab denoise makes it keep "
                        "freed memory)")
    parser.add_argument("--output", help="also write the results as JSON here")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        checkpoint, size, tile = args.child
        tile_size = None if tile == "None" else tile if tile == "auto" else int(tile)
        peak_memory_child(checkpoint, int(size), tile_size, run=int(size) > 0)
        return

    from restorelab.inference import load_denoiser

    torch.set_num_threads(args.threads)
    allocator = _allocator(args.system_allocator)
    checkpoint = str(args.checkpoint or newest_run())
    tiled = load_denoiser(checkpoint, device="cpu")  # the defaults a user gets
    small = load_denoiser(checkpoint, device="cpu", tile_size=args.tile_size)
    whole = load_denoiser(checkpoint, device="cpu", tile_size=None)
    results: dict = {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "checkpoint": checkpoint,
        "tile_size": tiled.tile_size,
        "overlap": tiled.overlap,
        "allocator": allocator,
        "load_average_at_start": list(np.round(os.getloadavg(), 2)),
    }
    print(f"{tiled} from {checkpoint}; malloc: {allocator}")

    # 1. speed against BM3D on the same image
    clean, noisy = test_image(args.size)
    tiled.denoise(noisy[:256, :256])  # warm-up
    seconds, restored = timed(tiled.denoise, noisy)
    megapixels = args.size**2 / 1e6
    results["speed"] = {
        "size": args.size,
        "denoise_seconds": seconds,
        "denoise_mp_per_s": megapixels / seconds,
        "denoise_psnr": psnr(restored, clean),
        "noisy_psnr": psnr(noisy, clean),
    }
    print(f"denoise {args.size}^2: {seconds:.1f} s, {megapixels / seconds:.3f} MP/s, "
          f"PSNR {psnr(restored, clean):.2f} dB (noisy {psnr(noisy, clean):.2f})")
    if not args.skip_bm3d:
        import bm3d

        bm3d_seconds, bm3d_out = timed(bm3d.bm3d, noisy.astype(np.float64), 25.0 / 255.0)
        results["speed"].update(
            bm3d_seconds=bm3d_seconds,
            bm3d_mp_per_s=megapixels / bm3d_seconds,
            bm3d_psnr=psnr(bm3d_out, clean),
            speedup_over_bm3d=bm3d_seconds / seconds,
        )
        print(f"BM3D    {args.size}^2: {bm3d_seconds:.1f} s, {megapixels / bm3d_seconds:.3f} MP/s,"
              f" PSNR {psnr(bm3d_out, clean):.2f} dB -> denoise is {bm3d_seconds / seconds:.1f}x")

    # 2. tiled against untiled on the same images
    results["tiling"] = {}
    cases = [("default", tiled, args.size, clean, noisy)]
    cases.append(("small", small, args.untiled_size, *test_image(args.untiled_size, seed=1)))
    for name, denoiser, size, clean_u, noisy_u in cases:
        whole.denoise(noisy_u[:256, :256])
        untiled_seconds, untiled_out = timed(whole.denoise, noisy_u)
        tiled_seconds, tiled_out = timed(denoiser.denoise, noisy_u)
        t = results["tiling"][name] = {
            "size": size,
            "tile_size": denoiser.tile_size,
            "overlap": denoiser.overlap,
            "untiled_seconds": untiled_seconds,
            "tiled_seconds": tiled_seconds,
            "time_overhead": tiled_seconds / untiled_seconds - 1,
            "untiled_psnr": psnr(untiled_out, clean_u),
            "tiled_psnr": psnr(tiled_out, clean_u),
            "psnr_difference_db": psnr(tiled_out, clean_u) - psnr(untiled_out, clean_u),
            "max_abs_difference": float(np.abs(tiled_out - untiled_out).max()),
        }
        print(f"tiling  {size}^2 ({name}: tiles <= {denoiser.tile_size}, overlap "
              f"{denoiser.overlap}): PSNR tiled {t['tiled_psnr']:.3f} vs untiled "
              f"{t['untiled_psnr']:.3f} dB ({t['psnr_difference_db']:+.4f}); time "
              f"{t['time_overhead']:+.1%}")

    # 3. peak memory, each in a fresh process
    tiled_mib = child(checkpoint, args.memory_size, "auto", args.system_allocator)
    # The untiled peak at two smaller sizes (512 and 1024 for the default 4096), extrapolated.
    small, large = min(512, args.memory_size // 4), min(1024, args.memory_size // 2)
    untiled = {s: child(checkpoint, s, None, args.system_allocator) for s in (small, large)}
    per_pixel = (untiled[large] - untiled[small]) / (large**2 - small**2)
    estimate = untiled[large] + per_pixel * (args.memory_size**2 - large**2)
    results["memory"] = {
        "size": args.memory_size,
        "tiled_added_mib": tiled_mib,
        "image_buffers_mib": 4 * 3 * args.memory_size**2 / 2**20,  # noisy, output, weights
        "untiled_added_mib_measured": untiled,
        "untiled_added_mib_estimated": estimate,
    }
    print(f"memory  {args.memory_size}^2 tiled: +{tiled_mib:.0f} MiB peak (of which ~"
          f"{results['memory']['image_buffers_mib']:.0f} MiB image-sized buffers); untiled: "
          f"+{untiled[small]:.0f} MiB at {small}^2, +{untiled[large]:.0f} MiB at {large}^2, "
          f"~{estimate:.0f} MiB estimated at {args.memory_size}^2")
    results["load_average_at_end"] = list(np.round(os.getloadavg(), 2))
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
