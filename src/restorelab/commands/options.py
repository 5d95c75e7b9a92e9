"""Options that several subcommands share: `--tile-size` of `eval` and `denoise`."""

from __future__ import annotations

import argparse

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
