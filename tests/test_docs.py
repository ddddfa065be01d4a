"""The README and the handbook render as meant: every table in them is a table to a
CommonMark + GFM-tables renderer (a delimiter row whose cell count differs from its header's
makes the whole block plain text); the handbook builds with ``mkdocs build --strict`` (a broken
link or anchor, or a page missing from the navigation, fails); README stays short."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT
from markdown_it import MarkdownIt

# The pages with tables (each is checked to have some, so the test cannot read the wrong file).
DOCS = ["README.md", *sorted(f"docs/{p.name}" for p in (PROJECT_ROOT / "docs").glob("*.md")
                             if "\n| " in p.read_text())]  # fmt: skip


def _table_blocks(text: str) -> list[tuple[int, list[str]]]:
    """Runs of lines that start with '|', outside fenced code, with their first line number."""
    blocks, current, fenced = [], [], False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("|"):
            current.append((number, line))
            continue
        if current:
            blocks.append((current[0][0], [row for _, row in current]))
            current = []
    if current:
        blocks.append((current[0][0], [row for _, row in current]))
    return blocks


@pytest.mark.parametrize("name", DOCS)
def test_every_table_renders_as_a_table(project_root, name):
    md = MarkdownIt("commonmark").enable("table")
    blocks = _table_blocks((project_root / name).read_text())
    assert blocks, f"{name} has no tables: the test reads the wrong file"
    broken = [
        f"{name}:{line}: {rows[0][:60]}"
        for line, rows in blocks
        if not any(token.type == "table_open" for token in md.parse("\n".join(rows)))
    ]
    assert not broken, "not rendered as tables:\n" + "\n".join(broken)


def test_the_handbook_builds_strictly(tmp_path):
    mkdocs = Path(sys.executable).parent / "mkdocs"
    done = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    pages = {p.parent.name for p in (tmp_path / "site").glob("*/index.html")}
    assert {"data", "models", "schedules", "sweeps", "speed", "results"} <= pages
    assert "lstmlab handbook" in (tmp_path / "site" / "index.html").read_text()
    # The Reference page is generated from the schemas as the site is built: every key.
    from lstmlab.reference import sections

    page = (tmp_path / "site" / "reference" / "index.html").read_text()
    keys = {k.key for s in sections() for k in s.keys}
    assert len(keys) > 90
    assert not [k for k in keys if f"<code>{k}</code>" not in page]


def test_a_broken_link_fails_the_build(tmp_path):
    # The strict build is what catches it: a copy of the handbook with one bad link.
    import shutil

    shutil.copytree(PROJECT_ROOT / "docs", tmp_path / "docs")
    shutil.copy(PROJECT_ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    page = tmp_path / "docs" / "schedules.md"
    page.write_text(page.read_text() + "\nSee [nowhere](no-such-page.md).\n")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "mkdocs"), "build", "--strict"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    assert done.returncode != 0 and "no-such-page.md" in done.stderr


def test_readme_is_short_and_points_at_the_handbook():
    text = (PROJECT_ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    assert "make docs" in text and "docs/index.md" in text
    for command in ("make run", "make test"):
        assert command in text
