"""`restorelab shards`: write a folder of images as LitData shards, split as `data=folder`
splits it, for training with `data=streaming`."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
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


def run(args: argparse.Namespace) -> None:
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
