"""MkDocs hooks: the pages that are read from the repository at build time, so they cannot drift.

- `config-groups.md` is written from the config tree (`src/restorelab/conf/`): every group, its
  default, each choice with the comment at the top of its YAML and its `_target_`, and the YAML
  itself.
- The model cards (`experiments/<study>/README.md`) join the site under `experiments/<study>/`,
  with the figures they show, and a "Model cards" section of the navigation lists them.
- A link from a page to a file of the repository outside `docs/` (`../README.md`,
  `../experiments/zoo_cpu/README.md`, `../src/restorelab/conf/model/unet.yaml`) is rewritten to
  that file's place in the site, and the file is added there (`source/<its path>` unless it is a
  model card or a doc), so such links work in the built site and `mkdocs build --strict` checks
  them.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
CONF = REPO / "src" / "restorelab" / "conf"
EXPERIMENTS = REPO / "experiments"
CONFIG_PAGE = "config-groups.md"
# Groups in the order a reader meets them; any other group of the tree follows, by name.
GROUP_ORDER = ("model", "data", "noise", "loss", "optimizer", "scheduler", "trainer", "logger",
               "callbacks", "debug", "experiment", "sweep", "hparams_search", "launcher",
               "paths", "hydra")
# `[text](target)` and `![alt](target "title")`; the target is group 2.
LINK = re.compile(r"(!?\[[^\]\n]*\])\(\s*<?([^)\s>]+)>?(\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~)", re.MULTILINE)
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:")  # https:, mailto: ...: not a file of ours

# docs-space path -> the repository file it was made from (pages outside docs/ only).
_sources: dict[str, Path] = {}


# ---------------------------------------------------------------- the config groups page
def _description(path: Path) -> str:
    """The comment block at the top of a YAML file (Hydra's `# @package` line left out)."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip()
        if not text.startswith("@package"):
            lines.append(text)
    return " ".join(lines)


def _target(path: Path) -> str:
    match = re.search(r"^_target_:\s*(\S+)", path.read_text(), re.MULTILINE)
    return f"`{match.group(1)}`" if match else ""


def _defaults() -> dict[str, str]:
    """Each group's default choice, from the defaults list of `conf/train.yaml`."""
    import yaml

    entries = yaml.safe_load((CONF / "train.yaml").read_text()).get("defaults", [])
    return {key: str(value) for entry in entries if isinstance(entry, dict)
            for key, value in entry.items()}


def config_groups_page() -> str:
    """The markdown of the config groups page, from the files in `conf/` now."""
    defaults = _defaults()
    groups = sorted((p for p in CONF.iterdir() if p.is_dir()),
                    key=lambda p: (GROUP_ORDER.index(p.name) if p.name in GROUP_ORDER else 99,
                                   p.name))
    out = [
        "# Config groups",
        "",
        "Generated from the config tree that ships in the package (`restorelab/conf/`) when the "
        "site is built, so it lists what is there. Choose with "
        "`group=choice` (`python train.py model=dncnn noise=salt_pepper`), and override any key "
        "with its dotted path (`model.depth=4`, `data.channels=3`). Open a choice to see its keys "
        "and their comments.",
        "",
        "## Root keys: `conf/train.yaml`",
        "",
        "```yaml",
        (CONF / "train.yaml").read_text().rstrip(),
        "```",
    ]
    for group in groups:
        files = sorted(group.glob("*.yaml"))
        if not files:
            continue
        default = defaults.get(group.name, "")
        out += ["", f"## `{group.name}`", ""]
        if default and default != "None":
            out += [f"Default: `{group.name}={default}`.", ""]
        elif group.name in defaults:
            out += [f"None by default: `{group.name}=<choice>` turns one on.", ""]
        out += ["| choice | what it is | `_target_` |", "| --- | --- | --- |"]
        for path in files:
            text = _description(path).replace("|", "\\|")
            out.append(f"| `{path.stem}` | {text} | {_target(path)} |")
        for path in files:
            body = path.read_text().rstrip()
            out += ["", f'??? note "`conf/{group.name}/{path.name}`"', "",
                    "    ```yaml", *("    " + line if line else "" for line in
                                      body.splitlines()), "    ```"]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- pages from outside docs/
def _docs_path(repo_file: Path) -> str:
    """Where a repository file lives in the site (a docs-space path)."""
    relative = repo_file.relative_to(REPO).as_posix()
    if repo_file.is_relative_to(DOCS):
        return repo_file.relative_to(DOCS).as_posix()
    if repo_file.is_relative_to(EXPERIMENTS):
        return relative  # the model cards keep their tree, so their links between them hold
    return f"source/{relative}"


def _code_free(markdown: str) -> list[tuple[bool, str]]:
    """`markdown` cut into (is code, text) pieces at fenced code blocks."""
    pieces, inside, start = [], False, 0
    for match in FENCE.finditer(markdown):
        pieces.append((inside, markdown[start:match.start()]))
        inside, start = not inside, match.start()
    pieces.append((inside, markdown[start:]))
    return pieces


def _linked_files(markdown: str, source: Path) -> list[Path]:
    """Repository files (outside docs/ or not) that `markdown`, read from `source`, links to."""
    found = []
    for is_code, text in _code_free(markdown):
        if is_code:
            continue
        for match in LINK.finditer(text):
            target = match.group(2).split("#", 1)[0]
            if not target or SCHEME.match(target) or target.startswith("/"):
                continue
            path = (source.parent / target).resolve()
            if path.is_file() and path.is_relative_to(REPO):
                found.append(path)
    return found


def _add(files: Files, config: Any, repo_file: Path) -> bool:
    """Adds a repository file outside docs/ to the site; False when it is there already."""
    uri = _docs_path(repo_file)
    if files.get_file_from_path(uri) is not None:
        return False
    files.append(File.generated(config, uri, abs_src_path=str(repo_file)))
    _sources[uri] = repo_file
    return True


def _cards() -> list[Path]:
    return sorted(EXPERIMENTS.glob("*/README.md"))


def on_config(config: Any) -> Any:
    """Adds the "Model cards" section to the navigation, one entry per experiments/ card."""
    cards = [{card.parent.name: _docs_path(card)} for card in _cards()]
    nav = config.get("nav")
    if nav is not None and cards:
        nav.append({"Model cards": cards})
    return config


def on_files(files: Files, config: Any) -> Files:
    """The generated config page, the model cards, and every outside file a page links to."""
    files.append(File.generated(config, CONFIG_PAGE, content=config_groups_page()))
    queue = [card for card in _cards() if _add(files, config, card)]
    # Pages already in docs/ link out too: follow links from every page, transitively.
    queue += [DOCS / f.src_uri for f in list(files) if f.is_documentation_page()
              and (DOCS / f.src_uri).is_file()]
    seen: set[Path] = set()
    while queue:
        page = queue.pop()
        if page in seen or page.suffix != ".md":
            continue
        seen.add(page)
        for target in _linked_files(page.read_text(), page):
            if not target.is_relative_to(DOCS) and _add(files, config, target):
                queue.append(target)
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Links to repository files, written relative to the page's file in the repository, are
    made relative to the page's place in the site."""
    uri = page.file.src_uri
    source = _sources.get(uri, DOCS / uri)
    if uri == CONFIG_PAGE:
        return markdown

    def rewrite(match: re.Match[str]) -> str:
        target = match.group(2)
        path_part, _, anchor = target.partition("#")
        if not path_part or SCHEME.match(path_part) or path_part.startswith("/"):
            return match.group(0)
        path = (source.parent / path_part).resolve()
        if not (path.is_file() and path.is_relative_to(REPO)):
            return match.group(0)  # left for MkDocs to check (and report)
        new = posixpath.relpath(_docs_path(path), posixpath.dirname(uri) or ".")
        new += f"#{anchor}" if anchor else ""
        return f"{match.group(1)}({new}{match.group(3) or ''})"

    return "".join(text if is_code else LINK.sub(rewrite, text)
                   for is_code, text in _code_free(markdown))
