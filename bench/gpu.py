"""The GPU path measured: training steps per second and peak GPU memory of the RestoreLab job in
fp32, bf16-mixed, bf16 + channels_last and bf16 + `module.compile`, for the default U-Net and
the paper-size DRUNet at batch 64 of 128 x 128 crops; the framework's overhead against a bare
PyTorch loop on the same device; the fraction of step time spent waiting for data; and
`restorelab denoise`'s megapixels per second on a 4096 x 4096 image.

    python bench/gpu.py                       # on one GPU: the whole table (not yet run on one)
    python bench/gpu.py --output gpu.json     # and the numbers as JSON
    python bench/gpu.py --quick               # a smoke run on the CPU: tiny sizes, few steps

Without CUDA the benchmark runs on the CPU at the sizes given (use --quick there) and marks the
rows that need a GPU (peak GPU memory, `module.compile`) as skipped, so the script is tested
where no GPU is.

Both sides are timed as in `bench/train_overhead.py`: from the start of step `--warmup` (the
compiled rows compile in the warm-up) to the end of the last step, so start-up is left out and
every per-step cost (data, logging, progress bar, callbacks) is counted. The data wait is the
time between one step's end and the next step's start (the loader's `next` and the loop), as a
share of the timed interval. Crops are cut by `--workers` loader processes (pinned memory on
CUDA) and the noise is drawn on the device, inside the step.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_overhead import compose_config  # bench/ is a folder of scripts, not a package

MODELS = {
    "U-Net (default)": ["model=unet"],
    "DRUNet (paper size)": ["model=drunet", "model.base_channels=64", "model.num_blocks=4"],
}
# name: (trainer precision, channels_last, compile, needs CUDA)
VARIANTS = {
    "fp32": ("32-true", False, False, False),
    "bf16-mixed": ("bf16-mixed", False, False, False),
    "bf16 + channels_last": ("bf16-mixed", True, False, False),
    "bf16 + compile": ("bf16-mixed", False, True, True),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepClock(L.Callback):
    """Times steps `warmup` to the last, and the gaps between them (data and loop)."""

    def __init__(self, warmup: int, device: torch.device) -> None:
        self.warmup, self.device = warmup, device
        self.start = self.end = 0.0
        self.wait = 0.0
        self._last_end: float | None = None

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step < self.warmup:
            return
        _sync(self.device)
        now = time.perf_counter()
        if trainer.global_step == self.warmup:
            self.start = now
            if self.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(self.device)
        elif self._last_end is not None:
            self.wait += now - self._last_end

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step <= self.warmup:
            return  # global_step is already the next step's number here
        _sync(self.device)
        self.end = self._last_end = time.perf_counter()


def train_overrides(args: argparse.Namespace, device: torch.device, model: list[str],
                    precision: str, channels_last: bool, compile_: bool) -> list[str]:
    workers = args.workers if args.workers is not None else (4 if device.type == "cuda" else 0)
    return [
        *model,
        f"trainer.accelerator={'gpu' if device.type == 'cuda' else 'cpu'}",
        f"trainer.precision={precision}",
        f"module.channels_last={str(channels_last).lower()}",
        f"module.compile={str(compile_).lower()}",
        f"data.batch_size={args.batch}",
        f"data.patch_size={args.patch}",
        f"data.samples_per_epoch={args.batch * (args.steps + 1)}",
        f"data.num_workers={workers}",
        f"data.pin_memory={str(device.type == 'cuda').lower()}",
        f"data.persistent_workers={str(workers > 0).lower()}",
        "logger=csv",
        "callbacks.model_summary=null",  # a summary per row says nothing the table does not
    ]


def framework_row(cfg: DictConfig, warmup: int, device: torch.device) -> dict[str, float]:
    from restorelab.train import build_module, instantiate_group

    HydraConfig().set_config(cfg)
    L.seed_everything(cfg.seed, workers=True)
    datamodule = hydra.utils.instantiate(cfg.data)
    module = build_module(cfg)
    clock = StepClock(warmup, device)
    trainer = hydra.utils.instantiate(
        cfg.trainer, callbacks=instantiate_group(cfg.callbacks) + [clock],
        logger=instantiate_group(cfg.logger), enable_progress_bar=True,
    )
    trainer.fit(module, datamodule=datamodule)
    steps = cfg.trainer.max_steps - warmup
    seconds = clock.end - clock.start
    row = {"steps_per_second": steps / seconds, "data_wait": clock.wait / seconds}
    if device.type == "cuda":
        row["peak_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return row


def bare_row(cfg: DictConfig, warmup: int, device: torch.device) -> dict[str, float]:
    """The loop a user would write by hand on the same device: same net, data, corruption, loss
    and optimizer, bf16 autocast as the framework's bf16-mixed, no Lightning."""
    from restorelab.models.conditioning import restore

    L.seed_everything(cfg.seed, workers=True)
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.setup("fit")
    net = hydra.utils.instantiate(cfg.model).to(device)
    corruption = hydra.utils.instantiate(cfg.noise)
    loss_fn = hydra.utils.instantiate(cfg.loss)
    optimizer = hydra.utils.instantiate(cfg.optimizer)(params=net.parameters())
    net.train()
    steps, step, start = cfg.trainer.max_steps, 0, 0.0
    while step < steps:
        for clean in datamodule.train_dataloader():
            if step == warmup:
                _sync(device)
                start = time.perf_counter()
            clean = clean.to(device, non_blocking=True)
            with torch.no_grad():
                corrupted = corruption.apply_with_level(clean, None)  # the level, as the module
            with torch.autocast(device.type, dtype=torch.bfloat16):
                restored = restore(net, corrupted.noisy, corrupted.sigma)
                loss = loss_fn(restored.float(), clean)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss.item()  # the framework reads the loss every step too (NaN check, progress bar)
            step += 1
            if step == steps:
                break
    _sync(device)
    return {"steps_per_second": (steps - warmup) / (time.perf_counter() - start)}


