"""`keep_freed_memory`: large blocks come from malloc's heap, where a freed one is reused by the
next forward pass, instead of each being mapped afresh and unmapped when freed. Checked on the
block's address (which mapping holds it), not on time or page-fault counts, which the kernel's
own reclaim makes vary. In subprocesses: the setting is process-wide."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Allocates a 256 MiB tensor and prints which mapping of /proc/self/maps holds its data:
# "[heap]" (malloc's brk heap) or "" (an anonymous mapping of its own).
PROBE = """
import json, sys, torch
from restorelab.cpu_memory import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
block = torch.empty(64 * 2**20)
block.fill_(1.0)
address = block.data_ptr()
where = None
for line in open("/proc/self/maps"):
    fields = line.split()
    start, end = (int(x, 16) for x in fields[0].split("-"))
    if start <= address < end:
        where = fields[5] if len(fields) > 5 else ""
print(json.dumps({"kept": kept, "mapping": where}))
"""


def probe(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], check=True, capture_output=True,
                         text=True, timeout=300).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux's /proc/self/maps")
def test_large_blocks_come_from_the_heap_instead_of_their_own_mappings():
    kept = probe("keep")
    if not kept["kept"]:
        pytest.skip("this C library has no mallopt that takes the thresholds (not glibc)")
    assert probe("system")["mapping"] == "", "glibc's defaults map a 256 MiB block on its own"
    assert kept["mapping"] == "[heap]", f"kept: the block should be in the heap, got {kept}"
