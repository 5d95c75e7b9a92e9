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

Larger than memory: `--large COUNT ...` compares the in-memory loader (`data=folder`), the lazy one
(`data=lazy_folder`) and the streaming one (`data=streaming`, from shards that `restorelab shards`
writes first) on folders of COUNT generated RGB photographs of `--size` pixels a side:

    python bench/data_loader.py --large 300 --size 2048             # the full comparison
    python bench/data_loader.py --large 50 100 200 --size 1024 --keep /tmp/large  # a growth series

Each loader runs in a process of its own, sampled every 0.1 s: `peak PSS` is the largest sum over
that process and its loader workers of their proportional set size (pages shared by forked
workers counted once), `peak RSS` the main process's own. `crops/s` counts training crops
delivered by `train_dataloader()` after `--warmup` batches.
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

from restorelab.conf import CONF_DIR

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


def _shards(root: Path) -> None:
    from restorelab.data.streaming import write_shards

    _folder(root)
    write_shards(root / "images", root / "shards", num_workers=2)


STAND_INS: dict[str, Callable[[Path], None]] = {
    "mnist": lambda root: _mnist(root, "MNIST"),
    "fashion_mnist": lambda root: _mnist(root, "FashionMNIST"),
    "lfw": _lfw,
    "documents": _documents,
    "paired": _paired,
    "sidd": _sidd,
    "folder": _folder,
    "lazy_folder": _folder,
    "streaming": _shards,
}


# ------------------------------------------------------------------ measurements
def compose_config(name: str, data_dir: Path, overrides: list[str]) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
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


# ------------------------------------------------------------------ larger than memory
LARGE_LOADERS = ("folder", "lazy_folder", "streaming")


def _large_folder(root: Path, count: int, size: int) -> Path:
    """`root/all` holds at least `count` RGB photographs of `size` pixels a side (PNG, written
    once); `root/n<count>` links to the first `count` of them."""
    everything = root / "all"
    everything.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        path = everything / f"{i:04d}.png"
        if not path.exists():
            image = _photo(size, size, 3, np.random.default_rng(i))
            Image.fromarray(image).save(path.with_suffix(".tmp.png"), compress_level=1)
            path.with_suffix(".tmp.png").rename(path)
    subset = root / f"n{count}"
    if not subset.exists():
        subset.mkdir()
        for i in range(count):
            (subset / f"{i:04d}.png").symlink_to(everything / f"{i:04d}.png")
    return subset


def _tree_memory(pid: int) -> tuple[int, int]:
    """(PSS of `pid` and all its descendants, RSS of `pid`) in bytes, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        tree.update(children)
        frontier.extend(children)
    pss = rss = 0
    for member in tree:
        try:
            for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1]) * 1024
                elif line.startswith("Rss:") and member == pid:
                    rss = int(line.split()[1]) * 1024
        except OSError:
            continue
    return pss, rss


def measure_one(name: str, data_dir: Path, batches: int, warmup: int,
                overrides: list[str]) -> dict[str, float]:
    """Setup time and crops/s of one loader (run in its own process by `run_large`)."""
    cfg = compose_config(name, data_dir, overrides)
    hydra.utils.get_class(cfg.data._target_)  # imports are not setup time
    start = time.perf_counter()
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.setup("fit")
    setup = time.perf_counter() - start
    crops, batch = loader_images_per_second(datamodule.train_dataloader(), batches, warmup)
    return {"setup": setup, "crops": crops, "batch": _images(batch)}


def run_large(args: argparse.Namespace, overrides: list[str]) -> None:
    import json
    import subprocess

    from restorelab.data.streaming import write_shards

    root = args.keep or Path(tempfile.mkdtemp(prefix="restorelab-large-"))
    rows = []
    try:
        for count in args.large:
            start = time.perf_counter()
            folder = _large_folder(root, count, args.size)
            print(f"{count} images of {args.size}^2: {time.perf_counter() - start:.0f} s to "
                  "write", file=sys.stderr)
            for name in args.loaders:
                data_root = root / f"{name}_{count}"
                shards_seconds = None
                if not data_root.exists():
                    data_root.mkdir()
                    (data_root / "images").symlink_to(folder)
                    if name == "streaming":
                        start = time.perf_counter()
                        write_shards(folder, data_root / "shards", num_workers=2)
                        shards_seconds = time.perf_counter() - start
                command = [sys.executable, __file__, "--measure-one", name, "--data-dir",
                           str(data_root), "--batches", str(args.batches), "--warmup",
                           str(args.warmup), "--", "data.channels=3", *overrides]
                if args.patches_per_image and name != "folder":
                    command.append(f"data.patches_per_image={args.patches_per_image}")
                child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
                peak_pss = peak_rss = 0
                while child.poll() is None:
                    pss, rss = _tree_memory(child.pid)
                    peak_pss, peak_rss = max(peak_pss, pss), max(peak_rss, rss)
                    time.sleep(0.1)
                output = child.stdout.read().strip().splitlines()
                if child.returncode != 0 or not output:
                    raise SystemExit(f"{name} on {count} images failed ({child.returncode})")
                result = json.loads(output[-1])
                rows.append((name, count, shards_seconds, result, peak_pss, peak_rss))
                print(f"{name} {count}: {result['crops']:.1f} crops/s, peak PSS "
                      f"{peak_pss / 2**30:.2f} GiB", file=sys.stderr)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print(f"torch {torch.__version__}; RGB PNG photographs of {args.size} x {args.size}; "
          f"overrides: {' '.join(overrides) or 'none'}")
    print(f"{'loader':<12} {'images':>6} {'shards s':>8} {'setup s':>8} {'crops/s':>8} "
          f"{'peak PSS GiB':>13} {'peak RSS GiB':>13}")
    for name, count, shards_seconds, result, pss, rss in rows:
        shards = f"{shards_seconds:.0f}" if shards_seconds is not None else "-"
        print(f"{name:<12} {count:>6} {shards:>8} {result['setup']:>8.1f} "
              f"{result['crops']:>8.1f} {pss / 2**30:>13.2f} {rss / 2**30:>13.2f}")


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
    parser.add_argument("--large", type=int, nargs="+", metavar="COUNT",
                        help="compare in-memory, lazy and streaming loaders on generated folders "
                        "of COUNT large images (a growth series with several counts)")
    parser.add_argument("--size", type=int, default=2048, help="side of the --large images")
    parser.add_argument("--loaders", nargs="+", default=list(LARGE_LOADERS),
                        choices=LARGE_LOADERS, help="the loaders --large compares")
    parser.add_argument("--patches-per-image", type=int,
                        help="data.patches_per_image of the lazy and streaming loaders")
    parser.add_argument("--keep", type=Path,
                        help="write the --large images (and shards) here and keep them")
    parser.add_argument("--measure-one", help=argparse.SUPPRESS)
    args, overrides = parser.parse_known_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    # Overrides after `--` reach argparse as positionals.
    overrides = [o for o in overrides if o != "--"] + [c for c in args.configs if "=" in c]
    args.configs = [c for c in args.configs if "=" not in c]
    if args.measure_one:
        import json

        print(json.dumps(measure_one(args.measure_one, args.data_dir, args.batches,
                                     args.warmup, overrides)))
        return
    if args.large:
        run_large(args, overrides)
        return
    names = args.configs or sorted(p.stem for p in (CONF_DIR / "data").glob("*.yaml"))

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
