"""The README renders as meant: every table in it is a table to a CommonMark + GFM-tables
renderer (a delimiter row whose cell count differs from its header's makes the whole block
plain text)."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

DOCS = ["README.md"]


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
