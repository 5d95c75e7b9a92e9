"""`restorelab benchmark`: score trained nets and classical baselines on the literature's named
sets at several sigmas, by `restorelab.benchmarks`."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "benchmark",
        help="score many methods on the standard sets (BSD68, Set12, CBSD68, ...) at once",
        description="Scores trained nets and classical baselines on named benchmark sets at "
        "several sigmas, every method on the same noisy inputs, by the literature's protocol "
        "(or RestoreLab's float one); writes results.csv/.json/.md, curve_<set>.png and "
        "grid_<set>.png, with the published figures as rows of their own.",
    )
    p.add_argument("--config", help="a benchmark YAML (methods, sets, sigmas, ...); options "
                   "given here override its keys")
    p.add_argument("--methods", nargs="+", help="[LABEL=]run folder | .ckpt | .safetensors | "
                   "dncnn-published:PATH")
    p.add_argument("--sets", nargs="+", help="bsd68 set12 cbsd68 kodak24 mcmaster urban100, "
                   "or NAME=FOLDER for a folder of your own 8-bit images (default: bsd68 set12)")
    p.add_argument("--sigmas", nargs="+", type=float, help="Gaussian sigmas, 0-255 scale "
                   "(default: 15 25 50)")
    p.add_argument("--baselines", nargs="+", help="auto noisy median tv nlm wavelet bm3d "
                   "(default: auto, i.e. BM3D, or non-local means without the bm3d extra; noisy "
                   "is always scored)")
    p.add_argument("--protocol", choices=("literature", "float"),
                   help="literature (KAIR/DPIR: seed 0 per image, 8-bit scoring; default) or "
                   "float (restorelab eval's)")
    p.add_argument("--root", help="folder holding <set>/ (or the set itself); default "
                   "data/benchmarks/<set>")
    p.add_argument("--download", action="store_true", default=None,
                   help="fetch missing sets from their public releases first")
    p.add_argument("--output", "-o", help="report folder (default: logs/benchmark/<time>)")
    p.add_argument("--overwrite", action="store_true", default=None,
                   help="replace the report in an --output folder that already holds one")
    p.add_argument("--max-images", type=int, help="only the first N images of each set")
    p.add_argument("--cache-dir", help="BM3D outputs (default: data/benchmarks/.cache)")
    p.add_argument("--no-cache", dest="cache", action="store_false", default=None,
                   help="recompute BM3D instead of reading its cached outputs")
    p.add_argument("--ensemble", action="store_true", default=None,
                   help="also score every net with the x8 self-ensemble (the 8 flips and "
                   "rotations averaged, 8x slower), as a row '<name> x8'")
    p.add_argument("--device", help="cpu, cuda, ... (default: cuda when available)")


def run(args: argparse.Namespace) -> None:
    from restorelab.benchmarks.job import BenchmarkConfig, load_config, run_benchmark
    from restorelab.cpu_memory import keep_freed_memory

    keep_freed_memory()  # large tiles on the CPU without page faults

    given = {key: getattr(args, key) for key in (
        "methods", "sets", "sigmas", "baselines", "protocol", "root", "download", "output",
        "max_images", "cache_dir", "cache", "ensemble", "device", "overwrite")}
    if args.config:
        config = load_config(args.config, **given)
    else:
        config = BenchmarkConfig(**{k: v for k, v in given.items() if v is not None})
    run_benchmark(config)
