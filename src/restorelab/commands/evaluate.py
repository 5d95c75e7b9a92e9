"""`restorelab eval`: score checkpoints (or the classical baselines alone) on the same seeded
noisy images, following the measurement protocol of `restorelab.evaluation`; a study's
evaluation is a YAML of the same options (`--config`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from restorelab.commands.options import TILE_HELP, tile_size_arg


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="score checkpoints and the classical baselines on the same noisy images",
        description="Scores one or several checkpoints (or the baselines alone) following the "
        "measurement protocol, every method on the same noisy images; writes per_image.csv, "
        "summary.json, grid.png, levels.csv / levels.png with several levels (and curve.csv / "
        "curve.png). A study's evaluation is a YAML of these options: --config FILE.",
    )
    p.add_argument("checkpoints_arg", nargs="*", metavar="[LABEL=]CHECKPOINT",
                   help="run folders, .ckpt or .safetensors, each optionally LABEL=PATH (its "
                   "rows' name; default: model for one, the run folder's name for several)")
    p.add_argument("--checkpoint", "-c", action="append", help="one more checkpoint (repeat)")
    p.add_argument("--config", help="a YAML of these options (checkpoints, data, noise, levels, "
                   "baselines, ...); options given here override it")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--images", help="a folder of clean images (PNG, JPEG, TIFF, BMP)")
    source.add_argument("--data", help="a dataset config (conf/data/NAME.yaml); default: the "
                        "first run's own dataset, or natural without a checkpoint")
    p.add_argument("--split", choices=("test", "val"),
                   help="which split of the dataset config to score (default: test; val is what "
                   "the run was selected on)")
    p.add_argument("--noise", help="a corruption config (conf/noise/NAME.yaml); default: the "
                   "first run's own, or gaussian without a checkpoint")
    p.add_argument("--levels", nargs="+", type=float,
                   help="main level of the corruption to score at (sigma, amount or peak)")
    p.add_argument("--as-configured", action="store_true",
                   help="also score the corruption exactly as configured (a range drawn per "
                   "image, as in training): the level as_configured")
    p.add_argument("--clean-input", action="store_true",
                   help="also score each model on the clean images (the level clean: its "
                   "ceiling with nothing to remove)")
    p.add_argument("--baselines", nargs="+",
                   help="auto (default: noisy + BM3D or median), all, none, or names: noisy "
                   "median tv nlm wavelet bm3d")
    p.add_argument("--max-images", type=int, help="only the first N images")
    p.add_argument("--curve", action="store_true",
                   help="also PSNR against Gaussian sigma (curve.csv, curve.png)")
    p.add_argument("--curve-sigmas", nargs="+", type=float,
                   help="Gaussian sigmas (0-255) of the --curve (default: 5 15 25 35 50 65 75)")
    p.add_argument("--curve-images", type=int, help="use only the first N images for the curve")
    p.add_argument("--channels", type=int, choices=(1, 3),
                   help="gray or RGB for baselines alone (a checkpoint sets its own)")
    p.add_argument("--seed", type=int,
                   help="image i gets noise seeded with seed + i (default: 0)")
    p.add_argument("--grid", type=int, help="rows of grid.png, shared out among the levels "
                   "(default: 4; 0: none)")
    p.add_argument("--tile-size", type=tile_size_arg, help=TILE_HELP)
    p.add_argument("--ensemble", action="store_true",
                   help="also score each model with the x8 self-ensemble (rows <model>_x8)")
    p.add_argument("--device", help="cpu, cuda, ... (default: cuda when available)")
    p.add_argument("--output", "-o", help="report folder (default: <run>/eval/<time>, or "
                   "logs/eval/<time> for several models)")
    p.add_argument("--overwrite", action="store_true",
                   help="write into an --output folder that already holds a report")
    # data.KEY=VALUE / noise.KEY=VALUE overrides are collected by `main` from anywhere.
    for action in p._actions:  # absent unless given: a --config's value is not overridden
        if action.dest in _FIELDS:
            action.default = argparse.SUPPRESS


# The options that are fields of the request, as argparse names them.
_FIELDS = ("images", "data", "split", "noise", "levels", "as_configured", "clean_input",
           "baselines", "max_images", "curve", "curve_sigmas", "curve_images", "channels",
           "seed", "grid", "tile_size", "ensemble", "device", "output")


def run(args: argparse.Namespace) -> None:
    from restorelab.cpu_memory import keep_freed_memory
    from restorelab.evaluation.job import EvalRequest, EvaluationJob, load_request

    keep_freed_memory()  # large tiles on the CPU without page faults

    overrides = list(args.overrides)
    checkpoints = []
    for item in args.checkpoints_arg:  # `eval RUN data.eval_size=64`: overrides come along
        (overrides if item.startswith(("data.", "noise.")) else checkpoints).append(item)
    checkpoints += args.checkpoint or []
    given = {name: getattr(args, name) for name in _FIELDS if hasattr(args, name)}
    if checkpoints:
        given["checkpoints"] = checkpoints
    if overrides:
        given["overrides"] = overrides
    request = load_request(args.config, **given) if args.config else EvalRequest(**given)
    if not request.checkpoints and request.checkpoint is None:  # the baselines alone
        if request.images is None and request.data is None:
            request.data = "natural"
        if request.noise is None:
            request.noise = "gaussian"
    output = request.output
    if output and (Path(output) / "summary.json").exists() and not args.overwrite:
        from restorelab.inference import OutputConflict

        raise OutputConflict(
            f"{output} already holds a report (summary.json): pass --overwrite to replace it, "
            "or choose another --output"
        )
    EvaluationJob(request).run()
