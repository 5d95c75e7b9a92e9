"""data=lazy_folder: files decoded per item, split and tiled as data=folder does in memory,
random crops with the 8 flips and rotations, a cache that keeps to its budget."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from conftest import run_train
from PIL import Image

from restorelab.data import lazy_folder
from restorelab.data.files import decode_image
from restorelab.data.folder import FolderDataModule
from restorelab.data.lazy_folder import LazyFolderDataModule, LazyPatches, balanced_shares
from restorelab.errors import DataError


def _folder(root: Path, count: int = 12) -> Path:
    """Photos of uneven sizes in two subfolders: gray, RGB and one 16-bit PNG."""
    rng = np.random.default_rng(0)
    for i in range(count):
        size = (40 + 3 * i, 48 + i)
        pixels = rng.integers(0, 256, (*size, 3) if i % 2 else size, np.uint8)
        path = root / f"set{i % 2}" / f"{i:02d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path)
    Image.fromarray(rng.integers(0, 65536, (50, 45), np.uint16)).save(root / "deep.png")
    return root


def _modules(root: Path, **keys) -> tuple[FolderDataModule, LazyFolderDataModule]:
    common = dict(data_dir=str(root), channels=3, patch_size=16, eval_size=16, batch_size=4,
                  samples_per_epoch=8, num_workers=0, **keys)
    return FolderDataModule(**common), LazyFolderDataModule(**common)


def test_lazy_folder_splits_and_tiles_as_folder_does(tmp_path: Path) -> None:
    in_memory, lazy = _modules(_folder(tmp_path))
    in_memory.setup("fit")
    lazy.setup("fit")
    assert lazy.splits == in_memory.splits
    # Nothing decoded in setup: the datasets hold file names and sizes only.
    assert not any(isinstance(v, torch.Tensor) for v in vars(lazy.datasets["train"]).values())
    batch = next(iter(lazy.train_dataloader()))
    assert batch.shape == (4, 3, 16, 16) and batch.dtype == torch.float32
    assert 0.0 <= batch.min() and batch.max() <= 1.0
    for split in ("val", "test"):
        expected = sorted(t.flatten().tolist() for t in in_memory.datasets[split])
        tiles = torch.cat(list(lazy.val_dataloader() if split == "val" else
                               lazy.test_dataloader()))
        assert sorted(t.flatten().tolist() for t in tiles) == expected


def test_several_crops_per_decoded_image_fill_the_batch(tmp_path: Path) -> None:
    lazy = LazyFolderDataModule(data_dir=str(_folder(tmp_path)), channels=3, patch_size=16,
                                eval_size=16, batch_size=4, samples_per_epoch=8, num_workers=0,
                                patches_per_image=2, eval_tiles=2)
    lazy.setup("fit")
    batches = list(lazy.train_dataloader())
    assert [b.shape[0] for b in batches] == [4, 4]  # 8 samples: 4 items of 2 crops
    assert max(b.shape[0] for b in lazy.val_dataloader()) <= 2
    with pytest.raises(ValueError, match="divide"):
        LazyFolderDataModule(data_dir=str(tmp_path), batch_size=6, patches_per_image=4)


def test_crops_take_all_eight_flips_and_rotations(tmp_path: Path) -> None:
    # A crop the size of the image shows the orientation alone.
    path = tmp_path / "corner.png"
    Image.fromarray(np.arange(16, dtype=np.uint8).reshape(4, 4) * 16).save(path)
    dataset = LazyPatches([path], [(4, 4)], channels=1, patch_size=4, length=1)
    torch.manual_seed(0)
    seen = {tuple(dataset[0].flatten().tolist()) for _ in range(200)}
    assert len(seen) == 8


def test_cache_keeps_to_its_budget_and_saves_decodes(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    paths = []
    for i in range(4):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(np.full((32, 32), 60 * i, np.uint8)).save(paths[-1])
    decodes = []
    real_read = lazy_folder.read_image
    monkeypatch.setattr(lazy_folder, "read_image",
                        lambda path, channels: decodes.append(path) or real_read(path, channels))
    budget = 2 * 32 * 32  # two of the four gray images
    dataset = LazyPatches(paths, [(32, 32)] * 4, 1, 8, length=100, cache_bytes=budget)
    torch.manual_seed(0)
    for index in range(100):
        crop = dataset[index]
        assert crop.shape == (1, 1, 8, 8) and crop.unique().numel() == 1  # one image's pixels
    cache = dataset._worker_share()[2]
    assert cache.used <= budget and len(cache.images) == 2
    # A cached image was decoded once; every draw of the two others decoded its file again.
    cached = [paths[i] for i in cache.images]
    assert all(decodes.count(p) == 1 for p in cached)
    assert len(decodes) < 100 - 10  # the cache took about half of the draws


def test_balanced_shares_deal_every_image_once() -> None:
    areas = [100, 90, 50, 40, 30, 10, 5]
    shares = balanced_shares(areas, 3)
    assert sorted(i for share in shares for i in share) == list(range(7))
    totals = [sum(areas[i] for i in share) for share in shares]
    assert max(totals) - min(totals) <= max(areas) // 2


def test_a_truncated_file_is_skipped_in_training_and_named_in_evaluation(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good, bad = tmp_path / "good.png", tmp_path / "bad.png"
    Image.fromarray(np.full((24, 24), 200, np.uint8)).save(good)
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (24, 24), np.uint8)).save(bad)
    bad.write_bytes(bad.read_bytes()[:-200])  # the header reads, the pixels do not
    dataset = LazyPatches([bad, good], [(24, 24)] * 2, 1, 8, length=20)
    with caplog.at_level(logging.WARNING):
        crops = torch.cat([dataset[i] for i in range(20)])
    assert torch.all(crops == 200 / 255) and "bad.png" in caplog.text
    with pytest.raises(DataError, match="bad.png"):
        strict = LazyPatches([bad], [(24, 24)], 1, 8, length=1, strict=True)
        strict[0]
    with pytest.raises(DataError, match="bad.png"):
        lazy_folder.LazyTiles([bad], 1, 8, None)[0]


@pytest.mark.parametrize("suffix", [".png", ".tif", ".jpg"])
def test_decoding_bytes_read_from_a_shard_matches_the_file(tmp_path: Path, suffix: str) -> None:
    rng = np.random.default_rng(1)
    path = tmp_path / f"image{suffix}"
    if suffix == ".jpg":
        Image.fromarray(rng.integers(0, 256, (20, 30, 3), np.uint8)).save(path)
    elif suffix == ".tif":
        tifffile.imwrite(path, rng.integers(0, 65536, (20, 30), np.uint16))
    else:  # 16-bit RGB: the PNG Pillow would truncate to 8 bits
        import imagecodecs

        path.write_bytes(imagecodecs.png_encode(rng.integers(0, 65536, (20, 30, 3), np.uint16)))
    from_file = decode_image(path)
    np.testing.assert_array_equal(decode_image(path, path.read_bytes()), from_file)
    assert from_file.dtype == (np.uint8 if suffix == ".jpg" else np.uint16)


def test_a_short_training_run_on_the_lazy_folder(tmp_path: Path) -> None:
    root = _folder(tmp_path / "images", count=8)
    result = run_train(tmp_path / "run", [
        "data=lazy_folder", f"data.data_dir={root}", "data.patch_size=16", "data.eval_size=16",
        "data.eval_tiles=2", "data.samples_per_epoch=8", "data.num_workers=0",
        "data.patches_per_image=2", "trainer.max_epochs=1", "+trainer.limit_val_batches=1",
        "+trainer.limit_test_batches=1", "model.base_channels=4", "model.depth=2",
    ])
    assert result["status"] == "completed" and result["global_step"] == 2
    assert np.isfinite(result["test/psnr"])
