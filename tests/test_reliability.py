"""Interruptions, failures, unreachable stores, resumed sweeps, parallel writers and reruns,
with real processes and real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FAIL_UNITS_2, free_port, run_cli, runs_of
from mlflow.tracking import MlflowClient

from lstmlab.config import to_settings
from lstmlab.data import cumsum
from lstmlab.experiment import Job, run
from lstmlab.training.loops import TrainingDiverged

TINY = ["eval.samples=40", "eval.show=0", "model.units=4", "tracking.log_model=false",
        "tracking.log_every=1"]  # fmt: skip
BIN = Path(sys.executable).parent


def _history(store: str, run_id: str, key: str = "train_loss") -> list[int]:
    return sorted(m.step for m in MlflowClient(store).get_metric_history(run_id, key))


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_ends_the_run_killed_with_every_trained_step_logged(tmp_path, store, sig, code):
    proc = subprocess.Popen(
        [str(BIN / "lstmlab"), "schedule.epochs=2000000", "schedule.chunk=500",
         f"tracking.uri={store}", f"hydra.run.dir={tmp_path}/out", *TINY],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        run_id = None
        # Touch the store only once the run has created it: a second client creating a fresh
        # sqlite store's tables at the same moment would race it.
        while time.monotonic() < deadline:
            if any(line.startswith("training") for line in out):
                if run_id is None:
                    run_id = MlflowClient(store).search_runs(["1"])[0].info.run_id
                if len(_history(store, run_id)) >= 1500:  # a few chunks are logged
                    break
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.5)
        assert run_id, "training never started"
        sent = time.monotonic()
        proc.send_signal(sig)
        proc.wait(timeout=30)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = proc.stderr.read()
    assert took < 5, f"exited {took:.1f}s after the signal"
    assert proc.returncode == code, stderr[-2000:]
    assert f"stopped by {sig.name}; the run ended KILLED" in stderr
    r = MlflowClient(store).get_run(run_id)
    assert r.info.status == "KILLED"
    assert r.data.tags["lstmlab.error"] == f"stopped by {sig.name}"
    steps = _history(store, run_id)
    # Every step trained before the stop is logged, in whole chunks, with no gaps.
    assert len(steps) >= 1500 and len(steps) % 500 == 0
    assert steps == list(range(len(steps)))
    assert _history(store, run_id, "train_acc") == steps
    assert "eval_acc" not in r.data.metrics


def test_a_nan_loss_ends_the_run_failed_with_the_reason(compose_cfg, store, monkeypatch):
    real = cumsum.cumsum_sequences
    chunks = []

    def poisoned(rng, n, timesteps, threshold):
        x, y = real(rng, n, timesteps, threshold)
        if n == 10:  # a training chunk (the test set is 40 sequences)
            chunks.append(n)
            if len(chunks) == 3:  # the third chunk: steps 20..29
                x[5] = np.nan
        return x, y

    monkeypatch.setattr(cumsum, "cumsum_sequences", poisoned)
    cfg = compose_cfg(f"tracking.uri={store}", "schedule.epochs=60", "schedule.chunk=10", *TINY)
    with pytest.raises(TrainingDiverged, match="train_loss is nan at step 25"):
        run(cfg, to_settings(cfg), Job("nan"))
    (r,) = runs_of(store, "lstmlab")
    assert r.info.status == "FAILED"
    assert r.data.tags["lstmlab.error"] == "TrainingDiverged: train_loss is nan at step 25"
    assert _history(store, r.info.run_id) == list(range(30))  # up to the failing chunk
    error = MlflowClient(store).download_artifacts(r.info.run_id, "error.txt")
    assert "TrainingDiverged" in Path(error).read_text()


@pytest.mark.slow
@pytest.mark.parametrize(
    "uri_template",
    ["http://127.0.0.1:{port}", "sqlite:////nonexistent-{port}/mlflow.db"],
)
@pytest.mark.parametrize("multirun", [False, True])
def test_an_unusable_store_fails_fast_before_any_work(tmp_path, uri_template, multirun):
    uri = uri_template.format(port=free_port())  # nothing listens on a fresh free port
    sweep = ["-m", "seed=0,1"] if multirun else []
    started = time.monotonic()
    proc = run_cli(tmp_path, *sweep, f"tracking.uri={uri}", *TINY)
    assert time.monotonic() - started < 10
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("lstmlab: error")]
    assert len(errors) == 1 and f"tracking.uri={uri}" in errors[0]
    assert "Traceback" not in proc.stderr
    assert "training" not in proc.stdout


@pytest.mark.slow
def test_running_a_sweep_again_resumes_it(tmp_path, store):
    args = ["-m", "model=lstm", "model.units=2,4", "schedule.epochs=10", f"tracking.uri={store}",
            *[a for a in TINY if not a.startswith("model.units")]]  # fmt: skip
    first = run_cli(tmp_path, *args, script=FAIL_UNITS_2)
    assert first.returncode == 1
    parent_id = next(r.info.run_id for r in runs_of(store, "lstmlab")
                     if r.data.tags.get("lstmlab.kind") == "sweep")  # fmt: skip
    assert MlflowClient(store).get_run(parent_id).info.status == "FAILED"

    again = run_cli(tmp_path, *args)  # no failure this time
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"resuming sweep {parent_id} (FAILED)" in again.stdout
    assert "skipping 'units=4': already FINISHED" in again.stdout
    runs = runs_of(store, "lstmlab")
    parents = [r for r in runs if r.data.tags.get("lstmlab.kind") == "sweep"]
    assert [p.info.run_id for p in parents] == [parent_id]
    assert parents[0].info.status == "FINISHED"
    children = sorted((r.info.run_name, r.info.status) for r in runs if r not in parents)
    assert children == [("units=2", "FAILED"), ("units=2", "FINISHED"), ("units=4", "FINISHED")]

    forced = run_cli(tmp_path, *args, "tracking.rerun=true")
    assert forced.returncode == 0 and "skipping" not in forced.stdout
    assert len(runs_of(store, "lstmlab")) == 4 + 3  # a new parent and both jobs again


WRITER = """
import sys
import numpy as np
from lstmlab.tracking.runs import Tracker

