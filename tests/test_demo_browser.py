"""The demo in a real browser: `restorelab demo --headless` serves it, and Debian's chromium,
driven by Playwright, loads the page, sees a restore (the restored image and its PSNR), and
sees the error an upload of a bad file gets. Skipped where chromium or Playwright is missing
(`.ci/run` installs chromium; the `dev` extra brings Playwright)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).is_file():
    pytest.skip(f"no chromium ({CHROMIUM}): apt-get install chromium", allow_module_level=True)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed: pip install -e '.[dev]'"
)
pytest.importorskip("streamlit", reason="Streamlit is not installed: pip install -e '.[demo]'")

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-dev-shm-usage",  # containers give /dev/shm 64 MB, too little for a page
]
START_TIMEOUT = 60  # seconds for the server to answer (it imports torch on 2 shared cores)
PAGE_TIMEOUT = 60_000  # milliseconds for the first restore (the model loads, then restores)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`restorelab demo --headless --port <free port>` in an empty folder (no logs/): the shipped
    models are found from the package, as a user who cloned the repository would see them."""
    port = free_port()
    entry = Path(sys.executable).with_name("restorelab")
    command = [str(entry)] if entry.is_file() else [sys.executable, "-m", "restorelab.cli"]
    command += ["demo", "--headless", "--port", str(port), "--server.address", "127.0.0.1"]
    cwd = tmp_path_factory.mktemp("demo_cwd")
    env = {**os.environ, "HOME": str(cwd)}  # Streamlit writes ~/.streamlit
    env.pop("RESTORELAB_MODELS", None)
    log = open(cwd / "server.log", "w")
    # A session of its own, so the teardown can reach the Streamlit child whatever happens.
    server = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if server.poll() is not None:
                pytest.fail(f"the demo exited with {server.returncode}: "
                            f"{(cwd / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                    if answer.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the demo did not answer within {START_TIMEOUT} s")
            time.sleep(0.5)
        yield url
        # A SIGTERM to `restorelab demo` alone must stop the server it started.
        server.terminate()
        server.wait(timeout=30)
        assert not answers(url), "the Streamlit server outlived `restorelab demo`"
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        with contextlib.suppress(ProcessLookupError):  # the server itself, if it is still up
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def page(demo_url: str) -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(PAGE_TIMEOUT)
        page.goto(demo_url)
        yield page
        browser.close()


# True once the page shows n images and each is loaded and decoded (naturalWidth is 0 before).
IMAGES_DECODED = """n => {
    const images = [...document.querySelectorAll('[data-testid="stImage"] img')];
    return images.length === n && images.every(image => image.complete && image.naturalWidth > 0);
}"""


def metric_values(page) -> list[str]:
    return page.locator('[data-testid="stMetricValue"]').all_inner_texts()


def test_the_page_loads_and_restores(page, tmp_path: Path) -> None:
    page.get_by_role("heading", name="RestoreLab demo").wait_for()
    # The default: a shipped model on a held-out photograph.
    page.get_by_text("restored (checkpoint)").wait_for()
    page.locator('[data-testid="stMetricValue"]').nth(3).wait_for()
    values = metric_values(page)
    assert len(values) == 4
    noisy_psnr, restored_psnr = float(values[0]), float(values[2])
    assert restored_psnr > noisy_psnr + 3  # Gaussian sigma 25, what the shipped models learned
    # The metrics come before the browser has fetched and decoded the three images: wait for
    # each to be decoded (a width of its own) and shown, as a person would, instead of asking once.
    page.wait_for_function(IMAGES_DECODED, arg=3)
    images = page.locator('[data-testid="stImage"] img')
    assert images.count() == 3
    for i in range(3):
        images.nth(i).wait_for(state="visible")
    photograph = page.get_by_role("combobox", name="photograph")
    assert photograph.input_value() == "gravel · held out"  # the default photograph
    assert page.get_by_role("combobox", name="model").input_value().endswith("(shipped)")
    # Kept for a person to look at; pytest keeps the tmp folders of the last runs.
    page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)


def test_a_bad_upload_shows_the_error(page, tmp_path: Path) -> None:
    page.get_by_text("upload", exact=True).click()
    page.get_by_text("Upload an image, or choose a bundled photograph").wait_for()
    page.locator('input[type="file"]').set_input_files(
        files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"%PDF-1.4 not an image"}]
    )
    error = page.locator('[data-testid="stAlertContentError"]')
    error.wait_for()
    assert "not an image the demo can read" in error.inner_text()
    assert metric_values(page) == []  # nothing restored from it
    page.screenshot(path=str(tmp_path / "upload_error.png"), full_page=True)
