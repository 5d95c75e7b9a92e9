"""`restorelab`: train, evaluate, denoise, export and demo from the command line.

    restorelab train model=unet noise.sigma=50
    restorelab sweep sweep=architecture
    restorelab eval --checkpoint logs/train/runs/<run> --levels 15 25 50 --curve
    restorelab denoise photos/ -o restored/ --checkpoint logs/train/runs/<run>
    restorelab export --checkpoint logs/train/runs/<run> --format onnx -o model.onnx
    restorelab demo
    restorelab shards data/DIV2K -o data/div2k-shards   # then train with data=streaming

`train` and `sweep` are `python train.py` and `python sweep.py` of the repository, composed from
the config tree inside the package, and take Hydra's command line; the others take plain options.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from restorelab.errors import RestoreLabError

log = logging.getLogger("restorelab")


# Commands whose arguments are Hydra's (overrides, -m, --config-dir, --help): handed on whole.
HYDRA_COMMANDS = ("train", "sweep")


def _hydra_parsers(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("train", add_help=False,
                   help="train, validate and test a model: Hydra overrides (`model=unet "
                   "noise.sigma=50`, `-m` for a multirun, `--help` for Hydra's)")
    sub.add_parser("sweep", add_help=False,
                   help="run a study from conf/sweep/ and write its report (`sweep=NAME`, "
                   "overrides, `--report FOLDER`)")


def _run_hydra_command(command: str, arguments: list[str]) -> None:
    """`restorelab train|sweep ARGS` as `python train.py|sweep.py ARGS` would run them."""
    from restorelab import distributed

    # The job's own command, for the other DDP ranks and for the jobs of a study.
    job_command = [sys.executable, "-m", "restorelab", "train"]
    if command == "sweep":
        from restorelab.sweep import main as sweep_main

        raise SystemExit(sweep_main(train_command=job_command, argv=arguments))

    from restorelab.train import hydra_main

    distributed.JOB_COMMAND[:] = job_command
    sys.argv = [sys.argv[0], *arguments]  # what Hydra parses
    try:
        hydra_main()
    except SystemExit as stop:
        if stop.code == 1:  # Hydra refused the command line, or the run failed: name wrong keys
            from restorelab.conf import CONF_DIR
            from restorelab.hints import key_hints

            for line in key_hints(arguments, CONF_DIR):
                print(line, file=sys.stderr)
        raise


def _eval_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="score a checkpoint and the classical baselines on the same noisy images",
        description="Scores a checkpoint (or the baselines alone) following the measurement "
        "protocol; writes per_image.csv, summary.json, grid.png (and curve.csv / curve.png).",
    )
    p.add_argument("checkpoint_arg", nargs="?", metavar="CHECKPOINT",
                   help="run folder, .ckpt or .safetensors (same as --checkpoint)")
    p.add_argument("--checkpoint", "-c", help="run folder, .ckpt or .safetensors")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--images", help="a folder of clean images (PNG, JPEG, TIFF, BMP)")
    source.add_argument("--data", help="a dataset config (conf/data/NAME.yaml); default: the "
                        "run's own dataset, or natural without a checkpoint")
    p.add_argument("--split", default="test", choices=("test", "val"),
                   help="which split of the dataset config to score (default: test; val is what "
                   "the run was selected on)")
    p.add_argument("--noise", help="a corruption config (conf/noise/NAME.yaml); default: the "
                   "run's own, or gaussian without a checkpoint")
    p.add_argument("--levels", nargs="+", type=float,
                   help="main level of the corruption to score at (sigma, amount or peak)")
    p.add_argument("--baselines", nargs="+", default=["auto"],
                   help="auto (noisy + BM3D or median), all, none, or names: noisy median tv "
                   "nlm wavelet bm3d")
    p.add_argument("--curve", action="store_true",
                   help="also PSNR against Gaussian sigma (curve.csv, curve.png)")
    p.add_argument("--curve-sigmas", nargs="+", type=float, default=[5, 15, 25, 35, 50, 65, 75],
                   help="Gaussian sigmas (0-255) of the --curve (default: 5 15 25 35 50 65 75)")
    p.add_argument("--curve-images", type=int, help="use only the first N images for the curve")
    p.add_argument("--channels", type=int, choices=(1, 3),
                   help="gray or RGB for baselines alone (a checkpoint sets its own)")
    p.add_argument("--seed", type=int, default=0, help="image i gets noise seeded with seed + i")
    p.add_argument("--grid", type=int, default=4, help="images shown in grid.png (0: none)")
    p.add_argument("--tile-size", type=tile_size_arg, default="auto", help=TILE_HELP)
    p.add_argument("--ensemble", action="store_true",
                   help="also score the model with the x8 self-ensemble (row model_x8)")
    p.add_argument("--device", help="cpu, cuda, ... (default: cuda when available)")
    p.add_argument("--output", "-o", help="report folder (default: <run>/eval/<time>)")
    p.add_argument("--overwrite", action="store_true",
                   help="write into an --output folder that already holds a report")
    # data.KEY=VALUE / noise.KEY=VALUE overrides are collected by `main` from anywhere.


TILE_HELP = ("largest tile side in pixels; auto (default): the largest whose activations fit "
             "the memory budget; 0 or none: whole images in one pass")


def tile_size_arg(text: str) -> int | str | None:
    """`--tile-size`: auto, 0 / none (no tiling), or an integer >= 8."""
    if text.lower() == "auto":
        return "auto"
    if text.lower() in ("0", "none"):
        return None
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 8:
        raise argparse.ArgumentTypeError(f"{text!r}: use auto, 0 (no tiling) or a side >= 8")
    return value


def _run_eval(args: argparse.Namespace) -> None:
    from restorelab.evaluate import run_evaluation

    checkpoint = args.checkpoint or args.checkpoint_arg
    overrides = list(args.overrides)
    if args.output and (Path(args.output) / "summary.json").exists() and not args.overwrite:
        from restorelab.inference import OutputConflict

        raise OutputConflict(
            f"{args.output} already holds a report (summary.json): pass --overwrite to replace "
            "it, or choose another --output"
        )
    if checkpoint and "=" in str(checkpoint):  # `eval data.eval_size=64` without a checkpoint
        overrides.insert(0, checkpoint)
        checkpoint = None
    run_evaluation(
        checkpoint=checkpoint,
        images=args.images,
        data=args.data or (None if checkpoint else "natural"),
        noise=args.noise or (None if checkpoint else "gaussian"),
        levels=args.levels,
        baselines=args.baselines,
        curve=args.curve,
        curve_sigmas=args.curve_sigmas,
        curve_images=args.curve_images,
        seed=args.seed,
        output=args.output,
        grid=args.grid,
        split=args.split,
        overrides=overrides,
        channels=args.channels,
        tile_size=args.tile_size,
        device=args.device,
        ensemble=args.ensemble,
    )


def _denoise_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "denoise",
        help="restore image files of any size",
        description="Restores PNG, JPEG and TIFF files (8- or 16-bit, gray or RGB, alpha kept) "
        "into OUTPUT, keeping names, formats and bit depths.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    p.add_argument("--output", "-o", required=True, help="output folder")
    p.add_argument("--overwrite", action="store_true",
                   help="replace files that already exist in the output folder")
    p.add_argument("--in-place", action="store_true",
                   help="allow the output to be the inputs themselves: replaces the originals")
    p.add_argument("--checkpoint", "-c", required=True, help="run folder, .ckpt or .safetensors")
    p.add_argument("--tile-size", type=tile_size_arg, default="auto", help=TILE_HELP)
    p.add_argument("--overlap", type=int,
                   help="tile overlap in pixels (default: the net's effective receptive field)")
    p.add_argument("--ensemble", action="store_true",
                   help="x8 self-ensemble: average the 8 flips and rotations (8x slower)")
    p.add_argument("--sigma", type=float,
                   help="noise level in 0-255 units for a net that takes it (FFDNet, DRUNet); "
                   "default: estimated from each image")
    p.add_argument("--device", help="cpu, cuda, ... (default: cuda when available)")


def _run_denoise(args: argparse.Namespace) -> None:
    from rich.console import Console

    from restorelab.inference import denoise_files, load_denoiser

    denoiser = load_denoiser(
        args.checkpoint, device=args.device, tile_size=args.tile_size,
        overlap=args.overlap, ensemble=args.ensemble,
    )
    result = denoise_files(
        denoiser, args.inputs, args.output, overwrite=args.overwrite, in_place=args.in_place,
        sigma=args.sigma,
    )
    console = Console(stderr=bool(result.failed))
    console.print(f"restored {len(result.written)} image(s) into [bold]{args.output}[/bold]")
    if result.levels:
        levels = sorted(result.levels.values())
        span = f"{levels[0]:.1f}" if levels[0] == levels[-1] else f"{levels[0]:.1f} to {levels[-1]:.1f}"
        console.print(f"noise level: {result.sigma_source}, sigma {span} (0-255)")
    elif args.sigma is not None:
        console.print("note: this net does not take a noise level; --sigma was not used")
    if result.failed:
        console.print(f"[red]{len(result.failed)} file(s) could not be restored:[/red]")
        for path, reason in result.failed:
            console.print(f"  {path}: {reason}", highlight=False, markup=False)
        raise SystemExit(1)


def _export_parser(sub: argparse._SubParsersAction) -> None:
    from restorelab.export import FORMATS

    p = sub.add_parser("export", help="export a checkpoint to ONNX, TorchScript or safetensors")
    p.add_argument("--checkpoint", "-c", required=True, help="run folder, .ckpt or .safetensors")
    p.add_argument("--format", "-f", required=True, choices=FORMATS)
    p.add_argument("--output", "-o", help="output file (default: beside the checkpoint)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def _run_export(args: argparse.Namespace) -> None:
    from rich.console import Console

    from restorelab.export import export

    path = export(args.checkpoint, args.format, args.output, overwrite=args.overwrite)
    Console().print(f"exported {args.format} to [bold]{path}[/bold]")


def _demo_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="the interactive Streamlit demo",
        description="Starts the Streamlit demo. Streamlit's own options pass through, e.g. "
        "`restorelab demo --server.address 0.0.0.0`.",
    )
    p.add_argument("--checkpoint", "-c", help="preselected run folder, .ckpt or .safetensors")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--headless", action="store_true", help="do not open a browser")


def _run_demo(args: argparse.Namespace) -> None:
    import os
    import signal
    import subprocess

    from restorelab import demo_app

    command = [
        sys.executable, "-m", "streamlit", "run", demo_app.__file__,
        "--server.port", str(args.port),
        "--server.maxUploadSize", str(demo_app.MAX_UPLOAD_MEGABYTES),
        "--browser.gatherUsageStats", "false",
    ]
    if args.headless:
        command += ["--server.headless", "true"]
    command += args.passthrough  # Streamlit's own flags (--server.address ...), as given
    env = dict(os.environ)
    if args.checkpoint:
        env[demo_app.CHECKPOINT_ENV] = str(Path(args.checkpoint).resolve())
    server = subprocess.Popen(command, env=env)
    # A SIGTERM to `restorelab demo` (timeout, systemd, docker stop, a test's teardown) reaches
    # this process only: hand it on, or the Streamlit server would outlive its command.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: server.terminate())
    try:
        code = server.wait()
    except KeyboardInterrupt:  # Ctrl-C reached the server too (same process group)
        server.wait()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    raise SystemExit(code)


def _benchmark_parser(sub: argparse._SubParsersAction) -> None:
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
    p.add_argument("--max-images", type=int, help="only the first N images of each set")
    p.add_argument("--cache-dir", help="BM3D outputs (default: data/benchmarks/.cache)")
    p.add_argument("--no-cache", dest="cache", action="store_false", default=None,
                   help="recompute BM3D instead of reading its cached outputs")
    p.add_argument("--device", help="cpu, cuda, ... (default: cuda when available)")


def _run_benchmark(args: argparse.Namespace) -> None:
    from restorelab.benchmarks.job import BenchmarkConfig, load_config, run_benchmark

    given = {key: getattr(args, key) for key in (
        "methods", "sets", "sigmas", "baselines", "protocol", "root", "download", "output",
        "max_images", "cache_dir", "cache", "device")}
    if args.config:
        config = load_config(args.config, **given)
    else:
        config = BenchmarkConfig(**{k: v for k, v in given.items() if v is not None})
    run_benchmark(config)


def _shards_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "shards", help="write a folder of images as LitData shards for data=streaming",
        description="Splits the images of FOLDER by file name as data=folder does, checks that "
        "each decodes, and writes OUTPUT/train, OUTPUT/val and OUTPUT/test as LitData shards "
        "(the files' own bytes) with OUTPUT/restorelab.json; then train with `data=streaming "
        "data.input_dir=OUTPUT`. Needs restorelab[streaming].",
    )
    p.add_argument("folder", help="a folder of PNG, JPEG, TIFF or BMP images")
    p.add_argument("--output", "-o", required=True,
                   help="the shards' folder (upload it as a whole to train from a bucket)")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--split-seed", type=int, default=0,
                   help="as data.split_seed: the same seed gives data=folder's split")
    p.add_argument("--no-recursive", dest="recursive", action="store_false",
                   help="only the files directly in FOLDER")
    p.add_argument("--chunk-bytes", default="64MB", help="size of each shard (default: 64MB)")
    p.add_argument("--workers", type=int, help="writer processes (default: up to 4)")
    p.add_argument("--strict", action="store_true", help="an unreadable file is an error")
    p.add_argument("--overwrite", action="store_true", help="replace shards already in OUTPUT")


def _run_shards(args: argparse.Namespace) -> None:
    from rich.console import Console

    from restorelab.data.streaming import write_shards

    info = write_shards(
        args.folder, args.output, val_fraction=args.val_fraction,
        test_fraction=args.test_fraction, split_seed=args.split_seed, recursive=args.recursive,
        chunk_bytes=args.chunk_bytes, num_workers=args.workers, strict=args.strict,
        overwrite=args.overwrite,
    )
    counts = ", ".join(f"{split} {len(names)}" for split, names in info["splits"].items())
    Console().print(f"wrote shards of {counts} images to [bold]{args.output}[/bold]; train "
                    f"with data=streaming data.input_dir={args.output}")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `restorelab` command (and of `python eval.py`).

    Expected errors (bad input, missing files, refused outputs) end as one line on stderr and
    exit status 1; Ctrl-C as one line and 130. `--debug` shows the traceback instead.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((i for i, item in enumerate(argv) if not item.startswith("-")), None)
    if command is not None and argv[command] in HYDRA_COMMANDS:
        if "--debug" in argv[:command]:  # Hydra's own switch for the traceback
            import os

            os.environ["HYDRA_FULL_ERROR"] = "1"
        _run_hydra_command(argv[command], argv[command + 1:])
        return
    parser = argparse.ArgumentParser(prog="restorelab", description=__doc__.split("\n")[0])
    parser.epilog = "eval also takes data.KEY=VALUE and noise.KEY=VALUE overrides"
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", required=True)
    _hydra_parsers(sub)
    _eval_parser(sub)
    _denoise_parser(sub)
    _export_parser(sub)
    _demo_parser(sub)
    _benchmark_parser(sub)
    _shards_parser(sub)
    args, rest = parser.parse_known_args(argv)
    args.passthrough = rest if args.command == "demo" else []
    rest = [] if args.command == "demo" else rest
    args.overrides = [item for item in rest if "=" in item and not item.startswith("-")]
    unknown = [item for item in rest if item not in args.overrides]
    if unknown or (args.overrides and args.command != "eval"):
        parser.error(f"unrecognized arguments: {' '.join(unknown or args.overrides)}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    handlers = {"eval": _run_eval, "denoise": _run_denoise, "export": _run_export,
                "demo": _run_demo, "benchmark": _run_benchmark, "shards": _run_shards}
    try:
        handlers[args.command](args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"restorelab {args.command}: interrupted; files written so far are whole",
              file=sys.stderr)
        raise SystemExit(130) from None
    except _expected_errors() as error:
        if args.debug:
            raise
        print(f"restorelab {args.command}: {_one_line(error)}", file=sys.stderr)
        raise SystemExit(1) from None


def _expected_errors() -> tuple[type[BaseException], ...]:
    """What a user's input can cause; anything else is a bug and keeps its traceback."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    return (RestoreLabError, OSError, ValueError, HydraException, OmegaConfBaseException)


def _one_line(error: BaseException) -> str:
    from restorelab.train import one_line

    return one_line(error).removesuffix("; set HYDRA_FULL_ERROR=1 for the traceback") + (
        " (--debug for the traceback)"
    )


if __name__ == "__main__":
    main()
