"""`keep_freed_memory`: large blocks freed by one forward pass are reused by the next instead of
being faulted in afresh (counted in page faults, not timed). In subprocesses: the setting is
process-wide."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Allocates, fills and frees a 256 MiB tensor a few times and prints the minor page faults of
# the later rounds: with glibc's defaults every round maps fresh pages (65,536 faults of 4 KiB),
# kept memory is faulted in while the heap grows, then reused.
PROBE = """
import json, resource, sys, torch
from restorelab.cpu_memory import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(2):  # the first rounds fault either way (glibc grows its heap)
    torch.empty(64 * 2**20).fill_(1.0)
before = faults()
for _ in range(3):
    torch.empty(64 * 2**20).fill_(1.0)
print(json.dumps({"kept": kept, "faults": faults() - before}))
"""


def probe(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")
def test_freed_large_blocks_are_reused_instead_of_faulted_in_again():
    kept = probe("keep")
    if not kept["kept"]:
        pytest.skip("this C library has no mallopt that takes the thresholds (not glibc)")
    pages = 3 * 256 * 2**20 // 4096  # three rounds of a 256 MiB block in 4 KiB pages
    system = probe("system")["faults"]
    assert system > 0.5 * pages, f"glibc's defaults should map each block afresh: {system}"
    assert kept["faults"] < 0.05 * pages, f"kept memory should be reused: {kept['faults']} faults"
