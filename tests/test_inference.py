"""load_denoiser + Denoiser.denoise on any size, safe checkpoint loading, `restorelab denoise`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf, open_dict
from PIL import Image

from conftest import FAST, FAST_NATURAL, compose_train, run_train
from restorelab.inference import (
    CheckpointError,
    Denoiser,
    load_denoiser,
    read_image_file,
)
from restorelab.models import DnCNN
from restorelab.report import psnr
from restorelab.tiling import effective_radius, fit_tiles, ramp

TINY = ["model.base_channels=4", "model.depth=2", "debug=limit", "trainer.max_epochs=1"]


def tiny_run(root: Path, channels: int = 1) -> Path:
    """A real run folder (checkpoints, metrics.json, .hydra/config.yaml) of a tiny U-Net."""
    overrides = TINY + [f"data.channels={channels}"]
    run_train(root, overrides)
    # run_train skips @hydra.main, which is what saves the composed config; save it the same way.
    cfg = compose_train(root, FAST + FAST_NATURAL + overrides)
    with open_dict(cfg):
        del cfg["hydra"]
    (root / ".hydra").mkdir(exist_ok=True)
    OmegaConf.save(cfg, root / ".hydra" / "config.yaml")
    return root


@pytest.fixture(scope="module")
def gray_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_run(tmp_path_factory.mktemp("gray_run"), channels=1)


@pytest.fixture(scope="module")
def rgb_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_run(tmp_path_factory.mktemp("rgb_run"), channels=3)


def test_run_folder_and_checkpoint_give_the_same_net(gray_run: Path) -> None:
    from_folder = load_denoiser(gray_run, device="cpu")
    best = sorted((gray_run / "checkpoints").glob("epoch*.ckpt"))[0]
    from_ckpt = load_denoiser(best, device="cpu")
    image = np.random.default_rng(0).random((40, 50), dtype=np.float32)
    np.testing.assert_array_equal(from_folder.denoise(image), from_ckpt.denoise(image))
    assert from_folder.channels == 1 and from_folder.config.noise.sigma == 25


@pytest.mark.parametrize("channels", [1, 3])
def test_denoise_keeps_shape_and_type_on_odd_sizes(
    channels: int, gray_run: Path, rgb_run: Path
) -> None:
    denoiser = load_denoiser(gray_run if channels == 1 else rgb_run, device="cpu", tile_size=32)
    rng = np.random.default_rng(1)
    shape = (37, 53) if channels == 1 else (37, 53, 3)
    for dtype in (np.float32, np.float64):
        image = rng.random(shape).astype(dtype)
        out = denoiser.denoise(image)
        assert out.shape == image.shape and out.dtype == dtype
        assert 0.0 <= out.min() and out.max() <= 1.0
    chw = torch.rand(channels, 29, 41, dtype=torch.float64)
    out = denoiser.denoise(chw)
    assert isinstance(out, torch.Tensor) and out.shape == chw.shape and out.dtype == chw.dtype
    batch = torch.rand(2, channels, 19, 23)
    assert denoiser.denoise(batch).shape == batch.shape


@pytest.mark.parametrize("channels", [1, 3])
def test_tiled_matches_untiled(channels: int, gray_run: Path, rgb_run: Path) -> None:
    run = gray_run if channels == 1 else rgb_run
    tiled = load_denoiser(run, device="cpu", tile_size=48, overlap=16)
    whole = load_denoiser(run, device="cpu", tile_size=None)
    rng = np.random.default_rng(2)
    clean = rng.random((101, 77, channels)).astype(np.float32) * 0.5 + 0.25
    noisy = clean + 25 / 255 * rng.standard_normal(clean.shape).astype(np.float32)
    a, b = tiled.denoise(noisy), whole.denoise(noisy)
    assert abs(psnr(a, clean) - psnr(b, clean)) < 0.05
    assert np.abs(a - b).mean() < 5e-3


def test_tiles_are_fitted_to_the_image_and_ramps_blend_to_one() -> None:
    assert fit_tiles(100, 100, 16) == ([0], 100) and fit_tiles(50, 64, 16) == ([0], 50)
    cases = [(1024, 512, 48, 1), (300, 64, 16, 8), (2048, 1744, 48, 8), (1025, 512, 48, 8)]
    for length, tile, overlap, align in cases:
        starts, side = fit_tiles(length, tile, overlap, align)
        assert side < tile + align and starts[0] == 0
        assert all(start % align == 0 for start in starts)  # the net's pixel phase kept
        assert starts[-1] + side == length  # covered to the border, nothing beyond
        assert all(b - a <= side - overlap for a, b in zip(starts, starts[1:]))
        # The fewest tiles: one fewer could not cover the length with this overlap.
        fewer = len(starts) - 1
        assert fewer * tile - (fewer - 1) * overlap < length
    # 1024 in tiles of at most 512: 3 x 3 tiles of 374 (1.20x the pixels), not of 512 (2.25x).
    starts, side = fit_tiles(1024, 512, 48)
    assert len(starts) == 3 and (len(starts) * side / 1024) ** 2 < 1.25
    # Two neighbours overlapping by exactly `overlap` pixels weigh 1 in total there.
    first, second = ramp(0, 64, 112, 16), ramp(48, 64, 112, 16)
    np.testing.assert_allclose((first[48:] + second[:16]).numpy(), 1.0, atol=1e-6)
    assert float(first.min()) > 0 and float(first[0]) == 1.0  # image border: no ramp


def test_overlap_comes_from_where_the_net_looks() -> None:
    cpu = torch.device("cpu")
    box = torch.nn.Conv2d(1, 1, 9, padding=4, bias=False)  # every input of a 9 x 9 box alike
    torch.nn.init.constant_(box.weight, 1.0)
    assert effective_radius(box, 1, 33, cpu) == 4
    point = torch.nn.Conv2d(1, 1, 1, bias=False)
    assert effective_radius(point, 1, 33, cpu) == 0
    net = DnCNN(in_channels=1, depth=5)  # receptive field 11: a radius of at most 5
    assert effective_radius(net.eval(), 1, 33, cpu) <= 5
    # The Denoiser's overlap: that radius rounded up to 8, at least 8, at most a quarter tile.
    assert Denoiser(net, tile_size=128, device="cpu").overlap == 8


def test_auto_tiles_fit_the_memory_budget(gray_run: Path) -> None:
    small = load_denoiser(gray_run, device="cpu", memory_budget=2**16)
    large = load_denoiser(gray_run, device="cpu", memory_budget=2**30)
    assert small.tile_size == 64  # the floor: 64 KiB fits almost nothing
    assert large.tile_size > 4 * small.tile_size and large.tile_size % 8 == 0
    rng = np.random.default_rng(4)
    clean = rng.random((150, 130)).astype(np.float32) * 0.5 + 0.25
    noisy = clean + 25 / 255 * rng.standard_normal(clean.shape).astype(np.float32)
    tiled, whole = small.denoise(noisy), large.denoise(noisy)  # 3 x 3 tiles, and one
    assert abs(psnr(tiled, clean) - psnr(whole, clean)) < 0.05
    assert np.abs(tiled - whole).mean() < 5e-3


def test_gray_net_restores_each_channel_of_an_rgb_image(gray_run: Path) -> None:
    denoiser = load_denoiser(gray_run, device="cpu")
    image = np.random.default_rng(3).random((24, 31, 3)).astype(np.float32)
    out = denoiser.denoise(image)
    for c in range(3):
        np.testing.assert_allclose(out[..., c], denoiser.denoise(image[..., c]), atol=1e-6)


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # unpickling this calls os.system
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_bomb_is_refused_and_never_runs(gray_run: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    bomb = gray_run / "checkpoints" / "bomb.ckpt"
    torch.save({"state_dict": {"net.x": torch.zeros(1)}, "payload": _RunsCode(marker)}, bomb)
    try:
        with pytest.raises(CheckpointError, match="refused"):
            load_denoiser(bomb)
    finally:
        bomb.unlink()
    assert not marker.exists()


def test_files_that_are_not_checkpoints_get_clear_errors(gray_run: Path, tmp_path: Path) -> None:
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_denoiser(text)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {"encoder.weight": torch.zeros(2)}}, foreign)
    with pytest.raises(CheckpointError, match="not a RestoreLab checkpoint"):
        load_denoiser(foreign)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_denoiser(tmp_path / "missing")
    alone = tmp_path / "alone" / "model.ckpt"  # a checkpoint taken out of its run folder
    alone.parent.mkdir()
    alone.write_bytes(sorted((gray_run / "checkpoints").glob("*.ckpt"))[0].read_bytes())
    with pytest.raises(CheckpointError, match="config.yaml"):
        load_denoiser(alone)


def test_denoiser_rejects_what_it_cannot_restore(gray_run: Path) -> None:
    denoiser = load_denoiser(gray_run, device="cpu")
    with pytest.raises(ValueError, match="float"):
        denoiser.denoise(np.zeros((8, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match="tile_size"):
        Denoiser(denoiser.net, tile_size=4)


def test_cli_denoises_a_folder_of_mixed_files(
    gray_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from restorelab.cli import main
    from restorelab.inference import ImageFile, write_image_file

    kept = []  # the command sets malloc up for large tiles (not done here: it is process-wide)
    monkeypatch.setattr("restorelab.cpu_memory.keep_freed_memory", lambda: kept.append(1))

    rng = np.random.default_rng(4)
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    rgba = (rng.random((33, 45, 4)) * 255).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(folder / "rgba.png")
    gray16 = (rng.random((40, 37)) * 65535).astype(np.uint16)
    Image.fromarray(gray16).save(folder / "gray16.png")
    rgb16 = rng.random((21, 30, 3)).astype(np.float32)
    write_image_file(folder / "sub" / "rgb16.png", ImageFile(rgb16, None, 16))
    Image.fromarray((rng.random((36, 52, 3)) * 255).astype(np.uint8)).save(folder / "photo.jpg")
    (folder / "readme.txt").write_text("not an image")

    main(["denoise", str(folder), "-o", str(tmp_path / "out"), "--checkpoint", str(gray_run)])
    assert kept == [1]

    out = tmp_path / "out"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.*")) == [
        "gray16.png", "photo.jpg", "rgba.png", "sub/rgb16.png"
    ]
    with Image.open(out / "rgba.png") as restored:
        assert restored.mode == "RGBA" and restored.size == (45, 33)
        np.testing.assert_array_equal(np.asarray(restored)[..., 3], rgba[..., 3])
    restored16 = read_image_file(out / "gray16.png")
    assert restored16.bit_depth == 16 and restored16.pixels.shape == (40, 37, 1)
    assert not np.allclose(restored16.pixels[..., 0], gray16 / 65535, atol=1e-3)
    color16 = read_image_file(out / "sub" / "rgb16.png")
    assert color16.bit_depth == 16 and color16.pixels.shape == (21, 30, 3)
    # 16 bits survive a write and a read: the values are not rounded to 8 bits.
    np.testing.assert_allclose(read_image_file(folder / "sub" / "rgb16.png").pixels, rgb16,
                               atol=1 / 65535)
    with Image.open(out / "photo.jpg") as photo:
        assert photo.mode == "RGB" and photo.size == (52, 36)


def test_init_weights_starts_a_run_from_a_trained_net(gray_run: Path, tmp_path: Path) -> None:
    trained = json.loads((gray_run / "metrics.json").read_text())
    # Test only: the new run's net must be exactly the trained one, so it scores the same.
    again = run_train(tmp_path / "again", TINY + ["train=false", f"init_weights={gray_run}"])
    assert again["test/psnr"] == pytest.approx(trained["test/psnr"], abs=1e-6)
    fresh = run_train(tmp_path / "fresh", TINY + ["train=false"])
    assert fresh["test/psnr"] != pytest.approx(trained["test/psnr"], abs=1e-3)
    # Fine-tuning restarts the step count (ckpt_path would continue it).
    tuned = run_train(tmp_path / "tuned", TINY + [f"init_weights={gray_run}"])
    assert tuned["global_step"] == trained["global_step"]


def test_init_weights_of_another_model_is_a_clear_error(gray_run: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not fit this run's model"):
        run_train(tmp_path, TINY + ["model.depth=3", f"init_weights={gray_run}"])
    with pytest.raises(ValueError, match="give one of them"):
        run_train(tmp_path, TINY + [f"init_weights={gray_run}", f"ckpt_path={gray_run}/x.ckpt"])


def test_self_ensemble_is_the_mean_of_the_eight_transforms(gray_run: Path) -> None:
    plain = load_denoiser(gray_run, device="cpu", tile_size=None)
    x8 = load_denoiser(gray_run, device="cpu", tile_size=None, ensemble=True)
    image = np.random.default_rng(3).random((37, 52), dtype=np.float32)  # odd, not square
    expected = np.zeros_like(image)
    for turns in range(4):
        for flip in (False, True):
            view = np.rot90(image, turns)
            view = view[:, ::-1] if flip else view
            out = plain.net(torch.from_numpy(view.copy())[None, None]).detach()[0, 0].numpy()
            out = out[:, ::-1] if flip else out
            expected += np.rot90(out, -turns)
    expected = np.clip(expected / 8, 0, 1)
    np.testing.assert_allclose(x8.denoise(image), expected, atol=1e-5)
    assert np.abs(x8.denoise(image) - plain.denoise(image)).max() > 1e-4  # not the plain output


def test_denoise_with_a_model_file_does_not_import_lightning(gray_run: Path, tmp_path: Path) -> None:
    # Lightning (with torchmetrics, matplotlib and scipy behind it) doubles the CLI's start-up;
    # restoring images with an exported model needs none of it.
    import subprocess
    import sys

    from restorelab.export import export

    model = export(gray_run, "safetensors", tmp_path / "model.safetensors")
    Image.fromarray(np.full((24, 20), 128, dtype=np.uint8)).save(tmp_path / "photo.png")
    script = (
        "import sys\n"
        "from restorelab.cli import main\n"
        "try:\n"
        f"    main(['denoise', 'photo.png', '-o', 'out', '-c', {str(model)!r}])\n"
        "except SystemExit as stop:\n"
        "    assert not stop.code, stop.code\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'lightning', 'torchmetrics'}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "out" / "photo.png").is_file()
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout
