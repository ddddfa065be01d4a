"""Regression: real-valued targets per sequence or per timestep. The task follows the labels
(or dataset.task), targets are standardised on the training split only and every metric and
prediction is in the target's units again; the compiled loop equals plain Keras; metrics and
the mean baseline against hand-computed values; a run through the CLI found in the store, its
served model predicting real values; one-line errors for keys of the other kind of task."""

from __future__ import annotations

from dataclasses import replace

import keras
import mlflow
import numpy as np
import pytest
from conftest import run_cli, runs_of
from mlflow.tracking import MlflowClient

from lstmlab.config import BulkConfig, FcnConfig, ModelConfig, NpzConfig, TaskKind
from lstmlab.data import DataError
from lstmlab.data.npz import load as load_npz
from lstmlab.data.splits import prepare
from lstmlab.evaluation.regression import RegressionEvaluation, item_losses
from lstmlab.models import build_model
from lstmlab.models.blocks import in_target_units
from lstmlab.training.loops import train


def _npz(tmp_path, per_timestep=False, n=60, seed=0, y=None, lengths=None):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8, 2))
    if y is None:
        y = np.cumsum(x[..., 0], axis=1) * 3 + 5 if per_timestep else x[..., 0].sum(1) * 2 + 7
    path = tmp_path / "r.npz"
    arrays = {"x": x, "y": y}
    if lengths is not None:
        arrays["lengths"] = lengths
    np.savez(path, **arrays)
    return path


def _dataset(path, **keys):
    cfg = NpzConfig(kind="npz", path=str(path), **keys)
    return prepare(load_npz(cfg), cfg, seed=0)


def test_float_targets_make_a_regression_scaled_on_the_training_split_only(tmp_path):
    path = _npz(tmp_path)
    data = _dataset(path, validation=0.25, test=0.2)
    assert data.task.regression and data.task.n_outputs == 1 and data.classes == []
    raw = np.load(path)["y"]
    mean, std = data.target_scale
    # The statistics are the training split's: its targets are mean 0, deviation 1...
    assert abs(float(data.train.y.mean())) < 1e-6 and abs(float(data.train.y.std()) - 1) < 1e-5
    # ...and the other splits are scaled with them, not with their own.
    assert not np.isclose(mean, raw.mean())
    back = data.test.y.astype(np.float64) * std + mean
    assert np.isin(np.round(back, 4), np.round(raw, 4)).all()
    assert abs(float(data.validation.y.mean())) > 1e-3


def test_dataset_task_says_it_whatever_the_labels(tmp_path):
    whole = _npz(tmp_path, y=np.arange(60) % 7 * 1.0)  # whole numbers: classes by default
    assert not _dataset(whole).task.regression
    assert _dataset(whole, task=TaskKind.regression).task.regression
    real = _npz(tmp_path)
    with pytest.raises(DataError, match="continuous values"):
        _dataset(real, task=TaskKind.classification)


def test_per_timestep_targets_of_varying_lengths(tmp_path):
    lengths = np.random.default_rng(1).integers(4, 9, 60)
    data = _dataset(_npz(tmp_path, per_timestep=True, lengths=lengths))
    assert data.task.regression and data.task.per_timestep and data.task.masked
    assert data.train.y.dtype == np.float32
    assert (data.train.y[~data.train.mask] == 0).all()  # padded steps carry no target
    real = data.train.y[data.train.mask]
    assert abs(float(real.mean())) < 1e-5 and abs(float(real.std()) - 1) < 1e-4


def test_a_nan_target_is_one_line_naming_it(tmp_path):
    y = np.random.default_rng(0).normal(size=60)
    y[17] = np.nan
    with pytest.raises(DataError, match=r"NaN or infinite target\(s\), the first of sequence 17"):
        _dataset(_npz(tmp_path, y=y), task=TaskKind.regression)


