"""The Python API, used as a notebook or a script would, from a directory outside the
repository: a run, a refused config, a sweep and a DataFrame of its runs, a logged model; then
the runs found in the store by experiment, as a user would. And the worked example
(examples/api.py, Jupyter's percent format) executed as it is."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import PROJECT_ROOT, runs_of

pytestmark = pytest.mark.slow

SMALL = ["model.units=4", "schedule.epochs=60", "schedule.chunk=30", "eval.samples=40",
         "eval.show=0"]  # fmt: skip

SCRIPT = """
import json, sys
import numpy as np
import lstmlab

store, small = sys.argv[1], json.loads(sys.argv[2])
common = [*small, f"tracking.uri={store}", "tracking.experiment=api"]
found = {}
outcome = lstmlab.run(["model=lstm", *common])
found["run"] = {"run_id": outcome.run_id, "metrics": outcome.metrics}
for bad in (["model.units=0"], ["model.nope=1"], ["model=nope"]):
    try:
        lstmlab.run([*common, *bad])
    except (lstmlab.ConfigError, lstmlab.LstmlabError) as exc:
        found.setdefault("refused", []).append([type(exc).__name__, str(exc)])
sweep = lstmlab.sweep(["model=lstm", "seed=0,1", *common])
found["sweep"] = sweep.run_id
picked = ["run_id", "status", "params.seed", "metrics.eval_acc"]
found["sweep_rows"] = sweep.runs[picked].to_dict("records")
table = lstmlab.runs(experiment="api", uri=store)
found["all_rows"] = len(table)
found["columns"] = [c for c in table.columns if not c.startswith("tags.")][:5]
found["latest"] = sorted(lstmlab.runs(experiment="api", sweep="latest", uri=store)["run_id"])
model = lstmlab.load_model(outcome.run_id, uri=store)
found["predicted"] = list(model.predict(np.zeros((2, 10, 1), np.float32), verbose=0).shape)
print("RESULT " + json.dumps(found))
"""


def _python(tmp_path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600,
                          cwd=tmp_path, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                                             **(env or {})})  # fmt: skip


def test_run_sweep_runs_and_load_model_from_outside_the_repository(tmp_path):
    store = f"sqlite:///{tmp_path / 'm.db'}"
    assert not str(tmp_path).startswith(str(PROJECT_ROOT))
    done = _python(tmp_path, "-c", SCRIPT, store, json.dumps(SMALL))
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    found = json.loads(line.removeprefix("RESULT "))
    run_id = found["run"]["run_id"]
    assert set(found["run"]["metrics"]) >= {"eval_loss", "eval_acc"}
    # The CLI's errors, as exceptions, one line each, naming the key.
    (units, unknown, option) = found["refused"]
    assert units == ["ConfigError", "model.units=0: must be a positive integer, or a list of "
                     "them, one per layer"]  # fmt: skip
    assert unknown[0] == "LstmlabError" and "model.nope" in unknown[1] and "\n" not in unknown[1]
    assert option[0] == "LstmlabError" and "model=nope" in option[1]
    rows = found["sweep_rows"]
    assert sorted(r["params.seed"] for r in rows) == ["0", "1"]
    assert all(r["status"] == "FINISHED" and 0 <= r["metrics.eval_acc"] <= 1 for r in rows)
    assert sorted(r["run_id"] for r in rows) == found["latest"]
    assert found["columns"] == ["run_id", "run_name", "status", "start_time", "end_time"]
    assert found["predicted"] == [2, 10, 1]  # per-timestep labels of cumsum
    # As a user finds them: by experiment in the store; nothing refused was logged.
    runs = runs_of(store, "api")
    # The run, the sweep's parent and its seed=1 job: its seed=0 job is the same config as
    # the run, FINISHED already, so the sweep counts that run instead of training it again.
    assert found["all_rows"] == len(runs) == 3
    assert run_id in found["latest"]
    assert all(r.info.status == "FINISHED" for r in runs)
    (alone,) = [r for r in runs if r.info.run_id == run_id]
    assert alone.data.tags["lstmlab.api"] == "run"
    assert alone.data.params["model.units"] == "4"
    # The same files as a CLI run: the composed config, Hydra's record of it.
    artifacts = {a.path for a in __import__("mlflow").MlflowClient(store).list_artifacts(run_id)}
    assert {"config.yaml", "hydra"} <= artifacts


def test_the_worked_example_runs_as_it_is(tmp_path):
    store = f"sqlite:///{tmp_path / 'example.db'}"
    done = _python(tmp_path, str(PROJECT_ROOT / "examples" / "api.py"),
                   env={"LSTMLAB_EXAMPLE_STORE": store})  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "refused: model.units=0" in done.stdout
    assert "params.model.direction" in done.stdout
    runs = runs_of(store, "api-example")
    # The run, the sweep's parent, three of its four jobs (the fourth is the run, reused).
    assert len(runs) == 5 and all(r.info.status == "FINISHED" for r in runs)
