"""`restorelab export`: a checkpoint as ONNX, TorchScript or safetensors."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    from restorelab.export import DTYPES, FORMATS

    p = sub.add_parser("export", help="export a checkpoint to ONNX, TorchScript or safetensors")
    p.add_argument("--checkpoint", "-c", required=True, help="run folder, .ckpt or .safetensors")
    p.add_argument("--format", "-f", required=True, choices=FORMATS)
    p.add_argument("--output", "-o", help="output file (default: beside the checkpoint)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--dtype", choices=DTYPES, default="float32",
                   help="safetensors only: store the weights as float16 or bfloat16 (half the "
                   "file); they load back into the float32 net")
    p.add_argument("--color", choices=("opponent", "rgb"),
                   help="export a gray noise-conditional net as an RGB denoiser: the same "
                   "weights applied to each channel of CBM3D's opponent color space (or of RGB, "
                   "the naive way) at that channel's noise level")


def run(args: argparse.Namespace) -> None:
    from rich.console import Console

    from restorelab.export import export

    path = export(args.checkpoint, args.format, args.output, overwrite=args.overwrite,
                  dtype=args.dtype, color=args.color)
    Console().print(f"exported {args.format} to [bold]{path}[/bold]")