@pytest.mark.parametrize(
    ("cfg", "per_timestep"),
    [
        (ModelConfig(units=4), False),
        (ModelConfig(units=4), True),
        (FcnConfig(filters=[4, 8, 4], loss=None), False),
    ],
)
def test_the_compiled_loop_matches_plain_train_on_batch(tmp_path, cfg, per_timestep):
    lengths = np.random.default_rng(2).integers(5, 9, 60)
    data = _dataset(_npz(tmp_path, per_timestep=per_timestep, lengths=lengths), validation=0.0)
    keras.utils.set_random_seed(0)
    fast, plain = build_model(cfg, data.task), build_model(cfg, data.task)
    plain.set_weights(fast.get_weights())
    sched = BulkConfig(epochs=3, batch_size=8, chunk=4, jit=True)
    a = train(fast, data.task, sched, data, np.random.default_rng(3))
    b = train(plain, data.task, replace(sched, fast=False), data, np.random.default_rng(3))
    assert a.steps == b.steps > 0
    np.testing.assert_allclose(a.losses, b.losses, rtol=1e-4, atol=1e-5)
    # The step metric is the batch RMSE over real steps: the square root of the MSE loss.
    np.testing.assert_allclose(a.accs, np.sqrt(a.losses), rtol=1e-4)
    if isinstance(cfg, ModelConfig):  # no batch norm: the plain path's RMSE is the same
        np.testing.assert_allclose(a.accs, b.accs, rtol=1e-3, atol=1e-4)
    x = data.test.x
    np.testing.assert_allclose(fast(x), plain(x), atol=1e-3)


def test_metrics_and_the_mean_baseline_by_hand():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    result = RegressionEvaluation(0.1, y, np.array([1.0, 2.0, 3.0, 5.0]), np.ones(4, bool),
                                  False, mean=2.0)  # fmt: skip
    m = result.metrics("test")
    assert m["test_rmse"] == pytest.approx(0.5)  # sqrt(1 / 4)
    assert m["test_mae"] == pytest.approx(0.25)
    assert m["test_r2"] == pytest.approx(1 - 1 / 5)  # SSE 1, SST 5
    assert m["mean_test_rmse"] == pytest.approx(np.sqrt(6 / 4))  # errors 1, 0, 1, 2
    assert m["test_skill"] == pytest.approx(1 - 0.5 / np.sqrt(1.5))
    assert "mean_val_rmse" not in result.metrics("val")


@pytest.mark.parametrize(("kind", "keras_loss"), [
    ("MeanSquaredError", keras.losses.MeanSquaredError()),
    ("MeanAbsoluteError", keras.losses.MeanAbsoluteError()),
    ("Huber", keras.losses.Huber()),
])  # fmt: skip
def test_each_loss_as_keras_computes_it(kind, keras_loss):
    rng = np.random.default_rng(0)
    y, p = rng.normal(size=50), rng.normal(size=50) * 2
    ours = item_losses(kind, y, p).mean()
    theirs = float(keras_loss(y[:, None].astype(np.float32), p[:, None].astype(np.float32)))
    assert ours == pytest.approx(theirs, rel=1e-5)


def test_the_served_model_is_in_the_targets_units(tmp_path):
    data = _dataset(_npz(tmp_path))
    keras.utils.set_random_seed(0)
    model = build_model(ModelConfig(units=3), data.task)
    served = in_target_units(model, data.task, (7.5, 2.0))
    x = data.test.x
    np.testing.assert_allclose(served(x), np.asarray(model(x)) * 2.0 + 7.5, rtol=1e-6)
    served.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded(x), served(x), rtol=1e-6)


TINY = ["dataset=npz", "model=lstm", "model.units=8", "schedule=bulk", "schedule.epochs=30",
        "schedule.batch_size=16", "eval.show=0", "dataset.validation=0.2",
        "eval.every_epoch=true"]  # fmt: skip


