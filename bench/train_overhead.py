"""What the framework costs: training steps per second of the RestoreLab job against a bare
PyTorch loop with the same model, batch, data, corruption, loss and optimizer, in one process.

    python bench/train_overhead.py                 # default U-Net, 16 x 64x64 gray, CPU
    python bench/train_overhead.py --steps 100 --repeats 5 model=dncnn

Both sides are timed the same way, from the start of step `--warmup` to the end of the last step,
so start-up (imports, composing, the sanity check) is left out and every per-step cost (data
loading, logging, progress bar, callbacks) is counted. Runs alternate (framework, bare, framework,
...) so drift in the machine's speed hits both; the medians are compared.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time

import hydra
import lightning as L
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from restorelab.conf import CONF_DIR


class _Clock(L.Callback):
    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.start = self.end = 0.0

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup:
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.end = time.perf_counter()


def compose_config(overrides: list[str], steps: int, output_dir: str) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose(
            config_name="train",
            return_hydra_config=True,
            overrides=[
                f"trainer.max_steps={steps}",
                "trainer.max_epochs=-1",
                "+trainer.limit_val_batches=0",
                "trainer.num_sanity_val_steps=0",
                "trainer.accelerator=cpu",
                "test=false",
                *overrides,
            ],
        )
    with open_dict(cfg):
        cfg.paths.output_dir = output_dir
        cfg.hydra.runtime.output_dir = output_dir
    return cfg


def framework_steps_per_second(cfg: DictConfig, warmup: int) -> float:
    from restorelab.train import build_module, instantiate_group

    HydraConfig().set_config(cfg)
    L.seed_everything(cfg.seed, workers=True)
    datamodule = hydra.utils.instantiate(cfg.data)
    module = build_module(cfg)
    clock = _Clock(warmup)
    callbacks = instantiate_group(cfg.callbacks) + [clock]
    trainer = hydra.utils.instantiate(
        cfg.trainer, callbacks=callbacks, logger=instantiate_group(cfg.logger)
    )
    trainer.fit(module, datamodule=datamodule)
    return (cfg.trainer.max_steps - warmup) / (clock.end - clock.start)


def bare_steps_per_second(cfg: DictConfig, warmup: int) -> float:
    """The loop a user would write by hand: same objects, no Lightning."""
    L.seed_everything(cfg.seed, workers=True)
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.setup("fit")
    net = hydra.utils.instantiate(cfg.model)
    corruption = hydra.utils.instantiate(cfg.noise)
    loss_fn = hydra.utils.instantiate(cfg.loss)
    optimizer = hydra.utils.instantiate(cfg.optimizer)(params=net.parameters())
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.trainer.max_steps)
    net.train()
    step, start = 0, 0.0
    while step < cfg.trainer.max_steps:
        for clean in datamodule.train_dataloader():
            if step == warmup:
                start = time.perf_counter()
            with torch.no_grad():
                noisy = corruption(clean)
            loss = loss_fn(net(noisy), clean)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss.item()  # the framework reads the loss every step too (NaN check, progress bar)
            step += 1
            if step == cfg.trainer.max_steps:
                break
    return (cfg.trainer.max_steps - warmup) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60, help="training steps per run")
    parser.add_argument("--warmup", type=int, default=10, help="steps left out of the timing")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model=dncnn")
    args = parser.parse_args(argv)

    framework, bare = [], []
    with tempfile.TemporaryDirectory() as output_dir:
        cfg = compose_config(args.overrides, args.steps, output_dir)
        for repeat in range(args.repeats):
            framework.append(framework_steps_per_second(cfg, args.warmup))
            bare.append(bare_steps_per_second(cfg, args.warmup))
            print(
                f"repeat {repeat + 1}/{args.repeats}: restorelab {framework[-1]:.2f} steps/s, "
                f"bare loop {bare[-1]:.2f} steps/s",
                file=sys.stderr,
            )
    f, b = statistics.median(framework), statistics.median(bare)
    batch = cfg.data.batch_size
    patch = cfg.data.patch_size
    print(f"model={cfg.model._target_.rsplit('.', 1)[-1]} batch={batch}x{patch}x{patch} "
          f"threads={torch.get_num_threads()} steps={args.steps} (warmup {args.warmup})")
    print(f"restorelab : {f:.3f} steps/s  ({f * batch:.1f} patches/s)")
    print(f"bare loop  : {b:.3f} steps/s  ({b * batch:.1f} patches/s)")
    print(f"overhead   : {100 * (b / f - 1):+.1f}% time per step (target < 5%)")


if __name__ == "__main__":
    main()
