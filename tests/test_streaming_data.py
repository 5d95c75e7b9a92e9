"""`restorelab shards` and data=streaming: LitData shards split as data=folder splits the folder,
each image read by one worker of one rank per epoch, and a short training run from them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_train
from PIL import Image

pytest.importorskip("litdata")

from restorelab.cli import main as cli_main  # noqa: E402
from restorelab.data.folder import FolderDataModule  # noqa: E402
from restorelab.data.streaming import StreamingDataModule, write_shards  # noqa: E402
from restorelab.errors import DataError  # noqa: E402

# 20 images, 2 for validation and 2 for test: 16 to train on, dealt to 2 ranks x 2 workers.
COUNT, FRACTIONS = 20, {"val_fraction": 0.1, "test_fraction": 0.1}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Gray images of one value each (image i is 10 i + 5), so any crop tells its image."""
    root = tmp_path_factory.mktemp("images")
    for i in range(COUNT):
        Image.fromarray(np.full((24 + i, 30), 10 * i + 5, np.uint8)).save(root / f"{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def shards(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("shards")
    write_shards(folder, output, num_workers=1, **FRACTIONS)
    return output


def _image_of(batch: torch.Tensor) -> list[int]:
    values = (batch.flatten(1) * 255).round().int()
    assert bool((values == values[:, :1]).all()), "a crop mixes images"
    return [(int(v) - 5) // 10 for v in values[:, 0]]


def test_shards_hold_the_split_of_data_folder(folder: Path, shards: Path) -> None:
    import json

    info = json.loads((shards / "restorelab.json").read_text())
    in_memory = FolderDataModule(data_dir=str(folder), patch_size=16, eval_size=16, **FRACTIONS)
    in_memory.setup("fit")
    assert info["splits"] == in_memory.splits
    with pytest.raises(DataError, match="not empty"):
        write_shards(folder, shards)


def test_unreadable_files_are_left_out_and_named(tmp_path: Path) -> None:
    for i in range(8):
        Image.fromarray(np.full((8, 8), i, np.uint8)).save(tmp_path / f"{i}.png")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    info = write_shards(tmp_path, tmp_path / "shards", num_workers=1, val_fraction=0.25,
                        test_fraction=0.25)
    assert info["skipped"] == ["broken.png"]
    assert "broken.png" not in sum(info["splits"].values(), [])
    with pytest.raises(DataError, match="broken.png"):
        write_shards(tmp_path, tmp_path / "strict", strict=True)


def test_ranks_and_workers_read_each_training_image_once_per_epoch(
    shards: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    per_epoch: list[Counter] = [Counter(), Counter()]
    orders = []
    for rank in (0, 1):
        # LitData reads the DDP rank from the environment when no process group is up.
        monkeypatch.setenv("WORLD_SIZE", "2")
        monkeypatch.setenv("GLOBAL_RANK", str(rank))
        datamodule = StreamingDataModule(
            input_dir=str(shards), patch_size=16, patches_per_image=2, eval_size=16,
            batch_size=4, num_workers=2,
        )
        datamodule.setup("fit")
        loader = datamodule.train_dataloader()
        for epoch in range(2):
            images = [i for batch in loader for i in _image_of(batch)]
            per_epoch[epoch].update({(rank, i) for i in images})
            assert Counter(Counter(images).values()) == {2: 8}  # 8 images, 2 crops each
            orders.append(images)
    train = {int(name[:2]) for name in datamodule.splits["train"]}
    for epoch in per_epoch:
        by_image = Counter(i for _, i in epoch)
        assert set(by_image) == train and set(by_image.values()) == {1}  # one rank each
    assert orders[0] != orders[1]  # reshuffled for the second epoch


def test_evaluation_scores_every_image_in_tiles(shards: Path) -> None:
    datamodule = StreamingDataModule(input_dir=str(shards), patch_size=16, eval_size=16,
                                     eval_tiles=1, batch_size=8, num_workers=0)
    datamodule.setup("fit")
    seen = sorted(i for batch in datamodule.val_dataloader() for i in _image_of(batch))
    assert seen == sorted(int(name[:2]) for name in datamodule.splits["val"])


def test_a_clean_val_root_replaces_the_val_and_test_shards(shards: Path, tmp_path: Path) -> None:
    """Noisy-only training shards, clean images to score on: only the train shards are read."""
    train_only = tmp_path / "train_only"
    (train_only / "train").mkdir(parents=True)
    for item in (shards / "train").iterdir():
        (train_only / "train" / item.name).symlink_to(item)
    clean = tmp_path / "clean"
    clean.mkdir()
    for i in range(4):  # values no training image has (those are 10 i + 5)
        Image.fromarray(np.full((20, 20), 7 + 10 * i, np.uint8)).save(clean / f"c{i}.png")
    datamodule = StreamingDataModule(input_dir=str(train_only), patch_size=16, eval_size=16,
                                     eval_tiles=1, batch_size=8, num_workers=0, noisy_only=True,
                                     val_root=str(clean))
    datamodule.setup("fit")
    assert datamodule.noisy_only and datamodule.clean_eval
    assert sorted(datamodule.splits["val"] + datamodule.splits["test"]) == [
        f"c{i}.png" for i in range(4)]
    assert datamodule.splits["val"] and datamodule.splits["test"]
    for split, loader in (("val", datamodule.val_dataloader()),
                          ("test", datamodule.test_dataloader())):
        values = sorted(int(round(float(batch.flatten()[0]) * 255)) for batch in loader)
        assert values == sorted(7 + 10 * int(n[1]) for n in datamodule.splits[split])
    with pytest.raises(DataError, match="no val shards"):  # without val_root they are needed
        StreamingDataModule(input_dir=str(train_only), num_workers=0).setup("fit")


def test_missing_shards_say_how_to_write_them(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="restorelab shards"):
        StreamingDataModule(input_dir=str(tmp_path)).setup("fit")


def test_shards_command_then_a_short_training_run(folder: Path, tmp_path: Path) -> None:
    output = tmp_path / "shards"
    cli_main(["shards", str(folder), "-o", str(output), "--workers", "1",
              "--val-fraction", "0.1", "--test-fraction", "0.1"])
    assert (output / "train" / "index.json").is_file()
    result = run_train(tmp_path / "run", [
        "data=streaming", f"data.input_dir={output}", "data.patch_size=16", "data.eval_size=16",
        "data.eval_tiles=2", "data.num_workers=0", "data.batch_size=8",
        "data.patches_per_image=4", "trainer.max_epochs=1", "model.base_channels=4",
        "model.depth=2",
    ])
    assert result["status"] == "completed"
    assert result["global_step"] == 8  # 16 training images x 4 crops / 8 per batch
    assert np.isfinite(result["test/psnr"])


@pytest.mark.slow
def test_the_larger_than_memory_benchmark_runs_at_a_tiny_size(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, str(root / "bench" / "data_loader.py"), "--large", "6", "--size", "64",
         "--batches", "2", "--warmup", "1", "--keep", str(tmp_path), "--", "data.patch_size=16",
         "data.eval_size=16", "data.batch_size=8", "data.num_workers=0"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line.split() for line in result.stdout.splitlines()[2:]]
    assert [row[:2] for row in rows] == [["folder", "6"], ["lazy_folder", "6"],
                                        ["streaming", "6"]]
    assert all(float(row[-2]) > 0 for row in rows)  # a peak PSS was sampled for each
