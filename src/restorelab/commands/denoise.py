"""`restorelab denoise`: restore image files of any size with a trained net, keeping their
names, formats and bit depths."""

from __future__ import annotations

import argparse

from restorelab.commands.options import TILE_HELP, tile_size_arg


def add_parser(sub: argparse._SubParsersAction) -> None:
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
                   "default: the level of a net trained at one, else estimated per image")
    p.add_argument("--color", choices=("auto", "opponent", "rgb"), default="auto",
                   help="how a gray net restores RGB images: in CBM3D's opponent color space, "
                   "each channel at its own noise level (auto's choice for nets that take the "
                   "level), or R, G, B one by one (auto's choice for blind nets)")
    p.add_argument("--device", help="cpu, cuda, ... (default: cuda when available)")


def run(args: argparse.Namespace) -> None:
    from rich.console import Console

    from restorelab.cpu_memory import keep_freed_memory
    from restorelab.inference import denoise_files, load_denoiser

    keep_freed_memory()  # large tiles on the CPU without page faults

    denoiser = load_denoiser(
        args.checkpoint, device=args.device, tile_size=args.tile_size,
        overlap=args.overlap, ensemble=args.ensemble, color=args.color,
    )
    result = denoise_files(
        denoiser, args.inputs, args.output, overwrite=args.overwrite, in_place=args.in_place,
        sigma=args.sigma,
    )
    console = Console(stderr=bool(result.failed))
    console.print(f"restored {len(result.written)} image(s) into [bold]{args.output}[/bold]")
    if result.levels:
        levels = sorted(result.levels.values())
        span = (f"{levels[0]:.1f}" if levels[0] == levels[-1]
                else f"{levels[0]:.1f} to {levels[-1]:.1f}")
        console.print(f"noise level: {result.sigma_source}, sigma {span} (0-255)")
    elif args.sigma is not None:
        console.print("note: this net does not take a noise level; --sigma was not used")
    if result.failed:
        console.print(f"[red]{len(result.failed)} file(s) could not be restored:[/red]")
        for path, reason in result.failed:
            console.print(f"  {path}: {reason}", highlight=False, markup=False)
        raise SystemExit(1)
