"""`restorelab export`: ONNX and TorchScript agree with PyTorch on sizes other than the training
size (dynamic batch, height and width); safetensors reloads with its embedded config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from restorelab.cli import main
from restorelab.inference import load_denoiser, load_network
from test_inference import tiny_run

# Odd sizes, none a multiple of 2**depth, unlike the 32 x 32 training crops.
SIZES = [(1, 45, 61), (2, 70, 33), (1, 8, 8)]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_run(tmp_path_factory.mktemp("export_run"), channels=3)


def reference(run: Path, x: torch.Tensor) -> np.ndarray:
    net, _ = load_network(run)
    with torch.no_grad():
        return net(x).clamp(0, 1).numpy()


def test_onnx_matches_pytorch_on_dynamic_sizes(run: Path, tmp_path: Path) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    path = tmp_path / "model.onnx"
    main(["export", "--checkpoint", str(run), "--format", "onnx", "-o", str(path)])
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(0)
    for batch, height, width in SIZES:
        x = torch.rand(batch, 3, height, width, generator=generator)
        (restored,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
        assert restored.shape == (batch, 3, height, width)
        np.testing.assert_allclose(restored, reference(run, x), atol=1e-4, rtol=0)


def test_torchscript_matches_pytorch_on_dynamic_sizes(run: Path, tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    main(["export", "--checkpoint", str(run), "--format", "torchscript", "-o", str(path)])
    scripted = torch.jit.load(str(path))
    generator = torch.Generator().manual_seed(1)
    for batch, height, width in SIZES:
        x = torch.rand(batch, 3, height, width, generator=generator)
        with torch.no_grad():
            restored = scripted(x).numpy()
        np.testing.assert_allclose(restored, reference(run, x), atol=1e-4, rtol=0)


def test_safetensors_reloads_without_the_run_folder(run: Path, tmp_path: Path) -> None:
    path = tmp_path / "elsewhere" / "model.safetensors"
    main(["export", "--checkpoint", str(run), "--format", "safetensors", "-o", str(path)])
    exported = load_denoiser(path, device="cpu")
    original = load_denoiser(run, device="cpu")
    image = np.random.default_rng(2).random((27, 35, 3), dtype=np.float32)
    np.testing.assert_array_equal(exported.denoise(image), original.denoise(image))
    assert exported.config.noise.sigma == 25 and exported.channels == 3


def test_safetensors_in_float16_halves_the_weights_and_restores_alike(
    run: Path, tmp_path: Path
) -> None:
    full, half = tmp_path / "full.safetensors", tmp_path / "half.safetensors"
    main(["export", "--checkpoint", str(run), "--format", "safetensors", "-o", str(full)])
    main(["export", "--checkpoint", str(run), "--format", "safetensors", "-o", str(half),
          "--dtype", "float16"])
    from safetensors.torch import load_file

    stored = {name: load_file(str(file)) for name, file in (("full", full), ("half", half))}
    # Floating-point weights halved; integer buffers (batch norm's step count) kept.
    assert {t.dtype for t in stored["half"].values() if t.is_floating_point()} == {torch.float16}
    assert all(t.dtype == stored["full"][key].dtype
               for key, t in stored["half"].items() if not t.is_floating_point())
    nbytes = {name: sum(t.nbytes for t in w.values() if t.is_floating_point())
              for name, w in stored.items()}
    assert nbytes["half"] * 2 == nbytes["full"]
    exported, original = load_denoiser(half, device="cpu"), load_denoiser(full, device="cpu")
    assert next(exported.net.parameters()).dtype == torch.float32  # loaded back into float32
    assert exported.config.stored_as == "float16"
    image = np.random.default_rng(3).random((27, 35, 3), dtype=np.float32)
    difference = np.abs(exported.denoise(image) - original.denoise(image))
    assert 0 < difference.max() < 2e-3  # rounded weights: a change, and a small one


def test_export_refuses_unknown_formats(run: Path) -> None:
    from restorelab.export import export

    with pytest.raises(ValueError, match="onnx"):
        export(run, "tflite")
    with pytest.raises(ValueError, match="safetensors"):
        export(run, "onnx", dtype="float16")
    with pytest.raises(ValueError, match="float16"):
        export(run, "safetensors", dtype="int8")
