"""A sweep through the Ray launcher to an existing Ray cluster, logging to a shared MLflow server,
its seeds sent as stacks (one Ray task each).

Ray rewrites 127.0.0.1 to the machine's routable address and listens on all interfaces, so the
whole test runs inside a network namespace it creates with only loopback up: the Ray head,
the MLflow server, the sweep and the read-back. Everything is stopped by PID; the namespace is
deleted at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from conftest import free_port, serve_mlflow, stop_session

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


@pytest.fixture
def netns() -> Iterator[list[str]]:
    """A fresh network namespace with only loopback up; yields the prefix that runs a command
    inside it. Any process of ours left in it is stopped by PID before it is deleted."""
    assert shutil.which("ip"), "iproute2's ip is needed (Debian package iproute2)"
    name = f"lstmlab-test-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
                       check=True, timeout=10)  # fmt: skip
        yield ["ip", "netns", "exec", name]
    finally:
        # Only this test started processes in its own namespace.
        pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True,
                              timeout=10).stdout.split()  # fmt: skip
        for pid in map(int, pids):
            with_signal(pid, signal.SIGKILL)
        subprocess.run(["ip", "netns", "delete", name], check=True, timeout=10)


def with_signal(pid: int, sig: int) -> None:
    with suppress(ProcessLookupError):
        os.kill(pid, sig)


@pytest.fixture
def ray_head(netns: list[str], tmp_path: Path) -> Iterator[str]:
    """`ray start --head --block` inside the namespace; yields its address."""
    port = free_port()
    temp = Path("/tmp") / f"ray-{os.getpid()}"  # Ray's socket paths must stay short
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    cmd = [*netns, str(BIN / "ray"), "start", "--head", "--block", f"--port={port}",
           "--num-cpus=2", "--include-dashboard=false", f"--temp-dir={temp}",
           "--disable-usage-stats"]  # fmt: skip
    log = open(tmp_path / "ray.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while "Ray runtime started" not in (tmp_path / "ray.log").read_text():
            assert proc.poll() is None, (tmp_path / "ray.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "ray head did not start in 90 s"
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        # `ray start --block` takes more than 30 s to stop on SIGTERM (measured); its process
        # group is ours, so SIGKILL follows sooner.
        left = stop_session(proc, timeout=8)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)
        assert not left, f"ray processes outlived the head: {left}"


READ_BACK = """
import json, sys, urllib.parse, urllib.request
url = sys.argv[1]
def get(path, **q):
    with urllib.request.urlopen(f"{url}{path}?{urllib.parse.urlencode(q)}", timeout=30) as r:
        return json.load(r)
exp = get("/api/2.0/mlflow/experiments/get-by-name", experiment_name="ray")["experiment"]
body = json.dumps({"experiment_ids": [exp["experiment_id"]]}).encode()
req = urllib.request.Request(f"{url}/api/2.0/mlflow/runs/search", body,
                             {"Content-Type": "application/json"})
runs = json.load(urllib.request.urlopen(req, timeout=30))["runs"]
out = []
for r in runs:
    info = r["info"]
    tags = {t["key"]: t["value"] for t in r["data"].get("tags", [])}
    history = get("/api/2.0/mlflow/metrics/get-history", run_id=info["run_id"],
                  metric_key="train_loss").get("metrics", [])
    files = [f["path"] for f in get("/api/2.0/mlflow/artifacts/list",
                                    run_id=info["run_id"]).get("files", [])]
    png = b""
    if "loss_curve.png" in files:
        served = info["artifact_uri"].removeprefix("mlflow-artifacts:")
        png = urllib.request.urlopen(
            f"{url}/api/2.0/mlflow-artifacts/artifacts{served}/loss_curve.png", timeout=30
        ).read(8)
    out.append({"name": info["run_name"], "status": info["status"], "tags": tags,
                "metrics": {m["key"]: m["value"] for m in r["data"].get("metrics", [])},
                "steps": len(history), "files": files, "png": png.hex(),
                "models": [m["model_id"] for m in r.get("outputs", {}).get("model_outputs", [])],
                "artifact_uri": info["artifact_uri"]})
print(json.dumps(out))
"""


def test_sweep_on_a_ray_cluster_logs_to_a_shared_server(tmp_path, netns, ray_head):
    with serve_mlflow(tmp_path / "server", prefix=netns) as url:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "RAY_USAGE_STATS_ENABLED": "0"}
        sweep = subprocess.run(
            [*netns, str(BIN / "lstmlab"), "-m", "seed=range(0,4)", "schedule.epochs=20",
             "eval.samples=40", "model.units=4", "hydra/launcher=ray",
             "hydra.launcher.stack_seeds=2",
             f"hydra.launcher.ray.init.address={ray_head}", f"tracking.uri={url}",
             "tracking.experiment=ray", f"hydra.sweep.dir={tmp_path}/multirun"],
            capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path,
        )  # fmt: skip
        assert sweep.returncode == 0, sweep.stdout[-2000:] + sweep.stderr[-3000:]
        assert "4 of 4 configurations finished" in sweep.stdout
        # Two stacks of two seeds, each one Ray task (its workers' output reaches the driver).
        assert "launching 4 jobs as 2 tasks" in sweep.stdout + sweep.stderr
        assert sweep.stdout.count("2 seeds train as one stack") == 2, sweep.stdout[-3000:]
        read = subprocess.run([*netns, sys.executable, "-c", READ_BACK, url],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert read.returncode == 0, read.stderr[-2000:]
    runs = json.loads(read.stdout)
    parents = [r for r in runs if r["tags"].get("lstmlab.kind") == "sweep"]
    children = [r for r in runs if "mlflow.parentRunId" in r["tags"]]
    assert len(parents) == 1 and parents[0]["status"] == "FINISHED"
    assert sorted(r["name"] for r in children) == [f"seed={s}" for s in range(4)]
    for r in children:
        assert r["status"] == "FINISHED"
        assert r["steps"] == 20
        assert {"eval_loss", "eval_acc", "eval_seq_acc"} <= set(r["metrics"])
        assert {"config.yaml", "loss_curve.png"} <= set(r["files"])
        assert len(r["models"]) == 1  # the run's MLflow logged model
        # Artifacts went through the server: the Ray workers share no disk with it.
        assert r["artifact_uri"].startswith("mlflow-artifacts:/")
        assert bytes.fromhex(r["png"]) == b"\x89PNG\r\n\x1a\n"
