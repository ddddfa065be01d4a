"""The config reference is generated from the schemas: every field has help, every key the
reference lists is one Hydra composes (and every key Hydra composes is listed), and
`lstmlab --help` shows it by group, key prefix or option."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from lstmlab import config, reference
from lstmlab.config import CONF_DIR, setting

_ABSENT = object()
BIN = Path(sys.executable).parent


def test_every_schema_field_has_help():
    assert reference.missing_help() == []


def test_a_field_without_help_is_caught(monkeypatch):
    @dataclass
    class Careless:
        documented: int = setting(1, "Has help.")
        bare: int = 2

    monkeypatch.setitem(config.SCHEMAS, ("model", "careless_schema"), Careless)
    assert reference.missing_help() == ["careless_schema: model.bare"]


def _options() -> list[tuple[str, str]]:
    return [(group, path.stem) for group in ("dataset", "model", "schedule", "tracking")
            for path in sorted((CONF_DIR / group).glob("*.yaml"))]  # fmt: skip


def _has(cfg, key: str) -> bool:
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    return node is not None and leaf in list(node.keys())  # a required (???) key too


@pytest.mark.parametrize(("group", "option"), _options())
def test_the_reference_is_what_hydra_composes(compose_cfg, group, option):
    cfg = compose_cfg(f"{group}={option}")
    found = reference.of_option(group, option)
    assert found, f"{group}={option} has no section in the reference"
    names = {k.key for s in found for k in s.keys}
    missing = [k for k in names if not _has(cfg, k)]
    assert not missing, f"listed for {group}={option}, not composed: {missing}"
    unlisted = [f"{group}.{k}" for k in cfg[group] if f"{group}.{k}" not in names]
    assert not unlisted, f"composed for {group}={option}, not in the reference: {unlisted}"


def _help(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "lstmlab"), "--help", *args], capture_output=True,
                          text=True, timeout=60)  # fmt: skip


def test_help_shows_the_keys_of_an_option_a_prefix_and_the_top_level():
    done = _help("model=lstm_fcn")
    assert done.returncode == 0, done.stderr
    # Its own keys and those of model=fcn, which it extends, with type, default and help.
    assert "  model.units  (int; default 128)" in done.stdout
    assert "model.filters  (list of int; default [128, 256, 128])" in done.stdout
    assert "Units of the recurrent branch" in done.stdout
    done = _help("schedule.plateau")
    assert done.returncode == 0
    keys = [line.split()[0] for line in done.stdout.splitlines()
            if line.startswith("  ") and line[2] != " "]  # fmt: skip
    assert keys and all(k.startswith("schedule.plateau") for k in keys)
    assert "schedule.plateau.factor" in keys
    assert "seed  (int; default 0)" in _help("top").stdout


def test_help_shows_a_redefined_key_once_with_the_option_s_default():
    # ResNet extends the FCN's schema with filters of its own default and meaning.
    shown = _help("model=resnet").stdout
    assert shown.count("  model.filters  ") == 1
    assert "  model.filters  (list of int; default [64, 128, 128])" in shown
    assert "Filters of each residual block" in shown
    assert "  model.learning_rate  " in shown  # inherited keys are still there


def test_help_for_a_key_that_does_not_exist_is_one_line():
    done = _help("schedule.nope")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("lstmlab: error: --help schedule.nope: no such key or option")


def test_the_markdown_has_one_table_per_section():
    text = reference.markdown()
    assert text.count("| key | type | default | help |") == len(reference.sections())
    assert "`schedule.resume` | one of auto, never, must | `auto` |" in text
