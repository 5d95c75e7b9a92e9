"""The Streamlit demo, driven by streamlit.testing.v1.AppTest: bundled photographs (marked by
how the model used them), uploads, the shipped models, a checkpoint or a classical method, the
warning for a corruption the model was not trained on, and the refusals (non-images,
decompression bombs). `restorelab demo` hands Streamlit's own flags through."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restorelab import cli, demo_app
from test_inference import tiny_run

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest
TIMEOUT = 120


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_run(tmp_path_factory.mktemp("demo_run"), channels=1)


REPOSITORY = Path(__file__).resolve().parents[1]
SHIPPED = sorted(REPOSITORY.glob("experiments/*/model.safetensors"))


def start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, checkpoint: Path | None,
    shipped: bool = False,
) -> AppTest:
    monkeypatch.chdir(tmp_path)  # no logs/ here: only the checkpoint handed over is offered
    if checkpoint is not None:
        monkeypatch.setenv(demo_app.CHECKPOINT_ENV, str(checkpoint))
    else:
        monkeypatch.delenv(demo_app.CHECKPOINT_ENV, raising=False)
    if shipped:  # the default search: the repository's experiments/*/model.safetensors
        monkeypatch.delenv(demo_app.MODELS_ENV, raising=False)
    else:
        monkeypatch.setenv(demo_app.MODELS_ENV, "")
    app = AppTest.from_file(demo_app.__file__, default_timeout=TIMEOUT)
    app.run()
    assert not app.exception, app.exception
    return app


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def test_bundled_photograph_restored_by_the_checkpoint(
    run: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app = start(monkeypatch, tmp_path, run)
    assert app.selectbox(key="method").value == "checkpoint"
    app.selectbox(key="name").set_value("camera")
    app.select_slider(key="size").set_value(128)
    app.slider(key="level").set_value(40.0).run()
    assert not app.exception and not app.error
    metrics = {m.label for m in app.metric}
    assert {"PSNR (dB)", "SSIM"} <= metrics and len(app.metric) == 4
    noisy_psnr, restored_psnr = float(app.metric[0].value), float(app.metric[2].value)
    assert 10 < noisy_psnr < 25 and np.isfinite(restored_psnr)
    assert len(app.get("download_button")) == 1
    assert "gray, 128 x 128" in app.main.caption[-1].value


def test_classical_method_on_impulse_noise_without_a_checkpoint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app = start(monkeypatch, tmp_path, None)
    assert "checkpoint" not in app.selectbox(key="method").options
    app.selectbox(key="method").set_value("median")
    app.selectbox(key="corruption").set_value("salt and pepper")
    app.select_slider(key="size").set_value(128)
    app.run()
    assert not app.exception and not app.error
    noisy_psnr, restored_psnr = float(app.metric[0].value), float(app.metric[2].value)
    assert restored_psnr > noisy_psnr + 5  # the median filter's home ground
    assert "reference for this corruption is median" in app.main.caption[-1].value


def test_an_upload_is_restored_and_a_large_one_downscaled(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app = start(monkeypatch, tmp_path, None)
    app.selectbox(key="method").set_value("median")
    app.radio(key="source").set_value("upload").run()
    assert app.info  # asks for a file
    rgb = (np.random.default_rng(0).random((300, 200, 3)) * 255).astype(np.uint8)
    app.file_uploader(key="upload").upload("photo.png", png(rgb), "image/png")
    app.select_slider(key="size").set_value(128)
    app.radio(key="color").set_value("RGB").run()
    assert not app.exception and not app.error
    assert "downscaled from 200 x 300" in app.warning[0].value
    assert "RGB, 85 x 128" in app.main.caption[-1].value


def test_non_images_and_decompression_bombs_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app = start(monkeypatch, tmp_path, None)
    app.selectbox(key="method").set_value("median")
    app.radio(key="source").set_value("upload").run()
    app.file_uploader(key="upload").upload("notes.png", b"%PDF-1.4 not an image", "image/png")
    app.run()
    assert not app.exception
    assert "not an image" in app.error[0].value
    assert not app.metric


def bomb_png(width: int, height: int) -> bytes:
    """A few hundred bytes whose header claims width x height 8-bit gray pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 4)
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def test_read_upload_refuses_before_decoding() -> None:
    for side in (7_000, 60_000):  # over the demo's limit; over twice Pillow's own
        with pytest.raises(demo_app.DemoInputError, match="not decoded"):
            demo_app.read_upload(bomb_png(side, side), max_side=512)
    with pytest.raises(demo_app.DemoInputError, match="not an image"):
        demo_app.read_upload(b"hello", max_side=512)
    with pytest.raises(demo_app.DemoInputError, match="MB"):
        demo_app.read_upload(b"\0" * (demo_app.MAX_UPLOAD_MEGABYTES * 1024 * 1024 + 1), 512)
    gray16 = (np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 20)
    array, message = demo_app.read_upload(png(gray16), max_side=512)
    assert message is None and array.shape == (48, 64, 1)
    np.testing.assert_allclose(array[..., 0], gray16 / 65535, atol=1e-6)


def test_uploads_are_decoded_by_the_project_codec(tmp_path: Path) -> None:
    import tifffile

    from restorelab.codec import ImageFile, write_image_file

    # 16-bit RGB with alpha: Pillow alone would cut it to 8 bits; the demo reads what denoise reads.
    rgb16 = np.random.default_rng(0).random((40, 52, 3)).astype(np.float32)
    alpha = np.full((40, 52), 65535, np.uint16)
    write_image_file(tmp_path / "rgb16.png", ImageFile(rgb16, alpha, 16))
    array, _ = demo_app.read_upload((tmp_path / "rgb16.png").read_bytes(), max_side=512)
    assert array.shape == (40, 52, 3)  # the alpha is not restored
    np.testing.assert_allclose(array, np.rint(rgb16 * 65535) / 65535, atol=1e-6)
    tifffile.imwrite(tmp_path / "hot.tif", np.full((32, 32), 3.5, np.float32))
    with pytest.raises(demo_app.DemoInputError, match=r"float pixels in \[3.5, 3.5\].*rescale"):
        demo_app.read_upload((tmp_path / "hot.tif").read_bytes(), max_side=512)


