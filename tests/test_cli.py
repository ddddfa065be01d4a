"""Whole runs: in-process at tiny sizes, and through the CLI in a subprocess (slow)."""

from __future__ import annotations

import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
from conftest import run_cli, runs_of
from mlflow.tracking import MlflowClient

from lstmlab.cli import run_name
from lstmlab.config import to_settings
from lstmlab.experiment import Job, run

TINY = ["eval.samples=50", "eval.show=2", "model.units=4"]


def _run(compose_cfg, store, *overrides, name="t"):
    cfg = compose_cfg(f"tracking.uri={store}", *TINY, *overrides)
    return run(cfg, to_settings(cfg), Job(name, {"lstmlab.preset": "none"}))


def test_online_run_is_logged_and_read_back(compose_cfg, store, capsys):
    outcome = _run(compose_cfg, store, "schedule.epochs=30", "schedule.chunk=16")
    client = MlflowClient(store)
    r = client.get_run(outcome.run_id)
    assert r.info.status == "FINISHED"
    # Params: the flattened resolved config.
    assert r.data.params["model.units"] == "4"
    assert r.data.params["model.direction"] == "bidirectional"
    assert r.data.params["schedule.epochs"] == "30"
    assert r.data.params["tracking.uri"] == store
    history = client.get_metric_history(outcome.run_id, "train_loss")
    assert sorted(m.step for m in history) == list(range(30))
    assert len(client.get_metric_history(outcome.run_id, "train_acc")) == 30
    for key in ("eval_loss", "eval_acc", "eval_seq_acc"):
        assert r.data.metrics[key] == pytest.approx(outcome.metrics[key])
    assert 0.0 <= r.data.metrics["eval_seq_acc"] <= r.data.metrics["eval_acc"] <= 1.0
    paths = {a.path for a in client.list_artifacts(outcome.run_id)}
    assert {"config.yaml", "loss_curve.png"} <= paths
    # The model is the run's MLflow logged model (Keras flavor, signature), loadable by URI.
    (output,) = r.outputs.model_outputs
    logged = client.get_logged_model(output.model_id)
    assert logged.source_run_id == outcome.run_id and logged.name == "model"
    assert logged.experiment_id == r.info.experiment_id
    mlflow.set_tracking_uri(store)
    model = mlflow.keras.load_model(f"models:/{output.model_id}")
    x = np.random.default_rng(0).random((3, 10, 1), dtype=np.float32)
    assert model.predict(x, verbose=0).shape == (3, 10, 1)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{output.model_id}")
    np.testing.assert_allclose(pyfunc.predict(x), model.predict(x, verbose=0), atol=1e-6)
    assert pyfunc.metadata.get_input_schema().inputs[0].shape == (-1, 10, 1)
    png = Path(client.download_artifacts(outcome.run_id, "loss_curve.png")).read_bytes()
    assert png.startswith(b"\x89PNG")
    out = capsys.readouterr().out
    assert "yhat=" in out and outcome.run_id in out


def test_bulk_run_logs_one_loss_per_batch(compose_cfg, store):
    outcome = _run(
        compose_cfg,
        store,
        "schedule=bulk",
        "dataset.samples=60",
        "schedule.batch_size=8",
        "schedule.epochs=2",
    )
    history = MlflowClient(store).get_metric_history(outcome.run_id, "train_loss")
    assert len(history) == 2 * 8  # 7 full batches and one of 4, twice


def test_echo_run(compose_cfg, store):
    outcome = _run(
        compose_cfg,
        store,
        "experiment=echo",
        "dataset.length=8",
        "dataset.n_features=6",
        "schedule.epochs=20",
        "tracking.log_model=false",
    )
    r = MlflowClient(store).get_run(outcome.run_id)
    assert r.info.status == "FINISHED"
    # One label per sequence: whole-sequence accuracy is the accuracy.
    assert r.data.metrics["eval_seq_acc"] == r.data.metrics["eval_acc"]
    assert "model" not in {a.path for a in MlflowClient(store).list_artifacts(outcome.run_id)}


def test_same_config_and_seed_give_the_same_run(compose_cfg, store):
    args = ("schedule.epochs=40", "seed=7", "tracking.log_model=false")
    a, b = _run(compose_cfg, store, *args), _run(compose_cfg, store, *args)
    c = _run(compose_cfg, store, "schedule.epochs=40", "seed=8", "tracking.log_model=false")
    client = MlflowClient(store)

    def losses(run_id):
        return [
            m.value
            for m in sorted(client.get_metric_history(run_id, "train_loss"), key=lambda m: m.step)
        ]

    assert a.metrics == b.metrics
    assert losses(a.run_id) == losses(b.run_id)
    assert losses(a.run_id) != losses(c.run_id)


def test_run_names_say_what_varies():
    assert run_name(["experiment=x", "model.merge_mode=sum", "seed=3"], "x") == (
        "merge_mode=sum seed=3"
    )
    assert run_name(["experiment=echo", "tracking.uri=sqlite:///a"], "echo") == "echo"
    assert run_name([], None) == "default"


# --- through the CLI, in subprocesses -------------------------------------------------------


