"""A real MLflow tracking server: a sweep logs to it over HTTP, and everything is read back
over its REST API and seen in its UI in a real (headless) browser."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT, run_cli

from lstmlab.tracking.runs import UI_WORKFLOW

pytestmark = pytest.mark.slow

# Kept after the run for a person to look at (git-ignored).
ARTIFACTS = Path(os.environ.get("LSTMLAB_TEST_ARTIFACTS", PROJECT_ROOT / "test-artifacts"))


def _get(url: str, path: str, **query) -> dict:
    with urllib.request.urlopen(f"{url}{path}?{urllib.parse.urlencode(query)}", timeout=30) as r:
        return json.load(r)


def _post(url: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{url}{path}", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.load(r)


def _chromium(*args: str, user_data: Path) -> subprocess.CompletedProcess:
    browser = shutil.which("chromium")
    assert browser, "Debian's chromium is not installed (make test installs it)"
    # The flags keep Chromium off the network: this machine only reaches loopback.
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={user_data}", "--virtual-time-budget=10000"]  # fmt: skip
    return subprocess.run([browser, *flags, *args], capture_output=True, text=True, timeout=120)


def test_sweep_logged_to_a_server_read_back_over_rest_and_seen_in_the_ui(tmp_path, mlflow_server):
    url = mlflow_server
    proc = run_cli(
        tmp_path, "experiment=compare_merge_modes", "model.merge_mode=sum,ave",
        f"tracking.uri={url}", "tracking.experiment=served", "schedule.epochs=12",
        "eval.samples=40", "model.units=4", "hydra/launcher=basic",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]

    experiment = _get(url, "/api/2.0/mlflow/experiments/get-by-name", experiment_name="served")
    exp_id = experiment["experiment"]["experiment_id"]
    runs = _post(url, "/api/2.0/mlflow/runs/search", {"experiment_ids": [exp_id]})["runs"]
    tags = [{t["key"]: t["value"] for t in r["data"].get("tags", [])} for r in runs]
    parents = [r for r, t in zip(runs, tags, strict=True) if t.get("lstmlab.kind") == "sweep"]
    assert len(parents) == 1 and parents[0]["info"]["status"] == "FINISHED"
    parent_id = parents[0]["info"]["run_id"]
    children = [
        r for r, t in zip(runs, tags, strict=True) if t.get("mlflow.parentRunId") == parent_id
    ]
    names = {r["info"]["run_name"] for r in children}
    assert names == {"merge_mode=sum", "merge_mode=ave"}
    for run in children:
        info = run["info"]
        assert info["status"] == "FINISHED"
        history = _get(url, "/api/2.0/mlflow/metrics/get-history",
                       run_id=info["run_id"], metric_key="train_loss")["metrics"]  # fmt: skip
        assert sorted(int(m.get("step", 0)) for m in history) == list(range(12))
        listed = _get(url, "/api/2.0/mlflow/artifacts/list", run_id=info["run_id"])
        assert {"config.yaml", "loss_curve.png"} <= {f["path"] for f in listed["files"]}
        # Artifacts went through the server (--serve-artifacts), not to a shared disk.
        assert info["artifact_uri"].startswith("mlflow-artifacts:/")
        served = info["artifact_uri"].removeprefix("mlflow-artifacts:")
        with urllib.request.urlopen(
            f"{url}/api/2.0/mlflow-artifacts/artifacts{served}/loss_curve.png", timeout=30
        ) as r:
            assert r.read(8) == b"\x89PNG\r\n\x1a\n"

    # The UI, rendered by a real browser, on the sweep's shared view that lstmlab printed.
    # Without the virtual-time budget the React page is still a grey placeholder when the
    # DOM is dumped.
    page = (f"{url}/#/experiments/{exp_id}/runs?viewStateShareKey={parent_id}"
            "&workflowType=machine_learning")  # fmt: skip
    assert page in proc.stdout
    dom = _chromium("--dump-dom", page, user_data=tmp_path / "chromium")
    assert dom.returncode == 0, dom.stderr[-2000:]
    for name in names:
        assert name in dom.stdout, f"{name!r} not in the rendered runs page"
    # Grouped by the swept key: one group row per merge mode.
    assert "Group: sum" in dom.stdout and "Group: ave" in dom.stdout
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "mlflow_ui_runs.png"
    taken = _chromium(f"--screenshot={shot}", "--window-size=1600,900", page,
                      user_data=tmp_path / "chromium2")  # fmt: skip
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.read_bytes().startswith(b"\x89PNG")

    # The experiment is tagged as model training, and the links lstmlab prints open the UI's
    # model-training view: its tabs (Runs, Models, Model registry), not GenAI's.
    kind = {"key": "mlflow.experimentKind", "value": "custom_model_development"}
    assert kind in experiment["experiment"]["tags"]
    for sidebar in ("Models", "Model registry"):
        assert f">{sidebar}<" in dom.stdout, sidebar
    assert "Evaluation runs" not in dom.stdout and "Observability" not in dom.stdout

    # Each run's model is a logged model of the run's own experiment, on the server, and the
    # experiment's Models tab lists them (MLflow's fluent Model.log put them in Default).
    logged = _post(url, "/api/2.0/mlflow/logged-models/search", {"experiment_ids": [exp_id]})
    assert {m["info"]["source_run_id"] for m in logged["models"]} == {
        r["info"]["run_id"] for r in children
    }
    for m in logged["models"]:
        assert m["info"]["artifact_uri"].startswith("mlflow-artifacts:/")
    tab = _chromium("--dump-dom", f"{url}/#/experiments/{exp_id}/models?{UI_WORKFLOW}",
                    user_data=tmp_path / "c3")  # fmt: skip
    assert tab.returncode == 0, tab.stderr[-2000:]
    for m in logged["models"]:
        assert m["info"]["model_id"] in tab.stdout or m["info"]["name"] in tab.stdout
    for name in names:
        assert name in tab.stdout, f"{name!r} (a model's source run) not in the Models tab"

    # The sweep's best model, registered, as the registry page shows it.
    registered = subprocess.run(
        [str(Path(sys.executable).parent / "lstmlab-register"), "--name", "served-bilstm",
         "--uri", url, "--experiment", "served"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert registered.returncode == 0, registered.stderr[-2000:]
    models = _chromium("--dump-dom", f"{url}/#/models/served-bilstm", user_data=tmp_path / "c4")
    assert "served-bilstm" in models.stdout and "champion" in models.stdout
    shot = ARTIFACTS / "mlflow_ui_registered_model.png"
    _chromium(f"--screenshot={shot}", "--window-size=1400,800",
              f"{url}/#/models/served-bilstm", user_data=tmp_path / "c5")  # fmt: skip
