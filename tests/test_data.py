"""The embedded default dataset: deterministic splits by image, crops, tiles."""

from __future__ import annotations

import pytest
import torch

from restorelab.data.natural import COLOR_IMAGES, GRAY_IMAGES, NaturalImagesDataModule
from restorelab.data.patches import RandomPatches, Tiles, split_by_item


@pytest.mark.parametrize("channels", [1, 3])
def test_splits_are_disjoint_and_deterministic(channels: int) -> None:
    first = NaturalImagesDataModule(channels=channels, eval_size=64)
    first.setup()
    second = NaturalImagesDataModule(channels=channels, eval_size=64)
    second.setup()
    assert first.splits == second.splits
    train, val, test = (set(first.splits[k]) for k in ("train", "val", "test"))
    assert not (train & val or train & test or val & test)
    expected = set(COLOR_IMAGES) | (set(GRAY_IMAGES) if channels == 1 else set())
    assert train | val | test == expected
    other = NaturalImagesDataModule(channels=channels, split_seed=1)
    other.setup()
    assert other.splits != first.splits


@pytest.mark.parametrize("channels", [1, 3])
def test_batches_are_clean_images_in_unit_range(channels: int) -> None:
    dm = NaturalImagesDataModule(channels=channels, patch_size=32, eval_size=64, batch_size=4)
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch.shape == (4, channels, 32, 32) and batch.dtype == torch.float32
    assert 0.0 <= batch.min() and batch.max() <= 1.0 and batch.std() > 0.01
    val = next(iter(dm.val_dataloader()))
    assert val.shape[1:] == (channels, 64, 64)


def test_validation_is_identical_every_epoch() -> None:
    dm = NaturalImagesDataModule(eval_size=64, batch_size=8)
    dm.setup()
    first = torch.cat(list(dm.val_dataloader()))
    again = torch.cat(list(dm.val_dataloader()))
    assert torch.equal(first, again)


def test_tiles_cover_the_image_and_whole_images_pass_through() -> None:
    image = torch.randint(0, 256, (1, 130, 200), dtype=torch.uint8)
    tiles = Tiles([image], tile_size=64)
    assert len(tiles) == 2 * 3
    whole = Tiles([image], tile_size=None)
    assert whole[0].shape == (1, 130, 200)
    assert torch.equal(whole[0], image.float() / 255)
    with pytest.raises(ValueError, match="eval_size"):
        Tiles([image], tile_size=256)


def test_patches_refuse_images_smaller_than_the_patch() -> None:
    with pytest.raises(ValueError, match="patch_size"):
        RandomPatches([torch.zeros(1, 20, 20, dtype=torch.uint8)], patch_size=32, length=4)


def test_split_by_item_is_stable_and_complete() -> None:
    names = [f"image{i}" for i in range(10)]
    train, val, test = split_by_item(names, 0.2, 0.2, seed=3)
    assert sorted(train + val + test) == sorted(names)
    assert (len(val), len(test)) == (2, 2)
    assert split_by_item(list(reversed(names)), 0.2, 0.2, seed=3) == (train, val, test)
    with pytest.raises(ValueError, match="no training"):
        split_by_item(names[:3], 0.5, 0.5, seed=0)
