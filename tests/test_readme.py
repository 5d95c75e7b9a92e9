"""The README's config tables name every file of the config tree, and nothing else: a new
choice fails here until the README lists it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from restorelab.conf import CONF_DIR

README = Path(__file__).resolve().parents[1] / "README.md"
NAME = re.compile(r"`([^`]+)`")


def table_rows(heading: str) -> list[list[str]]:
    """The cells of each body row of the first table under `heading` (a `## ...` line)."""
    section = README.read_text().split(f"\n{heading}\n", 1)[1]
    rows = []
    for line in section.splitlines():
        if rows and not line.startswith("|"):
            break
        if line.startswith("| ") and not line.startswith("| ---"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows[1:]  # the header row names the columns


def choices(group: str) -> set[str]:
    return {path.stem for path in (CONF_DIR / group).glob("*.yaml")}


def groups() -> list[str]:
    return sorted(p.name for p in CONF_DIR.iterdir() if p.is_dir() and any(p.glob("*.yaml")))


def group_table() -> dict[str, set[str]]:
    """group -> the choices its row names (a row may cover several groups: `paths`, `hydra`)."""
    table = {}
    for group_cell, choice_cell, *_ in table_rows("## Config groups"):
        for group in NAME.findall(group_cell):
            table[group] = set(NAME.findall(choice_cell))
    return table


@pytest.mark.parametrize("group", groups())
def test_config_groups_table_lists_every_choice(group: str) -> None:
    table = group_table()
    assert group in table, f"README's Config groups table has no row for conf/{group}/: add one"
    missing = sorted(choices(group) - table[group])
    stale = sorted(table[group] - choices(group))
    assert not missing, f"README's `{group}` row lacks {missing} (conf/{group}/*.yaml): add them"
    assert not stale, f"README's `{group}` row names {stale}, which conf/{group}/ does not hold"


def test_config_groups_table_has_no_group_without_files() -> None:
    assert sorted(set(group_table()) - set(groups())) == []


@pytest.mark.parametrize(("heading", "group"), [("### Models", "model"), ("### Datasets", "data")])
def test_model_and_dataset_tables_list_every_file(heading: str, group: str) -> None:
    listed = {name for cells in table_rows(heading) for name in NAME.findall(cells[0])}
    assert sorted(choices(group) - listed) == [], f"README's {heading} table lacks these files"
    assert sorted(listed - choices(group)) == [], f"README's {heading} table names missing files"