@pytest.mark.slow
def test_a_regression_run_through_the_cli(tmp_path, store):
    path = _npz(tmp_path, n=200)
    proc = run_cli(tmp_path, *TINY, f"dataset.path={path}", "model.loss=huber",
                   "schedule.early_stopping.patience=5", "schedule.early_stopping.monitor=val_rmse",
                   f"tracking.uri={store}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = runs_of(store, "lstmlab")
    m, client = run.data.metrics, MlflowClient(store)
    assert run.info.status == "FINISHED" and run.data.params["data.task"] == "regression"
    assert {"test_rmse", "test_mae", "test_r2", "val_rmse", "mean_test_rmse", "test_skill",
            "train_rmse"} <= set(m)  # fmt: skip
    assert "test_acc" not in m and "val_acc" not in m
    # Trained, it beats predicting the mean (the targets are a sum of the inputs).
    assert m["test_rmse"] < m["mean_test_rmse"] and m["test_skill"] > 0.3
    assert m["test_skill"] == pytest.approx(1 - m["test_rmse"] / m["mean_test_rmse"])
    files = {a.path for a in client.list_artifacts(run.info.run_id, "dataset")}
    assert "dataset/target_scale.json" in files
    # The logged model predicts in the target's units: what the run's predictions say.
    saved = np.load(client.download_artifacts(run.info.run_id, "predictions/test.npz",
                                              str(tmp_path)))  # fmt: skip
    assert saved["y"].shape == saved["yhat"].shape
    rmse = float(np.sqrt(np.mean((saved["y"] - saved["yhat"]) ** 2)))
    assert rmse == pytest.approx(m["test_rmse"], rel=1e-5)
    (output,) = run.outputs.model_outputs
    mlflow.set_tracking_uri(store)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{output.model_id}")
    raw = np.load(path)
    served = np.asarray(pyfunc.predict(raw["x"][:5].astype(np.float32)))[:, 0]
    assert np.abs(served - raw["y"][:5]).mean() < 3 * m["test_mae"] + 1.0
    assert abs(served.mean() - raw["y"].mean()) < 3 * raw["y"].std()  # not standardised


@pytest.mark.parametrize(("extra", "key", "rule"), [
    (["schedule.early_stopping.patience=3", "schedule.early_stopping.monitor=val_acc"],
     "schedule.early_stopping.monitor=val_acc", "is a regression: watch val_loss or val_rmse"),
    (["dataset.task=classification"], "r.npz", "continuous values"),
])  # fmt: skip
def test_keys_of_the_other_kind_of_task_are_one_line(tmp_path, store, extra, key, rule):
    path = _npz(tmp_path, n=40)
    proc = run_cli(tmp_path, *TINY, f"dataset.path={path}", *extra, f"tracking.uri={store}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("lstmlab: error:")]
    assert key in line and rule in line
    assert "Traceback" not in proc.stderr
    client = MlflowClient(store)
    exp = client.get_experiment_by_name("lstmlab")
    assert exp is None or not client.search_runs([exp.experiment_id])


def test_a_regression_loss_on_classes_is_refused(compose_cfg):
    from lstmlab.config import ConfigError, to_settings
    from lstmlab.data import Task

    settings = to_settings(compose_cfg("model=lstm", "model.loss=mae"))
    task = Task("c", timesteps=5, features=1, classes=3, per_timestep=False)
    with pytest.raises(ConfigError, match="model.loss=mae: only for regression"):
        build_model(settings.model, task)


@pytest.mark.slow
def test_a_regression_sweep_its_report_and_the_registered_best(tmp_path, store):
    import subprocess
    import sys
    from pathlib import Path

    path = _npz(tmp_path, n=120)
    proc = run_cli(tmp_path, "-m", "dataset=npz", f"dataset.path={path}", "model=lstm",
                   "model.units=2,8", "seed=0,1", "schedule=bulk", "schedule.epochs=8",
                   "eval.show=0", "tracking.report=true", f"tracking.uri={store}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (head,) = [x for x in proc.stdout.splitlines() if x.startswith("configuration")]
    assert "test_rmse" in head and "test_skill" in head and "test_acc" not in head
    runs = [r for r in runs_of(store, "lstmlab") if "test_rmse" in r.data.metrics]
    assert len(runs) == 4
    best = min(runs, key=lambda r: r.data.metrics["test_rmse"])
    done = subprocess.run(
        [str(Path(sys.executable).parent / "lstmlab-register"), "--name", "reg",
         "--metric", "test_rmse", "--uri", store],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert best.info.run_id in done.stdout and "the lowest of 4" in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("name", ["Covid3Month", "CardanoSentiment"])
def test_the_archive_regression_preset_on_the_sets_aeon_ships(tmp_path, store, name):
    proc = run_cli(tmp_path, "experiment=archive_regression", f"dataset.name={name}",
                   "schedule.epochs=2", "model.units=4", "tracking.log_model=false",
                   f"tracking.uri={store}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = runs_of(store, "lstmlab")
    assert run.data.params["data.task"] == "regression"
    assert run.data.params["dataset.name"] == name
    m = run.data.metrics
    # The archive's own test split (Covid3Month: 61 series, CardanoSentiment: 33).
    assert run.data.params["data.test"] == {"Covid3Month": "61", "CardanoSentiment": "33"}[name]
    assert m["mean_test_rmse"] > 0 and np.isfinite(m["test_rmse"]) and "test_skill" in m


def test_the_running_sum_as_a_per_timestep_regression_through_the_cli(tmp_path, store):
    """dataset=cumsum with dataset.task=regression: the generator's fresh sequences, the
    running sum itself the target of every step, the mean baseline as eval metrics."""
    proc = run_cli(tmp_path, "dataset.task=regression", "model=lstm", "model.units=8",
                   "schedule.epochs=400", "schedule.batch_size=8", "eval.show=0",
                   f"tracking.uri={store}", "tracking.experiment=sums")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = runs_of(store, "sums")
    m = run.data.metrics
    assert (
        run.data.params["data.task"] == "regression"
        and run.data.params["data.per_timestep"] == "True"
    )
    assert {
        "eval_rmse",
        "eval_mae",
        "eval_r2",
        "mean_eval_rmse",
        "eval_skill",
        "train_rmse",
    } <= set(m)
    assert "eval_acc" not in m
    # The running sum of uniform inputs is what an LSTM learns at once: well above the mean.
    assert m["eval_skill"] > 0.3 and m["eval_rmse"] < m["mean_eval_rmse"]


def test_the_echo_problem_is_not_a_regression(compose_cfg):
    from lstmlab.config import ConfigError, to_settings

    with pytest.raises(ConfigError, match="dataset.task=regression: the echo problem's label"):
        to_settings(compose_cfg("experiment=echo", "dataset.task=regression"))


def test_instance_normalisation_scales_every_sequence_on_its_own(tmp_path):
    """dataset.normalize=instance: per sequence and feature, mean 0 and deviation 1 over its
    real timesteps; padded steps untouched (they stay the pad value)."""
    from lstmlab.config import Normalize

    rng = np.random.default_rng(4)
    lengths = rng.integers(3, 9, size=40)
    path = _npz(tmp_path, n=40, lengths=lengths)
    data = _dataset(path, normalize=Normalize.instance, test=0.25)
    for seqs in (data.train, data.test):
        for x, m in zip(seqs.x, seqs.mask, strict=True):
            real = x[m]
            np.testing.assert_allclose(real.mean(axis=0), 0, atol=1e-5)
            np.testing.assert_allclose(real.std(axis=0), 1, atol=1e-4)
            assert (x[~m] == 0).all()
    assert data.normalization is None  # nothing fitted on a split: no statistics to log
