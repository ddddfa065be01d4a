"""`make bench` writes the tables it prints to docs/bench/latest.md (the Speed page includes
that file): checked with a tiny fake result set, without running any benchmark."""

from __future__ import annotations

import importlib.util
import inspect
import sys

from conftest import PROJECT_ROOT
from markdown_it import MarkdownIt

spec = importlib.util.spec_from_file_location("bench", PROJECT_ROOT / "benchmarks" / "bench.py")
bench = importlib.util.module_from_spec(spec)
sys.modules.setdefault("bench", bench)  # its dataclasses look their module up
spec.loader.exec_module(bench)


def _rows():
    online, merge = bench.CASES[0], next(c for c in bench.CASES if c.sweep)
    extra = {"runs": 1, "compile_s": 1.4, "overhead_s": 1.32, "tensorflow_s": 2.0}
    return [
        (online, bench.Measure(80.0, 734, 73.0, 1000, 0.9493),
         bench.Measure(9.5, 884, 0.125, 1000, 0.9502, extra)),
        (merge, bench.Measure(97.5, 816, 91.0, 1000, 0.9105),
         bench.Measure(18.7, 1003, 0.2, 1000, 0.8983, {**extra, "runs": 4})),
    ]  # fmt: skip


def test_the_markdown_file_holds_the_printed_tables_and_the_goals(tmp_path):
    rows = _rows()
    report, checks = bench.table(rows, 0.0065), bench.goals(rows)
    path = bench.write_markdown(
        tmp_path / "bench" / "latest.md", report, checks,
        when="2026-12-01 21:29", commit="19b6803", cpus=2,
    )  # fmt: skip
    text = path.read_text()
    lines = text.splitlines()
    assert lines[0] == "### `make bench`, 2026-12-01 21:29, commit 19b6803, 2 CPUs (nproc)"
    assert report in text  # the tables exactly as printed
    assert (
        "| online BiLSTM(20), 1000 epochs | lstmlab | 0.12 | 8,000 | 584x | 0.9502 | 9.5 | 884 |"
    ) in lines
    assert (
        "| compare_merge_modes sweep, 4 x 250 epochs | lstmlab | 0.20 | 5,000 | 5.2x wall "
        "| 0.8983 | 18.7 | 1003 |"
    ) in lines
    assert "- merge-modes: compile 1.4s, overhead 1.32s, 4 run(s)" in lines
    assert "data: 50 000 cumsum sequences of 10 steps in 6.5 ms" in lines
    # The goals, in a text block after the tables.
    block = text[text.index("```text\n") :]
    assert "PASS  online BiLSTM(20) steps/s >= 300x plain: 584x" in block
    assert "MISS  compare_merge_modes end to end <= 8 s: 18.7 s" in block
    assert text.endswith("```\n")
    # The case table renders as a table where the handbook includes it.
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    assert sum(t.type == "table_open" for t in tokens) == 1


def test_the_heading_defaults_to_now_this_commit_and_this_machine(tmp_path):
    path = bench.write_markdown(tmp_path / "latest.md", "| a |\n| --- |\n| 1 |", ["PASS  x: y"])
    heading = path.read_text().splitlines()[0]
    assert heading.startswith("### `make bench`, 20") and " UTC, commit " in heading
    assert heading.endswith(" CPUs (nproc)") and "commit unknown" not in heading


def test_the_handbook_includes_the_file_make_bench_writes():
    # bench.py's default output is the file docs/speed.md includes.
    assert '--8<-- "bench/latest.md"' in (PROJECT_ROOT / "docs" / "speed.md").read_text()
    latest = PROJECT_ROOT / "docs" / "bench" / "latest.md"
    assert latest.read_text().startswith("### `make bench`, ")
    assert 'default=PROJECT_ROOT / "docs" / "bench" / "latest.md"' in inspect.getsource(bench.main)
