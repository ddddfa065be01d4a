"""Hyperparameter search: Hydra's Optuna sweeper over units and learning rate, persistent study."""

from __future__ import annotations

import optuna
import pytest
from conftest import run_cli, runs_of

pytestmark = pytest.mark.slow


def test_optuna_search_logs_every_trial_and_continues_its_study(tmp_path, store):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    args = ["experiment=hparams_search", "hydra.sweeper.n_trials=4",
            f"hydra.sweeper.storage={storage}", "schedule.epochs=20", "eval.samples=50",
            "eval.show=0", "tracking.log_model=false", f"tracking.uri={store}"]  # fmt: skip
    first = run_cli(tmp_path, *args)
    assert first.returncode == 0, first.stderr[-3000:]
    runs = runs_of(store, "lstmlab")
    (parent,) = [r for r in runs if r.data.tags.get("lstmlab.kind") == "sweep"]
    trials = [r for r in runs if r is not parent]
    assert len(trials) == 4 and parent.info.status == "FINISHED"
    assert all(r.info.status == "FINISHED" for r in trials)
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in trials)

    study = optuna.load_study(study_name="lstmlab_bilstm_cumsum", storage=storage)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
    # What Optuna minimised is what lstmlab logged: eval_loss, trial by trial.
    logged = {
        (int(r.data.params["model.units"]), round(float(r.data.params["model.learning_rate"]), 9)):
        r.data.metrics["eval_loss"]
        for r in trials
    }  # fmt: skip
    for t in study.trials:
        key = (t.params["model.units"], round(t.params["model.learning_rate"], 9))
        assert t.value == pytest.approx(logged[key], rel=1e-6)
        assert t.params["model.units"] in (4, 8, 16, 32, 64)
        assert 0.0003 <= t.params["model.learning_rate"] <= 0.03
    assert study.best_value == pytest.approx(min(logged.values()), rel=1e-6)

    again = run_cli(tmp_path, *args)
    assert again.returncode == 0, again.stderr[-3000:]
    study = optuna.load_study(study_name="lstmlab_bilstm_cumsum", storage=storage)
    assert len(study.trials) == 8  # the stored study went on


def test_optuna_minimises_a_regressions_rmse_when_told_to(tmp_path, store):
    """eval.objective: what the run returns to Hydra; here a regression's eval_rmse."""
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    args = ["experiment=hparams_search", "dataset.task=regression", "eval.objective=eval_rmse",
            "hydra.sweeper.n_trials=3", f"hydra.sweeper.storage={storage}", "schedule.epochs=20",
            "eval.samples=50", "eval.show=0", "tracking.log_model=false",
            f"tracking.uri={store}"]  # fmt: skip
    proc = run_cli(tmp_path, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = [r for r in runs_of(store, "lstmlab") if r.data.tags.get("lstmlab.kind") != "sweep"]
    study = optuna.load_study(study_name="lstmlab_bilstm_cumsum", storage=storage)
    logged = sorted(r.data.metrics["eval_rmse"] for r in trials)
    assert sorted(t.value for t in study.trials) == pytest.approx(logged, rel=1e-6)
    assert all(r.data.metrics["eval_rmse"] != r.data.metrics["eval_loss"] for r in trials)


def test_an_objective_the_run_cannot_log_is_one_line(tmp_path, store):
    proc = run_cli(
        tmp_path, "eval.objective=test_rmse", "schedule.epochs=5", f"tracking.uri={store}"
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("lstmlab: error:")]
    assert (
        "eval.objective=test_rmse: must be one of this run's held-out metrics, named eval_" in line
    )
