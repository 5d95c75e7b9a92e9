"""Where evaluation images come from: a folder of files, or one split of a data config (clean
images, or the noisy / clean pairs of data with real noise)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import Tensor

from restorelab.evaluation.harness import EvalImage


def compose_config(overrides: Sequence[str]) -> Any:
    """The config `python train.py <overrides>` would compose (for its data and noise nodes)."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    import restorelab  # noqa: F401  (registers the resolvers the configs use)

    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(version_base="1.3", config_module="restorelab.conf"):
            return compose(config_name="train", overrides=list(overrides))
    finally:
        GlobalHydra.instance().clear()


def images_from_folder(root: str | Path, channels: int) -> list[EvalImage]:
    """Every image file under `root` (recursive), read as the folder dataset reads them."""
    from restorelab.data.files import find_images, read_image
    from restorelab.data.patches import to_float

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder of images")
    paths = find_images(root, recursive=True)
    if not paths:
        raise FileNotFoundError(f"no image files in {root} (PNG, JPEG, TIFF or BMP)")
    return [
        EvalImage(str(p.relative_to(root)), to_float(read_image(p, channels))) for p in paths
    ]


def images_from_datamodule(data_config: Any, split: str = "test") -> list[EvalImage]:
    """The items of one split of a DataModule config: clean images, or (noisy, clean) pairs of
    data with real noise. Named after the split's items when there is one view per item."""
    import hydra

    datamodule = hydra.utils.instantiate(data_config)
    datamodule.prepare_data()
    datamodule.setup("test" if split == "test" else "fit")
    loader = {"test": datamodule.test_dataloader, "val": datamodule.val_dataloader}[split]()
    items: list[tuple[Tensor, Tensor | None]] = []
    for batch in loader:
        if isinstance(batch, (list, tuple)):
            items += [(clean, noisy) for noisy, clean in zip(*batch)]
        else:
            items += [(clean, None) for clean in batch]
    names = list(getattr(datamodule, "splits", {}).get(split, []))
    if len(names) != len(items):
        names = [f"{split}{i:03d}" for i in range(len(items))]
    return [EvalImage(str(n), clean, noisy) for n, (clean, noisy) in zip(names, items)]
