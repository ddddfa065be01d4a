"""The garbage collector paused while a run's libraries import (experiment.collector_paused)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys

import pytest

from lstmlab.experiment import FREEZE_ABOVE, collector_paused


@pytest.fixture
def unfrozen():
    """This test process's objects back in the collector's reach afterwards."""
    yield
    gc.unfreeze()


def test_a_big_block_is_frozen_and_the_collector_comes_back(unfrozen):
    before = gc.get_freeze_count()
    with collector_paused():
        assert not gc.isenabled()
        made = [[] for _ in range(FREEZE_ABOVE + 10_000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= before + FREEZE_ABOVE
    assert len(made) == FREEZE_ABOVE + 10_000


def test_a_small_block_freezes_nothing_and_leaves_a_paused_collector_paused(unfrozen):
    before = gc.get_freeze_count()
    with collector_paused():
        made = [[] for _ in range(100)]
    assert gc.get_freeze_count() == before and gc.isenabled() and len(made) == 100
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_collector_comes_back_when_an_import_fails():
    with pytest.raises(ModuleNotFoundError), collector_paused():
        import lstmlab_no_such_module  # noqa: F401
    assert gc.isenabled()


def test_a_fresh_process_imports_a_run_frozen_with_the_collector_on():
    code = ("import gc; from lstmlab.experiment import import_run; import_run(); "
            "print(gc.isenabled(), gc.get_freeze_count(), gc.get_count()[0])")  # fmt: skip
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env, timeout=120).stdout  # fmt: skip
    enabled, frozen, young = out.split()
    # TensorFlow's, Keras' and MLflow's objects, out of every later collection's way; the
    # young generation starts empty rather than holding all of them.
    assert enabled == "True"
    assert int(frozen) > 500_000  # ~0.9 million
    assert int(young) < 1_000
