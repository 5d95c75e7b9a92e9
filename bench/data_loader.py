"""Can each data loader feed training? Images per second of every data config's training loader
alone, printed beside the images per second that training steps of the default model consume.

    python bench/data_loader.py                             # every data config, stand-in data
    python bench/data_loader.py lfw documents --data-dir data   # the real data under data/
    python bench/data_loader.py --train-steps-per-second 30  # a training speed measured elsewhere
    python bench/data_loader.py folder -- data.num_workers=2 model=dncnn   # Hydra overrides

Without `--data-dir`, each dataset is replaced by stand-in files written in its real on-disk
layout, at its real image sizes (fewer images: loading speed does not depend on the count, setup
time does), in a temporary folder. `natural` and the dead leaves need no files.

How to read it: per config, `loader` is images/s of `train_dataloader()` alone, with the config's
own `num_workers` (the first `--warmup` batches are left out); `training` is images/s of bare
training steps (forward, loss, backward, optimizer step of the composed model on batches of the
loader's shape, on `--device`), or `--train-steps-per-second` times the batch size. `ratio` is
loader / training: above 1 the loader keeps up and data loading costs about `training / loader`
of each step when done in the main process (`num_workers: 0`); below 1 training waits for data:
raise `data.num_workers` (roughly `1 / ratio` workers) or use a faster device only when the ratio
has room. `setup` is the one-off time of `prepare_data` + `setup` (decoding files into memory).
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import hydra
import numpy as np
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ stand-in data, real layouts
def _photo(height: int, width: int, channels: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth random content with grain: decodes like a photo, unlike white noise."""
    small = rng.integers(0, 256, (max(2, height // 16), max(2, width // 16), channels), np.uint8)
    smooth = Image.fromarray(small[..., 0] if channels == 1 else small)
    array = np.asarray(smooth.resize((width, height), Image.BICUBIC), dtype=np.int16)
    return np.clip(array + rng.integers(-12, 13, array.shape), 0, 255).astype(np.uint8)


def _mnist(root: Path, folder: str) -> None:
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, count in (("train", 60000), ("t10k", 10000)):
        images = rng.integers(0, 256, (count, 28, 28), np.uint8)
        labels = rng.integers(0, 10, count, np.uint8)
        for name, array, magic in (("images-idx3", images, 2051), ("labels-idx1", labels, 2049)):
            header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
            with gzip.open(raw / f"{prefix}-{name}-ubyte.gz", "wb", compresslevel=1) as file:
                file.write(header + array.tobytes())


def _lfw(root: Path, people: int = 300) -> None:
    rng = np.random.default_rng(0)
    for p in range(people):
        name = f"Person_{p:04d}"
        (root / "lfw_funneled" / name).mkdir(parents=True)
        for k in range(1, 3):
            Image.fromarray(_photo(250, 250, 3, rng)).save(
                root / "lfw_funneled" / name / f"{name}_{k:04d}.jpg", quality=90)


def _pairs(noisy_paths: list[Path], clean_paths: list[Path], height: int, width: int,
           channels: int) -> None:
    rng = np.random.default_rng(0)
    for noisy, clean in zip(noisy_paths, clean_paths):
        image = _photo(height, width, channels, rng)
        for path, array in ((clean, image), (noisy, np.clip(image + rng.normal(0, 20, image.shape),
                                                            0, 255).astype(np.uint8))):
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(path)


def _documents(root: Path) -> None:
    base = root / "denoising-dirty-documents"
    for height in (258, 420):  # Kaggle's two page sizes, 72 pages each
        names = [f"{i}.png" for i in range(height, height + 72)]
        _pairs([base / "train" / n for n in names], [base / "train_cleaned" / n for n in names],
               height, 540, 1)


def _paired(root: Path) -> None:
    names = [f"set{i % 3}/{i}.png" for i in range(40)]
    _pairs([root / "paired" / "noisy" / n for n in names],
           [root / "paired" / "clean" / n for n in names], 512, 512, 3)


def _sidd(root: Path) -> None:
    # 2 instances of each of the 10 scenes, at a quarter of SIDD's 3000x5328 frames.
    data = root / "SIDD_Small_sRGB_Only" / "Data"
    folders = [data / f"{k + 1:04d}_{k % 10 + 1:03d}_S6_00100_00060_3200_L" for k in range(20)]
    _pairs([f / "NOISY_SRGB_010.PNG" for f in folders], [f / "GT_SRGB_010.PNG" for f in folders],
           750, 1332, 3)


def _folder(root: Path) -> None:
    rng = np.random.default_rng(0)
    (root / "images").mkdir()
    for i in range(100):  # BSD-sized photographs
        Image.fromarray(_photo(321, 481, 3, rng)).save(root / "images" / f"{i:03d}.png")


STAND_INS: dict[str, Callable[[Path], None]] = {
    "mnist": lambda root: _mnist(root, "MNIST"),
    "fashion_mnist": lambda root: _mnist(root, "FashionMNIST"),
    "lfw": _lfw,
    "documents": _documents,
    "paired": _paired,
    "sidd": _sidd,
    "folder": _folder,
}


# ------------------------------------------------------------------ measurements
def compose_config(name: str, data_dir: Path, overrides: list[str]) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = compose(config_name="train", overrides=[f"data={name}", *overrides])
    with open_dict(cfg):
        cfg.paths.root_dir = str(ROOT)
        cfg.paths.data_dir = str(data_dir)
        if "download" in cfg.data:
            cfg.data.download = False  # the bench measures loading, not the network
    return cfg


def _images(batch) -> int:
    return (batch[0] if isinstance(batch, (list, tuple)) else batch).shape[0]


def loader_images_per_second(loader, batches: int, warmup: int) -> tuple[float, object]:
    iterator = iter(loader)
    first = next(iterator)
    for _ in range(warmup - 1):
        next(iterator)
    count, start = 0, time.perf_counter()
    for _ in range(batches):
        try:
            count += _images(next(iterator))
        except StopIteration:  # a short epoch: start the next one, as training would
            iterator = iter(loader)
    return count / (time.perf_counter() - start), first


def training_images_per_second(cfg: DictConfig, batch, steps: int, warmup: int,
                               device: str) -> float:
    """Bare training steps of the composed model on one batch of the loader's shape."""
    net = hydra.utils.instantiate(cfg.model).to(device)
    loss_fn = hydra.utils.instantiate(cfg.loss)
    optimizer = hydra.utils.instantiate(cfg.optimizer)(params=net.parameters())
    clean = (batch[1] if isinstance(batch, (list, tuple)) else batch).to(device)
    noisy = (clean + 0.1 * torch.randn_like(clean))
    net.train()
    for step in range(warmup + steps):
        if step == warmup:
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        loss = loss_fn(net(noisy), clean)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    loss.item()
    return steps * clean.shape[0] / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="*", help="data configs (default: all in conf/data/)")
    parser.add_argument("--data-dir", type=Path, help="real data root (default: stand-in files)")
    parser.add_argument("--batches", type=int, default=30, help="timed loader batches")
    parser.add_argument("--warmup", type=int, default=3, help="batches / steps left out")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps")
    parser.add_argument("--train-steps-per-second", type=float,
                        help="take this training speed instead of measuring one")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args, overrides = parser.parse_known_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = [o for o in overrides if o != "--"]
    names = args.configs or sorted(p.stem for p in (ROOT / "conf" / "data").glob("*.yaml"))

    scratch = Path(tempfile.mkdtemp(prefix="restorelab-bench-"))
    rows = []
    try:
        for name in names:
            data_dir = args.data_dir or scratch / name
            if args.data_dir is None:
                data_dir.mkdir()
                STAND_INS.get(name, lambda root: None)(data_dir)
            cfg = compose_config(name, data_dir, overrides)
            start = time.perf_counter()
            datamodule = hydra.utils.instantiate(cfg.data)
            datamodule.prepare_data()
            datamodule.setup("fit")
            setup = time.perf_counter() - start
            loader, batch = loader_images_per_second(datamodule.train_dataloader(), args.batches,
                                                     args.warmup)
            if args.train_steps_per_second:
                training = args.train_steps_per_second * _images(batch)
            else:
                training = training_images_per_second(cfg, batch, args.steps, args.warmup,
                                                      args.device)
            images = batch[0] if isinstance(batch, (list, tuple)) else batch
            shape = "x".join(map(str, images.shape))
            rows.append((name, shape, cfg.data.num_workers, setup, loader, training))
            print(f"{name}: loader {loader:.0f} img/s, training {training:.0f} img/s",
                  file=sys.stderr)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    model = cfg.model._target_.rsplit(".", 1)[-1]
    source = "given" if args.train_steps_per_second else f"measured, {model} on {args.device}"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; training {source}")
    print(f"{'config':<20} {'batch':<16} {'workers':>7} {'setup s':>8} {'loader img/s':>13} "
          f"{'training img/s':>15} {'ratio':>7}")
    for name, shape, workers, setup, loader, training in rows:
        print(f"{name:<20} {shape:<16} {workers:>7} {setup:>8.1f} {loader:>13.0f} "
              f"{training:>15.0f} {loader / training:>7.1f}")


if __name__ == "__main__":
    main()