def inference_rows(args: argparse.Namespace, device: torch.device, net: torch.nn.Module,
                   ) -> list[dict[str, Any]]:
    """Megapixels per second of `Denoiser.denoise` (the default tiles) on a `--image` square."""
    from restorelab.denoiser import Denoiser

    rng = np.random.default_rng(0)
    image = torch.from_numpy(rng.random((args.image, args.image), dtype=np.float32))
    rows = []
    for name, dtype in (("fp32", None), ("bf16 autocast", torch.bfloat16)):
        denoiser = Denoiser(net, device=device)
        x = image.to(device)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            denoiser.denoise(x[: args.image // 4, : args.image // 4])  # warm-up
            _sync(device)
            start = time.perf_counter()
            denoiser.denoise(x, sigma=25)
            _sync(device)
        seconds = time.perf_counter() - start
        rows.append({"precision": name, "tile_size": denoiser.tile_size,
                     "seconds": seconds, "megapixels_per_second": args.image**2 / 1e6 / seconds})
    return rows


def _fmt(value: float | None, spec: str) -> str:
    return "skipped" if value is None else format(value, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60, help="training steps per row")
    parser.add_argument("--warmup", type=int, default=15, help="steps left out of the timing")
    parser.add_argument("--batch", type=int, default=64, help="crops per batch")
    parser.add_argument("--patch", type=int, default=128, help="crop side in pixels")
    parser.add_argument("--image", type=int, default=4096, help="side of the inference image")
    parser.add_argument("--workers", type=int, default=None,
                        help="loader processes (default: 4 on CUDA, 0 on the CPU)")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: batch 2 of 32 x 32, 4 steps, a 256 x 256 image")
    parser.add_argument("--output", type=Path, help="also write the numbers here as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.warmup, args.batch, args.patch, args.image = 4, 2, 2, 32, 256
    if args.warmup >= args.steps:
        parser.error(f"--warmup ({args.warmup}) must be below --steps ({args.steps})")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    hardware = (torch.cuda.get_device_name(device) if device.type == "cuda"
                else f"CPU ({platform.processor() or platform.machine()}, "
                     f"{torch.get_num_threads()} threads)")
    print(f"{hardware}; torch {torch.__version__}; batch {args.batch} x {args.patch}^2, "
          f"{args.steps} steps (warm-up {args.warmup})", file=sys.stderr)

    results: dict[str, Any] = {"hardware": hardware, "torch": torch.__version__,
                               "batch": args.batch, "patch": args.patch, "steps": args.steps,
                               "warmup": args.warmup, "training": [], "inference": {}}
    with tempfile.TemporaryDirectory() as output_dir:
        for model_name in args.models:
            net = None
            for variant, (precision, channels_last, compile_, cuda_only) in VARIANTS.items():
                row: dict[str, Any] = {"model": model_name, "variant": variant}
                results["training"].append(row)
                if cuda_only and device.type != "cuda":
                    row["skipped"] = "needs CUDA"
                    continue
                cfg = compose_config(
                    train_overrides(args, device, MODELS[model_name], precision, channels_last,
                                    compile_),
                    args.steps, output_dir)
                row.update(framework_row(cfg, args.warmup, device))
                row["samples_per_second"] = row["steps_per_second"] * args.batch
                print(f"{model_name} {variant}: {row['steps_per_second']:.2f} steps/s",
                      file=sys.stderr)
                if variant == "bf16-mixed":
                    bare = bare_row(cfg, args.warmup, device)["steps_per_second"]
                    row["bare_steps_per_second"] = bare
                    row["overhead"] = bare / row["steps_per_second"] - 1
                    net = hydra.utils.instantiate(cfg.model)
            if net is not None:
                results["inference"][model_name] = inference_rows(args, device, net)

    print(f"\n{hardware}, batch {args.batch} of {args.patch} x {args.patch}:\n")
    print("| model | variant | steps/s | samples/s | peak GPU GiB | data wait | overhead |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for row in results["training"]:
        if "skipped" in row:
            print(f"| {row['model']} | {row['variant']} | skipped ({row['skipped']}) | | | | |")
            continue
        overhead = row.get("overhead")
        print(f"| {row['model']} | {row['variant']} | {row['steps_per_second']:.2f} | "
              f"{row['samples_per_second']:.1f} | {_fmt(row.get('peak_gib'), '.2f')} | "
              f"{100 * row['data_wait']:.1f} % | "
              f"{'' if overhead is None else f'{100 * overhead:+.1f} %'} |")
    print(f"\n`denoise` on a {args.image} x {args.image} gray image (untrained weights, the "
          "default tiles):\n")
    print("| model | precision | tile | seconds | MP/s |")
    print("|---|---|---:|---:|---:|")
    for model_name, rows in results["inference"].items():
        for row in rows:
            print(f"| {model_name} | {row['precision']} | {row['tile_size']} | "
                  f"{row['seconds']:.2f} | {row['megapixels_per_second']:.2f} |")
    if args.output:
        from restorelab.atomic import write_text_atomic

        write_text_atomic(args.output, json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