@pytest.mark.slow
def test_merge_mode_sweep_through_the_cli(tmp_path, store):
    proc = run_cli(
        tmp_path,
        "experiment=compare_merge_modes",
        f"tracking.uri={store}",
        "tracking.experiment=sweep",
        "schedule.epochs=20",
        *TINY,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = [r for r in runs_of(store, "sweep") if "mlflow.parentRunId" in r.data.tags]
    assert len(runs) == 4
    assert {r.data.params["model.merge_mode"] for r in runs} == {"concat", "sum", "mul", "ave"}
    assert {r.info.run_name for r in runs} == {
        f"merge_mode={m}" for m in ("concat", "sum", "mul", "ave")
    }
    client = MlflowClient(store)
    for r in runs:
        assert r.info.status == "FINISHED"
        assert r.data.tags["lstmlab.preset"] == "compare_merge_modes"
        assert len(client.get_metric_history(r.info.run_id, "train_loss")) == 20
        # Hydra's own record of the job is kept with the run.
        assert {a.path for a in client.list_artifacts(r.info.run_id, "hydra")} >= {
            "hydra/config.yaml",
            "hydra/overrides.yaml",
        }
    assert len(list((tmp_path / "multirun").iterdir())) >= 4  # sweeps write under multirun/
    # A compare_* preset ends with its report: printed, written beside the sweep, logged on
    # the parent run; and each job said it finished in one line.
    assert "configuration" in proc.stdout and "merge_mode=mul" in proc.stdout
    assert sum(line.startswith("[") and "/4] merge_mode=" in line
               for line in proc.stdout.splitlines()) == 4  # fmt: skip
    (parent,) = [r for r in runs_of(store, "sweep") if r.data.tags.get("lstmlab.kind") == "sweep"]
    logged = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert {"report/summary.csv", "report/loss_curves.png"} <= logged
    assert list((tmp_path / "multirun").glob("sweep_compare_merge_modes_*/summary.csv"))


@pytest.mark.slow
def test_single_run_through_python_dash_m(tmp_path, store):
    proc = run_cli(tmp_path, "schedule.epochs=10", f"tracking.uri={store}", *TINY, module=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "FINISHED" in proc.stdout and "eval_acc=" in proc.stdout
    runs = runs_of(store, "lstmlab")
    assert [r.info.status for r in runs] == ["FINISHED"]
    assert (tmp_path / "out" / ".hydra" / "config.yaml").is_file()
    # What the run printed is in Hydra's job log too (it logs through print, not logging).
    log = (tmp_path / "out" / "cli.log").read_text()
    assert f"run {runs[0].info.run_id} FINISHED" in log and "eval_acc=" in log


@pytest.mark.slow
@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("model.units=0", "model.units=0: must be a positive integer"),
        ("dataset.threshold=2", "dataset.threshold=2.0: must be in (0, 1]"),
        ("model.units=abc", "model.units"),
        ("model.direction=up", "model.direction"),
    ],
)
def test_bad_config_exits_nonzero_with_one_line_and_no_run(tmp_path, store, override, expected):
    proc = run_cli(tmp_path, override, f"tracking.uri={store}")
    assert proc.returncode != 0
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr
    # Nothing was started: the store was never even created.
    assert not Path(store.removeprefix("sqlite:///")).exists()


def test_in_a_sweep_only_swept_keys_name_the_run():
    overrides = ["experiment=x", "model.merge_mode=sum", "schedule.epochs=20", "seed=3"]
    assert run_name(overrides, "x", {"model.merge_mode", "seed"}) == "merge_mode=sum seed=3"


def test_debug_fast_runs_a_few_steps_into_its_own_experiment(compose_cfg, store):
    cfg = compose_cfg("debug=fast", "experiment=seed_bulk_bilstm", "model.units=4",
                      f"tracking.uri={store}")  # fmt: skip
    settings = to_settings(cfg)
    assert settings.schedule.max_steps == 4 and not settings.tracking.log_model
    outcome = run(cfg, settings, Job("debug"))
    client = MlflowClient(store)
    assert client.get_run(outcome.run_id).info.experiment_id == (
        client.get_experiment_by_name("debug").experiment_id
    )
    assert len(client.get_metric_history(outcome.run_id, "train_loss")) == 4


@pytest.mark.parametrize(
    ("args", "warmed"),
    [(["-m", "seed=0,1", "hydra/launcher=joblib"], True), (["seed=3"], False)],
)
def test_a_sweeps_workers_start_once_its_jobs_are_checked(monkeypatch, args, warmed):
    from hydra.core.plugins import Plugins

    from hydra_plugins.lstmlab import launcher
    from lstmlab import cli

    # Hydra's first plugin scan of a process executes the hydra_plugins modules again, which
    # would undo the patch below: scan first, as the pre-flight check does in the CLI.
    Plugins.instance()
    order = []
    monkeypatch.setattr(launcher, "warm_up", lambda cfg: order.append(cfg.hydra.launcher._target_))
    monkeypatch.setattr(cli, "main", lambda: order.append("hydra"))
    monkeypatch.setattr(sys, "argv", ["lstmlab", *args])
    cli.entry()
    assert order == ([launcher.TARGET, "hydra"] if warmed else ["hydra"])
