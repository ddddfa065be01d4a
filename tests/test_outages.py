"""A tracking server that goes away in the middle of a run and comes back: training goes on,
metrics wait in memory and then in a spool file, and every one of them arrives. With a real
`mlflow server` on 127.0.0.1, stopped and started again on the same store and port."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import free_port, serve_mlflow
from mlflow.tracking import MlflowClient

BIN = Path(sys.executable).parent
STEPS = 20000
# MLflow's client gives up on a dead server after a few quick retries (by default it retries
# for minutes); lstmlab's writer then tries again every second.
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
       "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}  # fmt: skip


@pytest.mark.slow
def test_training_goes_on_through_a_server_outage_and_nothing_is_lost(tmp_path):
    port = free_port()
    out: list[tuple[float, str]] = []
    with serve_mlflow(tmp_path / "server", port=port) as url:
        proc = subprocess.Popen(
            [str(BIN / "lstmlab"), f"schedule.epochs={STEPS}", "schedule.chunk=500",
             "model.units=4", "eval.samples=40", "eval.show=0", "tracking.log_model=false",
             "tracking.log_every=1", f"tracking.uri={url}", f"hydra.run.dir={tmp_path}/out"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
        )  # fmt: skip

        def read() -> None:
            out.extend((time.monotonic(), line) for line in proc.stdout)

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + 120
        while not any(f"step 2000/{STEPS}" in line for _, line in out):  # 10% trained and logged
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            assert time.monotonic() < deadline, "training did not start"
            time.sleep(0.2)
    down = time.monotonic()  # the server is stopped (by its PID) here
    try:
        # Training goes on without the store: more progress lines while it is away.
        while sum(t > down for t, line in out if " step " in line) < 3:
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            assert time.monotonic() - down < 120, "training stood still without the store"
            time.sleep(0.2)
        with serve_mlflow(tmp_path / "server", port=port) as url:  # the same store, back
            proc.wait(timeout=300)
            stderr = proc.stderr.read()
            assert proc.returncode == 0, stderr[-3000:]
            assert "the tracking store does not answer; training goes on" in stderr
            assert "the tracking store answers again" in stderr
            client = MlflowClient(url)
            (run,) = client.search_runs([client.get_experiment_by_name("lstmlab").experiment_id])
            assert run.info.status == "FINISHED"
            for key in ("train_loss", "train_acc"):
                steps = [m.step for m in client.get_metric_history(run.info.run_id, key)]
                assert sorted(steps) == list(range(STEPS))  # every step, once
            assert {"eval_loss", "eval_acc", "time_logging_s"} <= set(run.data.metrics)
            files = {f.path for f in client.list_artifacts(run.info.run_id)}
            assert {"loss_curve.png", "config.yaml"} <= files
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    spool = Path(stderr.split("metrics wait in ")[1].split()[0])
    assert not spool.exists()  # sent, then removed


@pytest.mark.slow
def test_a_store_still_away_at_the_end_leaves_a_spool_that_lstmlab_sync_sends(tmp_path):
    port = free_port()
    out: list[str] = []
    with serve_mlflow(tmp_path / "server", port=port) as url:
        proc = subprocess.Popen(
            [str(BIN / "lstmlab"), "schedule.epochs=8000", "schedule.chunk=500",
             "model.units=4", "eval.samples=40", "eval.show=0", "tracking.log_model=true",
             "tracking.log_every=1", "tracking.outage_wait=3", f"tracking.uri={url}",
             f"hydra.run.dir={tmp_path}/out"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
        )  # fmt: skip
        threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True).start()
        deadline = time.monotonic() + 120
        while not any(line.startswith("training") for line in out):
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            assert time.monotonic() < deadline, "training did not start"
            time.sleep(0.1)
    # The server is gone before training is done, and stays away.
    try:
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = proc.stderr.read()
    assert proc.returncode == 3, stderr[-3000:]
    (line,) = [s for s in stderr.splitlines() if s.startswith("lstmlab: error")]
    assert f"the tracking store {url} did not answer for 3 s" in line
    folder = Path(line.split("`lstmlab-sync ")[1].split("`")[0])
    assert (folder / "writes.jsonl").is_file() and "not kept" not in line

    with serve_mlflow(tmp_path / "server", port=port) as url:
        sync = subprocess.run([str(BIN / "lstmlab-sync"), str(folder)], capture_output=True,
                              text=True, timeout=300, env=ENV)  # fmt: skip
        assert sync.returncode == 0, sync.stderr[-2000:]
        assert f"lstmlab-sync: run {folder.name}: " in sync.stdout
        assert not folder.exists()
        client = MlflowClient(url)
        (run,) = client.search_runs([client.get_experiment_by_name("lstmlab").experiment_id])
        assert run.info.status == "FINISHED"
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")]
        assert sorted(steps) == list(range(8000))
        assert {"eval_loss", "eval_acc", "time_logging_s"} <= set(run.data.metrics)
        files = {f.path for f in client.list_artifacts(run.info.run_id)}
        assert {"loss_curve.png", "config.yaml"} <= files
        # The model, kept as a file while the store was away, is an MLflow Model of the run.
        (output,) = run.outputs.model_outputs
        model = client.get_logged_model(output.model_id)
        assert model.source_run_id == run.info.run_id
        assert model.experiment_id == run.info.experiment_id
