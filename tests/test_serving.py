"""A sweep's best model registered (lstmlab-register) and served for real: `mlflow models
serve` on 127.0.0.1 answers with what the Keras model predicts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pytest
from conftest import free_port, http_ok, run_cli, stop_session
from mlflow.tracking import MlflowClient

from lstmlab.config import CumsumConfig
from lstmlab.data import cumsum

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def _served(tmp_path: Path, store: str, uri: str, x: np.ndarray) -> np.ndarray:
    """What `mlflow models serve -m uri` on 127.0.0.1 answers for x; the server stopped by
    its own process group, whatever happens."""
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": store, "PATH": f"{BIN}:{os.environ['PATH']}",
           "TF_CPP_MIN_LOG_LEVEL": "3"}  # fmt: skip
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        [str(BIN / "mlflow"), "models", "serve", "-m", uri,
         "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while not http_ok(f"http://127.0.0.1:{port}/ping"):
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the model server did not start"
            time.sleep(1)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", json.dumps({"inputs": x.tolist()}).encode(),
            {"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=60) as answer:
            served = np.array(json.load(answer)["predictions"], dtype=np.float32)
    finally:
        left = stop_session(server)
        log.close()
    assert not left
    return served


def test_the_champion_is_registered_served_and_predicts_like_keras(tmp_path, store):
    # Backward models: their custom layer must load in the server too.
    sweep = run_cli(tmp_path, "-m", "model=lstm_backward", "seed=0,1", "schedule.epochs=40",
                    "model.units=4", "eval.samples=40", "hydra/launcher=basic",
                    f"tracking.uri={store}")  # fmt: skip
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    registered = subprocess.run(
        [str(BIN / "lstmlab-register"), "--name", "cumsum-backward", "--uri", store],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert registered.returncode == 0, registered.stderr[-2000:]
    assert "registered cumsum-backward version 1 as @champion: run" in registered.stdout
    assert (
        "eval_loss" in registered.stdout and "the lowest of 2 finished run(s)" in registered.stdout
    )
    client = MlflowClient(store)
    version = client.get_model_version_by_alias("cumsum-backward", "champion")
    chosen = client.get_run(version.run_id)
    runs = client.search_runs([chosen.info.experiment_id], "attributes.status = 'FINISHED'")
    losses = [r.data.metrics["eval_loss"] for r in runs if "eval_loss" in r.data.metrics]
    assert chosen.data.metrics["eval_loss"] == min(losses)

    x = cumsum.sampler(CumsumConfig())(np.random.default_rng(123), 16).x
    served = _served(tmp_path, store, "models:/cumsum-backward@champion", x)
    mlflow.set_tracking_uri(store)
    import lstmlab.models.recurrent  # noqa: F401 (its layers, for Keras' own loader)

    model = mlflow.keras.load_model("models:/cumsum-backward@champion")
    np.testing.assert_allclose(served, model.predict(x, verbose=0), atol=1e-5)
    assert served.shape == (16, 10, 1)


def test_an_alstm_fcn_trained_on_variable_lengths_is_served(tmp_path, store):
    # The AttentionLSTM (a custom layer) attending over JapaneseVowels' real steps only:
    # served, a padded sequence gets what the trained Keras model gives the unpadded one.
    proc = run_cli(tmp_path, "experiment=archive", "dataset.name=JapaneseVowels",
                   "model=alstm_fcn", "model.recipe.epochs=2", "model.filters=[4,8,4]",
                   "model.units=4", "tracking.experiment=alstm",
                   f"tracking.uri={store}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("alstm")
    (run,) = client.search_runs([experiment.experiment_id])
    (output,) = run.outputs.model_outputs
    rng = np.random.default_rng(0)
    seq = rng.normal(size=(12, 12)).astype(np.float32)
    x = np.stack([np.concatenate([seq, np.zeros((17, 12), np.float32)]),
                  rng.normal(size=(29, 12)).astype(np.float32)])  # fmt: skip
    served = _served(tmp_path, store, f"models:/{output.model_id}", x)
    mlflow.set_tracking_uri(store)
    import lstmlab.models  # noqa: F401

    lstmlab.models.register_layers()
    model = mlflow.keras.load_model(f"models:/{output.model_id}")
    np.testing.assert_allclose(served, model.predict(x, verbose=0), atol=1e-5)
    np.testing.assert_allclose(served[0], model.predict(seq[None], verbose=0)[0], atol=1e-5)
    assert served.shape == (2, 9)
