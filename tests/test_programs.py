"""Compiled programs reused: by later jobs of a process (schedules.reuse) and by later
processes (TensorFlow's persistent XLA cache). Neither may change a single number."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli, runs_of
from mlflow.tracking import MlflowClient

from lstmlab.config import to_settings
from lstmlab.experiment import Job, run

TINY = ["schedule.epochs=30", "schedule.chunk=16", "eval.samples=50", "eval.show=0",
        "tracking.log_model=false"]  # fmt: skip


def _own_cache_env() -> dict[str, str]:
    """This environment without the XLA cache flags this test process may have set for itself,
    so that a CLI run uses the cache its xla_cache names."""
    return {k: v for k, v in os.environ.items() if k != "TF_XLA_FLAGS"}


def _history(store: str, run_id: str) -> list[float]:
    points = MlflowClient(store).get_metric_history(run_id, "train_loss")
    return [m.value for m in sorted(points, key=lambda m: m.step)]


def test_a_job_computes_the_same_first_or_after_other_jobs(compose_cfg, store):
    def job(*overrides):
        cfg = compose_cfg(f"tracking.uri={store}", *TINY, *overrides)
        outcome = run(cfg, to_settings(cfg), Job("j"))
        return _history(store, outcome.run_id), outcome.metrics

    first = job("seed=4", "model.dropout=0.2")
    # Jobs of the same architecture in between: other seeds, another learning rate, which
    # leave their weights, optimizer state and dropout seeds in the reused model.
    for seed in range(3):
        job(f"seed={seed}", "model.dropout=0.2", "model.learning_rate=0.02")
    again = job("seed=4", "model.dropout=0.2")
    assert again == first


@pytest.mark.slow
def test_a_later_job_of_a_worker_equals_the_same_job_alone(tmp_path, store):
    cache = tmp_path / "xla"
    env = _own_cache_env()
    common = [f"tracking.uri={store}", f"xla_cache={cache}", *TINY]
    sweep = run_cli(tmp_path / "s", "-m", "model.merge_mode=sum,mul", "seed=range(0,3)",
                    "hydra/launcher=basic", "hydra.launcher.stack_seeds=1", *common,
                    env=env)  # fmt: skip
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    programs = sorted(p.name for p in cache.iterdir())
    assert len(programs) == 2
    alone = run_cli(tmp_path / "a", "model.merge_mode=mul", "seed=2", "tracking.experiment=alone",
                    *common, env=env)  # fmt: skip
    assert alone.returncode == 0, alone.stderr[-2000:]
    # The sweep traced mul second, after sum; alone it is the first program, and still the
    # XLA cache's (program_names): nothing new compiled.
    assert sorted(p.name for p in cache.iterdir()) == programs
    # The sixth job of the one process, after five others (two of the same architecture).
    sixth = next(r for r in runs_of(store, "lstmlab") if r.info.run_name == "merge_mode=mul seed=2")
    (single,) = runs_of(store, "alone")
    assert _history(store, sixth.info.run_id) == _history(store, single.info.run_id)
    for key in ("eval_loss", "eval_acc"):
        assert sixth.data.metrics[key] == single.data.metrics[key]


@pytest.mark.slow
def test_a_second_process_loads_the_programs_the_first_compiled(tmp_path, store):
    cache = tmp_path / "xla"
    env = {"TF_CPP_MIN_LOG_LEVEL": "0", "TF_CPP_VMODULE": "device_executable_persistor=3"}
    args = [f"xla_cache={cache}", f"tracking.uri={store}", *TINY]

    def once(name):
        cmd = [
            str(Path(sys.executable).parent / "lstmlab"),
            *args,
            f"hydra.run.dir={tmp_path}/{name}",
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                              env={**_own_cache_env(), **env})  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stderr

    first = once("a")
    assert "Serializing and saving cache entry" in first and "Loading cached entry" not in first
    files = sorted(p.name for p in cache.iterdir())
    assert files and all(f.startswith("tf2.21.0_") for f in files)
    second = once("b")
    assert "Loading cached entry" in second and "Serializing and saving" not in second
    assert sorted(p.name for p in cache.iterdir()) == files
    runs = runs_of(store, "lstmlab")
    assert _history(store, runs[0].info.run_id) == _history(store, runs[1].info.run_id)
