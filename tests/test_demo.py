"""The Streamlit demo, driven by streamlit.testing.v1.AppTest: bundled photographs, uploads,
a checkpoint or a classical method, and the refusals (non-images, decompression bombs)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restorelab import demo_app
from test_inference import tiny_run

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest
TIMEOUT = 120


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_run(tmp_path_factory.mktemp("demo_run"), channels=1)


def start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, checkpoint: Path | None) -> AppTest:
    monkeypatch.chdir(tmp_path)  # no logs/ here: only the checkpoint handed over is offered
    if checkpoint is not None:
        monkeypatch.setenv(demo_app.CHECKPOINT_ENV, str(checkpoint))
    else:
        monkeypatch.delenv(demo_app.CHECKPOINT_ENV, raising=False)
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
    assert "gray, 128 x 128" in app.caption[-1].value


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
    assert "reference for this corruption is median" in app.caption[-1].value


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
    assert "RGB, 85 x 128" in app.caption[-1].value


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
