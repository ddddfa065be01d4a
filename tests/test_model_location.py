"""Where a run's model and files go: the run's own experiment, beside the store file, never
the working directory's ``mlruns/`` (MLflow's fluent ``Model.log`` put them in the Default
experiment, under ``./mlruns/0``)."""

from __future__ import annotations

import threading
from pathlib import Path

import mlflow
import numpy as np
import pytest
from conftest import run_cli, runs_of
from mlflow.tracking import MlflowClient

TINY = ["schedule.epochs=4", "eval.samples=20", "eval.show=0", "model.units=2"]


def _inside(uri: str, folder: Path) -> bool:
    path = Path(uri.removeprefix("file://"))
    return path.is_relative_to(folder.resolve())


@pytest.mark.slow
def test_a_cli_run_s_model_is_in_its_experiment_beside_the_store(tmp_path):
    work, stored = tmp_path / "work", tmp_path / "store"
    work.mkdir()
    stored.mkdir()
    store = f"sqlite:///{stored / 'm.db'}"
    # Run from a working directory of its own, as a user does from wherever they are.
    proc = run_cli(tmp_path, f"tracking.uri={store}", *TINY, cwd=work)
    assert proc.returncode == 0, proc.stderr[-3000:]

    (run,) = runs_of(store, "lstmlab")
    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("lstmlab")
    # The experiment lstmlab created keeps its files beside the store file.
    assert (
        experiment.artifact_location
        == (stored / "mlartifacts" / experiment.experiment_id).resolve().as_uri()
    )
    assert _inside(run.info.artifact_uri, stored / "mlartifacts" / experiment.experiment_id)
    # The model is found by experiment, as the UI's Models tab finds it.
    (model,) = client.search_logged_models(experiment_ids=[experiment.experiment_id])
    assert model.source_run_id == run.info.run_id and str(model.status) == "READY"
    assert _inside(model.artifact_location, stored / "mlartifacts" / experiment.experiment_id)
    assert not client.search_logged_models(experiment_ids=["0"])
    # Nothing landed in the working directory.
    assert not (work / "mlruns").exists() and not list(work.iterdir())
    mlflow.set_tracking_uri(store)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{model.model_id}")
    x = np.random.default_rng(0).random((2, 10, 1), dtype=np.float32)
    assert pyfunc.predict(x).shape == (2, 10, 1)


@pytest.mark.slow
def test_an_experiment_that_exists_keeps_its_artifact_location(tmp_path):
    store = f"sqlite:///{tmp_path / 'm.db'}"
    elsewhere = (tmp_path / "their-files").resolve().as_uri()
    MlflowClient(store).create_experiment("theirs", artifact_location=elsewhere)
    proc = run_cli(tmp_path, f"tracking.uri={store}", "tracking.experiment=theirs", *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = runs_of(store, "theirs")
    experiment = MlflowClient(store).get_experiment_by_name("theirs")
    assert experiment.artifact_location == elsewhere
    (model,) = MlflowClient(store).search_logged_models([experiment.experiment_id])
    assert model.source_run_id == run.info.run_id
    assert _inside(model.artifact_location, tmp_path / "their-files")


def test_jobs_of_one_process_on_two_stores_do_not_cross(tmp_path):
    # Two runs logging their models at once from background writers, as two jobs of one
    # worker process do: each model lands in its own store and experiment.
    from lstmlab.config import CumsumConfig, ModelConfig
    from lstmlab.data import cumsum
    from lstmlab.models.recurrent import build_model
    from lstmlab.tracking.runs import Tracker

    task = cumsum.task(CumsumConfig(timesteps=4))
    stores = {name: f"sqlite:///{tmp_path / name / 'm.db'}" for name in ("a", "b")}
    for name in stores:
        (tmp_path / name).mkdir()
    before = set(Path.cwd().iterdir())
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def job(name: str) -> None:
        try:
            with Tracker(stores[name], f"exp-{name}").run(name, {}) as log:
                model = build_model(ModelConfig(units=2), task)
                barrier.wait(timeout=60)
                log.keras_model(model, task)
        except BaseException as exc:  # noqa: BLE001 (reported by the test below)
            failures.append(exc)

    threads = [threading.Thread(target=job, args=(name,)) for name in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not failures, failures
    for name, store in stores.items():
        client = MlflowClient(store)
        experiment = client.get_experiment_by_name(f"exp-{name}")
        (run,) = client.search_runs([experiment.experiment_id])
        (model,) = client.search_logged_models([experiment.experiment_id])
        assert model.source_run_id == run.info.run_id and run.info.run_name == name
        assert _inside(model.artifact_location, tmp_path / name / "mlartifacts")
        assert not client.search_logged_models(["0"])
    assert set(Path.cwd().iterdir()) == before
