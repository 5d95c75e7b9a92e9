"""The documentation site builds strictly (a broken link or a missing API reference fails it),
its config groups page lists every file of the config tree, and every model card is in it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from restorelab.conf import CONF_DIR

ROOT = Path(__file__).resolve().parents[1]

if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None:
    pytest.skip("mkdocs is not installed: pip install -e '.[docs]'", allow_module_level=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
         "-d", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return out


def test_the_site_builds_strictly(site: Path) -> None:
    for page in ("index.html", "getting-started/index.html", "how-to/own-data/index.html",
                 "architecture/index.html", "failure-modes/index.html"):
        assert (site / page).is_file(), page
    api = (site / "api" / "inference" / "index.html").read_text()
    assert "load_denoiser" in api and "Denoiser" in api  # rendered from the docstrings


def test_config_groups_page_lists_every_config_file(site: Path) -> None:
    page = (site / "config-groups" / "index.html").read_text()
    files = sorted(CONF_DIR.glob("*/*.yaml"))
    assert files
    missing = [f"conf/{p.parent.name}/{p.name}" for p in files
               if f"conf/{p.parent.name}/{p.name}" not in page]
    assert not missing, missing


def test_model_cards_and_their_figures_are_in_the_site(site: Path) -> None:
    cards = sorted((ROOT / "experiments").glob("*/README.md"))
    assert cards
    for card in cards:
        built = site / "experiments" / card.parent.name / "index.html"
        assert built.is_file(), card
    for figure in (ROOT / "experiments").glob("*/*.png"):
        card = figure.parent / "README.md"
        if card.is_file() and f"]({figure.name})" in card.read_text():
            assert (site / "experiments" / figure.parent.name / figure.name).is_file(), figure


def test_links_out_of_docs_are_rewritten_to_their_place_in_the_site() -> None:
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    page = type("Page", (), {"file": type("File", (), {"src_uri": "how-to/x.md"})()})()
    markdown = (
        "[front](../../README.md) [card](../../experiments/zoo_cpu/README.md#results) "
        "[doc](../architecture.md) [yaml](../../src/restorelab/conf/model/unet.yaml) [web](https://example.org)"
        "\n```\n[in code](../../README.md)\n```\n"
    )
    out = hooks.on_page_markdown(markdown, page, None, None)
    assert "[front](../source/README.md)" in out
    assert "[card](../experiments/zoo_cpu/README.md#results)" in out
    assert "[doc](../architecture.md)" in out  # inside docs/: as written
    assert "[yaml](../source/src/restorelab/conf/model/unet.yaml)" in out
    assert "[web](https://example.org)" in out
    assert "[in code](../../README.md)" in out  # code is left alone