needs_shipped = pytest.mark.skipif(not SHIPPED, reason="no experiments/*/model.safetensors")


@needs_shipped
def test_shipped_models_are_listed_and_a_held_out_photograph_is_the_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app = start(monkeypatch, tmp_path, None, shipped=True)
    picker = app.selectbox(key="run")
    labels = [f"{path.parent.name} (shipped)" for path in SHIPPED]
    assert picker.options == labels  # found from the package, though the cwd has no experiments/
    assert Path(picker.value) == SHIPPED[0].resolve()
    assert app.selectbox(key="method").value == "checkpoint"
    photograph = app.selectbox(key="name")
    # The shipped models' split of data=natural (gray, split_seed 0), read from the data module.
    assert photograph.value == "gravel" and photograph.options[0] == "gravel · held out"
    assert {"moon · held out", "coffee · validation", "astronaut · training"} <= set(
        photograph.options)
    sidebar = [element.value for element in app.sidebar.caption]
    assert any("how the shipped models" in text for text in sidebar)
    assert any(text.startswith("trained on: Gaussian, sigma") for text in sidebar)
    assert not app.error and not app.warning  # Gaussian noise: what the model was trained on
    assert len(app.metric) == 4


@needs_shipped
def test_a_corruption_the_model_was_not_trained_on_is_flagged(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app = start(monkeypatch, tmp_path, None, shipped=True)
    app.select_slider(key="size").set_value(128)
    app.selectbox(key="corruption").set_value("salt and pepper").run()
    assert not app.exception and not app.error
    (warning,) = app.warning
    assert "trained on Gaussian noise, not on salt and pepper noise" in warning.value
    assert len(app.metric) == 4  # flagged, still restored
    app.selectbox(key="method").set_value("median").run()  # a classical method: nothing to flag
    assert not app.warning


def test_the_marks_follow_a_runs_own_data_config(
    run: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app = start(monkeypatch, tmp_path, run)
    assert app.selectbox(key="run").options == [str(run)]  # MODELS_ENV empty: no shipped ones
    sidebar = [element.value for element in app.sidebar.caption]
    assert any("how this model used" in text for text in sidebar)
    assert app.selectbox(key="name").options[0].endswith("· held out")


def test_photograph_roles_from_a_data_config() -> None:
    natural = "restorelab.data.natural.NaturalImagesDataModule"
    rgb = demo_app.photograph_roles({"_target_": natural, "channels": 3})
    assert set(rgb) == set(demo_app.photograph_roles({"_target_": natural, "channels": 3,
                                                      "split_seed": 0}))
    assert "camera" not in rgb and sorted(rgb.values()).count("test") >= 1  # color images only
    assert rgb != demo_app.photograph_roles({"_target_": natural, "channels": 3, "split_seed": 1})
    mixed = {"_target_": "restorelab.data.dead_leaves.DeadLeavesDataModule", "mix_natural": 0.75}
    assert demo_app.photograph_roles(mixed) == demo_app.photograph_roles(None)
    assert demo_app.photograph_roles({"_target_": "restorelab.data.mnist.MNISTDataModule"}) == {}
    gray = demo_app.photograph_roles(None)
    assert [n for n, r in gray.items() if r == "test"] == ["gravel", "hubble_deep_field", "moon"]


def test_corruption_warning_reads_the_training_noise() -> None:
    gaussian = {"_target_": "restorelab.corruptions.GaussianNoise", "sigma": 25}
    assert demo_app.corruption_warning(gaussian, "Gaussian") is None
    assert "trained on Gaussian noise" in demo_app.corruption_warning(gaussian, "Poisson")
    mixed = {"_target_": "restorelab.corruptions.Mixed", "order": ["gaussian", "pixel_flip"],
             "gaussian": gaussian, "pixel_flip": {"_target_": "restorelab.corruptions.PixelFlip"}}
    assert demo_app.corruption_warning(mixed, "Gaussian") is None  # one of its parts
    assert "Gaussian + pixel flip noise" in demo_app.corruption_warning(mixed, "speckle")
    assert demo_app.corruption_warning(None, "speckle") is None  # unknown: nothing to say
    assert demo_app.describe_noise({**gaussian, "sigma": [0, 55]}) == "Gaussian, sigma 0-55"
    own = {"_target_": "my_lab.noise.Banding", "rows": 3}  # not importable: said by its name
    assert demo_app.describe_noise(own) == "Banding"
    assert "trained on Banding noise" in demo_app.corruption_warning(own, "Gaussian")


def test_demo_hands_streamlits_own_flags_through(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    class Server:  # stands in for the Streamlit process
        def __init__(self, command: list[str], env: dict[str, str]) -> None:
            calls.append(command)

        def wait(self) -> int:
            return 0

    monkeypatch.setattr("subprocess.Popen", Server)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", "--headless", "--port", "8600", "--server.address", "127.0.0.1"])
    assert exit_info.value.code == 0
    (command,) = calls
    assert command[1:4] == ["-m", "streamlit", "run"] and command[4] == demo_app.__file__
    pairs = list(zip(command, command[1:]))
    assert ("--server.address", "127.0.0.1") in pairs and ("--server.port", "8600") in pairs
    assert ("--server.headless", "true") in pairs
