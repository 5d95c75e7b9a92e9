"""Large CPU activations without page faults: glibc's malloc told to keep what is freed.

glibc serves every block above its mmap threshold (dynamic, at most 32 MiB on 64-bit) with fresh
pages from the kernel and returns them when the block is freed. A net restoring a large tile
allocates dozens of such blocks per forward pass (one 1,728-pixel tile of a 32-channel layer is
364 MiB), so each pass pays for the kernel to fault in and zero every page again: measured by
`bench/inference.py`, that is about half of the time `restorelab denoise` spends on a
2048 x 2048 image on the CPU.

`keep_freed_memory()` raises the mmap and trim thresholds, so large blocks come from the heap
and freed memory stays there for the next tile to reuse. The cost is that the process keeps
its peak memory until it exits instead of returning it between passes. `restorelab denoise`,
`eval` and `benchmark` call it once at start; call it in your own process before
`load_denoiser(...).denoise` on the CPU for the same speed. Elsewhere than glibc (macOS,
Windows, musl) it does nothing and says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

# mallopt(3) parameter numbers, from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
KEEP = 2**31 - 1  # the largest value mallopt takes (an int): blocks under 2 GiB come from the heap


@functools.cache
def keep_freed_memory() -> bool:
    """Asks glibc's malloc to serve large blocks from its heap and keep freed memory for reuse
    (process-wide, once). Returns whether the allocator took it: False where there is no glibc
    `mallopt`, or it refused."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # True only when both took: a raised trim threshold alone would still map large blocks afresh.
    return bool(mallopt(M_MMAP_THRESHOLD, KEEP)) and bool(mallopt(M_TRIM_THRESHOLD, KEEP))
