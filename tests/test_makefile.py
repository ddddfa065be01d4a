"""The Makefile's preset targets build command lines Hydra accepts."""

from __future__ import annotations

import shlex
import subprocess

import pytest

TARGETS = [
    "seed-bulk-bilstm", "seed-online-lstm", "seed-online-bilstm", "echo", "echo-solved",
    "uea-japanese-vowels", "uea-basic-motions", "compare-merge-modes", "claim-directions",
    "airline", "airline-tutorial", "shampoo", "shampoo-tutorial", "forecasting", "archive-rocket",
]  # fmt: skip


@pytest.mark.parametrize("seeds", ["1", "3"])
@pytest.mark.parametrize("target", TARGETS)
def test_flags_come_before_overrides(project_root, target, seeds):
    # Hydra's argparse takes -m only before the overrides: `lstmlab x=1 -m y=2` is an error.
    dry = subprocess.run(["make", "-n", "-o", "install", target, f"SEEDS={seeds}"],
                         cwd=project_root, capture_output=True, text=True, check=True)  # fmt: skip
    commands = [shlex.split(line) for line in dry.stdout.splitlines() if "bin/lstmlab " in line]
    assert commands, dry.stdout
    for args in (c[1:] for c in commands if c[0].endswith("/lstmlab")):
        first_override = next(i for i, a in enumerate(args) if not a.startswith("-"))
        assert not any(a.startswith("-") for a in args[first_override:]), args
        if seeds == "3" and not target.startswith(
            ("claim", "forecasting", "archive-rocket")
        ):  # their own seeds
            assert "seed=range(0,3)" in args
