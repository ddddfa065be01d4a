"""Sweeps through the CLI: grouping under a parent run, parallel jobs, failing jobs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import FAIL_UNITS_2, run_cli, runs_of
from mlflow.tracking import MlflowClient

TINY = ["schedule.epochs=15", "eval.samples=40", "eval.show=0", "model.units=4",
        "tracking.log_model=false"]  # fmt: skip

pytestmark = pytest.mark.slow


def _split(runs):
    parents = [r for r in runs if r.data.tags.get("lstmlab.kind") == "sweep"]
    assert len(parents) == 1
    children = [r for r in runs if r.info.run_id != parents[0].info.run_id]
    return parents[0], children


def test_parallel_sweep_on_a_fresh_store_groups_jobs_under_one_parent(tmp_path, store):
    # Two joblib workers and a store that does not exist yet: MLflow's table creation would
    # race between the workers if the parent did not create the store first.
    proc = run_cli(
        tmp_path, "experiment=compare_merge_modes", "model.merge_mode=sum,mul", "seed=0,1,2,3",
        "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.launcher.stack_seeds=1",
        f"tracking.uri={store}", *TINY,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "[HYDRA] Joblib.Parallel(n_jobs=2" in proc.stderr + proc.stdout
    assert "launching 8 jobs as 4 tasks" in proc.stderr + proc.stdout
    parent, children = _split(runs_of(store, "lstmlab"))
    assert parent.info.status == "FINISHED"
    assert parent.info.run_name == "sweep compare_merge_modes"
    assert parent.data.tags["lstmlab.children"] == "8" and parent.data.tags["lstmlab.failed"] == "0"
    assert {c.info.run_name for c in children} == {
        f"merge_mode={m} seed={s}" for m in ("sum", "mul") for s in range(4)
    }
    # Jobs keep Hydra's numbers (sweep order); two seeds of one model, one program, are one
    # task of one worker (the liveness tags say which process ran a job).
    num = {c.info.run_name: int(c.data.tags["lstmlab.job"]) for c in children}
    pid = {c.info.run_name: c.data.tags["lstmlab.pid"] for c in children}
    for m, first in (("sum", 0), ("mul", 4)):
        assert [num[f"merge_mode={m} seed={s}"] for s in range(4)] == list(range(first, first + 4))
        for a, b in ((0, 1), (2, 3)):
            assert pid[f"merge_mode={m} seed={a}"] == pid[f"merge_mode={m} seed={b}"]
    assert len(set(pid.values())) == 2
    job5 = (tmp_path / "multirun" / "5" / ".hydra" / "overrides.yaml").read_text()
    assert "model.merge_mode=mul" in job5 and "seed=1" in job5
    client = MlflowClient(store)
    for c in children:
        assert c.info.status == "FINISHED"
        assert c.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert c.data.tags["lstmlab.sweep"] == parent.info.run_id
        assert c.data.tags["lstmlab.preset"] == "compare_merge_modes"
        # threads=0 (automatic) and two workers sharing the cores: one TF thread each.
        assert c.data.params["threads"] == "0"
        assert c.data.tags["lstmlab.threads"] == str(max(1, (os.cpu_count() or 1) // 2))
        assert len(client.get_metric_history(c.info.run_id, "train_loss")) == 15


def test_a_failing_job_does_not_stop_the_sweep_and_fails_the_parent(tmp_path, store):
    # A job that raises mid-run: the others still run; the parent says which failed and why.
    proc = run_cli(
        tmp_path, "-m", "model=lstm", "model.units=2,4,6", f"tracking.uri={store}",
        *[a for a in TINY if not a.startswith("model.units")], script=FAIL_UNITS_2,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "1 job(s) did not finish" in proc.stderr
    assert "units=2: FAILED (RuntimeError: injected failure)" in proc.stderr
    parent, children = _split(runs_of(store, "lstmlab"))
    assert parent.info.status == "FAILED"
    assert parent.data.tags["lstmlab.failed"] == "1"
    status = {c.info.run_name: c.info.status for c in children}
    assert status == {"units=2": "FAILED", "units=4": "FINISHED", "units=6": "FINISHED"}
    listed = MlflowClient(store).download_artifacts(parent.info.run_id, "failed_children.txt")
    assert "units=2: FAILED (RuntimeError: injected failure)" in Path(listed).read_text()
