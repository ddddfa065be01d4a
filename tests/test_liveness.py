"""Runs whose process died without a word (SIGKILL, the OOM killer, a lost node): found by
their heartbeat and PID, ended KILLED by lstmlab-doctor or by resuming their sweep."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import run_cli, runs_of
from mlflow.tracking import MlflowClient

from lstmlab.tracking import liveness
from lstmlab.tracking.runs import Tracker

BIN = Path(sys.executable).parent
TINY = ["eval.samples=40", "eval.show=0", "model.units=4", "tracking.log_model=false"]


def _gone_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_the_doctor_ends_dead_runs_and_leaves_live_ones(store, capsys):
    tracker = Tracker(store, "lstmlab")
    client = tracker.client
    here = socket.gethostname()
    mine = tracker.create_run("alive").run_id  # this process: alive
    dead_pid = _gone_pid()
    gone = tracker.create_run("gone").run_id
    client.set_tag(gone, liveness.PID, str(dead_pid))
    reused = tracker.create_run("reused").run_id  # our PID, but another start time
    client.set_tag(reused, liveness.PID_STARTED, "12345.00")
    far = tracker.create_run("far").run_id
    old = int(time.time()) - 3600
    client.set_tag(far, liveness.HOST, "another-host")
    client.set_tag(far, liveness.HEARTBEAT, f"{old:.0f}")
    recent = tracker.create_run("far-recent").run_id
    client.set_tag(recent, liveness.HOST, "another-host")
    done = tracker.create_run("done").run_id
    client.set_terminated(done, "FINISHED")

    liveness.main(["--uri", store, "--dry-run"])
    out = capsys.readouterr().out
    assert "5 RUNNING run(s); would end 3 KILLED, 2 still alive" in out
    assert all(client.get_run(r).info.status == "RUNNING" for r in (gone, reused, far))

    liveness.main(["--uri", store])
    out = capsys.readouterr().out
    assert f"process {dead_pid} on {here} is gone" in out
    assert "its PID was reused" in out
    assert "no heartbeat from another-host for 60 min" in out
    status = {r: client.get_run(r).info.status for r in (mine, gone, reused, far, recent, done)}
    assert status == {mine: "RUNNING", gone: "KILLED", reused: "KILLED", far: "KILLED",
                      recent: "RUNNING", done: "FINISHED"}  # fmt: skip
    far_run = client.get_run(far)
    assert far_run.info.end_time == old * 1000  # ended at its last sign of life
    assert far_run.data.tags["lstmlab.error"].startswith("no heartbeat from another-host")


def test_the_doctor_says_what_is_wrong_with_its_arguments(tmp_path):
    missing = f"sqlite:///{tmp_path}/nowhere/mlflow.db"
    proc = subprocess.run([str(BIN / "lstmlab-doctor"), "--uri", missing],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"lstmlab-doctor: error: tracking.uri={missing}: folder {tmp_path}/nowhere does not exist"
    ]


@pytest.mark.slow
def test_a_sweep_killed_with_sigkill_is_found_dead_and_resumed(tmp_path, store):
    # One job at a time (no stack): the sweep is killed while its first job runs.
    args = ["-m", "seed=0,1", "hydra/launcher=basic", "hydra.launcher.stack_seeds=1",
            "schedule.epochs=1500",
            "schedule.chunk=500", f"tracking.uri={store}", *TINY]  # fmt: skip
    hydra_dirs = [f"hydra.sweep.dir={tmp_path}/multirun"]
    proc = subprocess.Popen(
        [str(BIN / "lstmlab"), *args, *hydra_dirs],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    out: list[str] = []
    threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True).start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(0.5)
            assert proc.poll() is None, "the sweep ended before it could be killed"
            # Touch the store only once the sweep has created it (its first line): a second
            # client creating a fresh sqlite store's tables at the same moment would race it.
            if not any(line.startswith("sweep: parent run") for line in out):
                continue
            children = [r for r in runs_of(store, "lstmlab") if "mlflow.parentRunId" in r.data.tags]
            if children:
                break
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    before = runs_of(store, "lstmlab")
    assert sorted(r.info.status for r in before) == ["RUNNING", "RUNNING"]  # parent and job
    for r in before:
        assert r.data.tags[liveness.PID] == str(proc.pid)

    dry = subprocess.run([str(BIN / "lstmlab-doctor"), "--uri", store, "--dry-run"],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.count(f"process {proc.pid} on {socket.gethostname()} is gone") == 2
    assert [r.info.status for r in runs_of(store, "lstmlab")] == ["RUNNING", "RUNNING"]

    again = run_cli(tmp_path, *args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count("RUNNING -> KILLED: process") == 2
    after = {r.info.run_id: r for r in runs_of(store, "lstmlab")}
    parent_id = next(r.info.run_id for r in before if "mlflow.parentRunId" not in r.data.tags)
    killed_id = next(r.info.run_id for r in before if "mlflow.parentRunId" in r.data.tags)
    assert after[parent_id].info.status == "FINISHED"
    assert after[parent_id].data.tags[liveness.PID] != str(proc.pid)  # the resuming process
    assert after[killed_id].info.status == "KILLED"
    assert after[killed_id].data.tags["lstmlab.error"].startswith(f"process {proc.pid}")
    finished = [r for r in after.values() if r.info.status == "FINISHED" and r != after[parent_id]]
    assert sorted(r.data.params["seed"] for r in finished) == ["0", "1"]
    assert MlflowClient(store).search_runs(["1"], "attributes.status = 'RUNNING'") == []