store, name = sys.argv[1], sys.argv[2]
tracker = Tracker(store, "lstmlab")
with tracker.run(name) as log:
    log.params({"writer": name})
    for first in range(0, 2000, 250):  # per-step metrics in chunks, as training sends them
        log.history({"train_loss": np.arange(first, first + 250) / 1000.0}, first)
    log.metrics({"eval_loss": 0.5})
"""


@pytest.mark.slow
def test_sixteen_processes_write_to_one_fresh_sqlite_store_at_once(tmp_path, store):
    """Sixteen processes that open a new store, create runs and write 2000 steps of metrics
    each, all at the same time (lstmlab's tracking without training: the store is what is
    tested)."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, store, f"w{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(16)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
    runs = runs_of(store, "lstmlab")
    assert sorted(r.data.params["writer"] for r in runs) == sorted(f"w{i}" for i in range(16))
    for r in runs:
        assert r.info.status == "FINISHED" and r.data.metrics["eval_loss"] == 0.5
        assert _history(store, r.info.run_id) == list(range(2000))


@pytest.mark.slow
def test_lstmlab_rerun_reproduces_a_logged_run(tmp_path, store):
    first = run_cli(tmp_path, "schedule.epochs=50", "seed=3", f"tracking.uri={store}", *TINY)
    assert first.returncode == 0, first.stderr[-2000:]
    (original,) = runs_of(store, "lstmlab")
    proc = subprocess.run(
        [str(BIN / "lstmlab-rerun"), original.info.run_id, "--uri", store],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert f"identical to {original.info.run_id}" in proc.stdout
    rerun = next(r for r in runs_of(store, "lstmlab") if r.info.run_id != original.info.run_id)
    assert rerun.data.tags["lstmlab.rerun_of"] == original.info.run_id
    assert rerun.data.metrics["eval_acc"] == original.data.metrics["eval_acc"]
    assert rerun.data.tags["lstmlab.config_hash"] == original.data.tags["lstmlab.config_hash"]


@pytest.mark.slow
def test_a_sweep_reuses_the_finished_runs_of_another(tmp_path, store):
    from lstmlab.tracking.runs import Tracker

    base = ["-m", "model=lstm", "schedule.epochs=10", f"tracking.uri={store}",
            *[a for a in TINY if not a.startswith("model.units")]]  # fmt: skip
    assert run_cli(tmp_path, *base, "model.units=2,4").returncode == 0
    second = run_cli(tmp_path, *base, "model.units=4,6")
    assert second.returncode == 0, second.stderr[-2000:]
    assert "skipping 'units=4': already FINISHED" in second.stdout
    assert "2 of 2 configurations finished" in second.stdout
    tracker = Tracker(store, "lstmlab")
    parents = sorted((r for r in runs_of(store, "lstmlab") if r.data.tags.get("lstmlab.kind")),
                     key=lambda r: r.info.start_time)  # fmt: skip
    first_id, second_id = (p.info.run_id for p in parents)
    assert {r.info.run_name for r in tracker.children(second_id)} == {"units=4", "units=6"}
    assert {r.info.run_name for r in tracker.children(first_id)} == {"units=2", "units=4"}
    # The reused run still nests under the sweep that ran it.
    reused = next(r for r in tracker.children(second_id) if r.info.run_name == "units=4")
    assert reused.data.tags["mlflow.parentRunId"] == first_id


@pytest.mark.slow
def test_two_sweeps_started_together_on_one_fresh_sqlite_store(tmp_path, store):
    """Both create the store's tables at once (MLflow's migrations would race without
    lstmlab's lock) and write their runs side by side; every run and metric arrives."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    procs = [
        subprocess.Popen(
            [
                str(BIN / "lstmlab"),
                "-m",
                f"model.units={units}",
                "seed=0,1",
                "schedule.epochs=40",
                "schedule.chunk=10",
                "hydra/launcher=basic",
                f"tracking.uri={store}",
                f"hydra.sweep.dir={tmp_path}/sweep{units}",
                *[a for a in TINY if not a.startswith("model.units")],
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )  # fmt: skip
        for units in (3, 5)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    runs = runs_of(store, "lstmlab")
    parents = [r for r in runs if r.data.tags.get("lstmlab.kind") == "sweep"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 2 and len(children) == 4
    assert {(r.data.params["model.units"], r.data.params["seed"]) for r in children} == {
        (u, s) for u in ("3", "5") for s in ("0", "1")
    }
    for r in runs:
        assert r.info.status == "FINISHED"
    for r in children:
        assert _history(store, r.info.run_id) == list(range(40))
        assert {"eval_loss", "eval_acc"} <= set(r.data.metrics)
