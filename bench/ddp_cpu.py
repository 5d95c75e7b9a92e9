"""DDP's scaling on the CPU: training steps per second and samples per second of `trainer=ddp_cpu`
with N processes against one process, each side a real `train.py` run on the same machine.

    python bench/ddp_cpu.py                        # default U-Net, 2 processes against 1
    python bench/ddp_cpu.py --steps 120 --repeats 3 model=dncnn

The cores are shared out, not added: the single process runs `--threads` threads (default: every
core), each of the N DDP processes `--threads / N`, so the question answered is whether data
parallelism over processes uses a machine's cores better than intra-op threads do. Three rows:

- `1 process`: batch B (`data.batch_size`), every thread in one process;
- `N processes, batch B each`: N x B samples per step (what `trainer=ddp_cpu` does as given);
- `N processes, batch B/N each`: the same global batch as the single process, so the same
  optimisation; the speed-up here is the one that changes nothing but time.

Time per step is the run's own `seconds_per_step` (training steps only, on rank 0: the slowest
rank sets the pace, since gradients are reduced every step). Runs alternate between the sides,
so drift in the machine's speed hits every side; the medians are compared.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(overrides: list[str], threads: int, output: Path, steps: int) -> float:
    """Seconds per training step of one `train.py` run."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "WANDB_MODE": "offline"}
    command = [
        sys.executable, "train.py", f"hydra.run.dir={output}", f"trainer.max_steps={steps}",
        "trainer.max_epochs=-1", "+trainer.limit_val_batches=0", "trainer.num_sanity_val_steps=0",
        "test=false", "logger=csv", "callbacks.model_summary=null", *overrides,
    ]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise SystemExit(f"train.py failed ({' '.join(overrides)}):\n{result.stderr[-2000:]}")
    return json.loads((output / "metrics.json").read_text())["seconds_per_step"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=2, help="DDP processes (default 2)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2,
                        help="threads in all, shared out among the processes (default: cores)")
    parser.add_argument("--batch", type=int, default=16, help="per-process batch B")
    parser.add_argument("--steps", type=int, default=80, help="training steps per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model=dncnn")
    args = parser.parse_args(argv)
    n = args.processes
    if n < 2 or args.batch % n:
        parser.error(f"--processes must be >= 2 and divide --batch ({args.batch})")
    per_process_threads = max(1, args.threads // n)
    sides = {
        "1 process": (["trainer=cpu", f"data.batch_size={args.batch}"], args.threads,
                      args.batch),
        f"{n} processes, batch {args.batch} each": (
            ["trainer=ddp_cpu", f"trainer.devices={n}", f"data.batch_size={args.batch}"],
            per_process_threads, n * args.batch),
        f"{n} processes, batch {args.batch // n} each": (
            ["trainer=ddp_cpu", f"trainer.devices={n}", f"data.batch_size={args.batch // n}"],
            per_process_threads, args.batch),
    }
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for i, (name, (overrides, threads, _)) in enumerate(sides.items()):
                out = Path(tmp) / f"{repeat}_{i}"
                seconds[name].append(run([*overrides, *args.overrides], threads, out,
                                         args.steps))
                print(f"repeat {repeat + 1}/{args.repeats} {name}: "
                      f"{1 / seconds[name][-1]:.2f} steps/s", file=sys.stderr)

    base_name = "1 process"
    base = args.batch / statistics.median(seconds[base_name])
    print(f"\n{args.threads} threads in all, {args.steps} steps x {args.repeats}, "
          f"{' '.join(args.overrides) or 'default model'}:\n")
    print("| run | threads per process | samples per step | steps/s | samples/s | vs 1 process |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (_, threads, samples) in sides.items():
        steps_per_second = 1 / statistics.median(seconds[name])
        rate = samples * steps_per_second
        print(f"| {name} | {threads} | {samples} | {steps_per_second:.2f} | {rate:.1f} | "
              f"{rate / base:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
