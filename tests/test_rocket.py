"""model=rocket: ROCKET's kernels drawn as the paper draws them, its features against a direct
transcription of aeon's kernel loop, padding never changing a feature, the ridge head against
sklearn's own pipeline, and runs through the CLI (regression on Covid3Month, classification
on GunPoint) whose logged model pyfunc serves."""

from __future__ import annotations

import keras
import mlflow
import numpy as np
import pytest
from conftest import run_cli, runs_of
from mlflow.tracking import MlflowClient

from lstmlab.config import RocketConfig, to_settings
from lstmlab.data import Dataset, Sequences, Task
from lstmlab.models import build_model, rocket
from lstmlab.training import ridge


def _task(steps=30, features=2, classes=0, masked=False) -> Task:
    return Task("t", timesteps=steps, features=features, classes=classes, per_timestep=False,
                masked=masked, regression=classes == 0)  # fmt: skip


def _reference(x: np.ndarray, groups) -> np.ndarray:
    """ROCKET's features of one sequence x (T, F), kernel by kernel, as aeon's
    _apply_kernel_multivariate computes them: padding p each side, the output at every
    position i in [-p, T + p - (length - 1) * dilation), PPV = positives / outputs, max."""
    steps = len(x)
    out = []
    for g in groups:
        length, dilation = g["length"], g["dilation"]
        n = len(g["biases"])
        for kernels, pad in ((range(g["padded"]), True), (range(g["padded"], n), False)):
            ppv, top = [], []
            for k in kernels:
                p = (length - 1) * dilation // 2 if pad else 0
                values = []
                for i in range(-p, steps + p - (length - 1) * dilation):
                    s = g["biases"][k]
                    for j in range(length):
                        if 0 <= i + j * dilation < steps:
                            s += g["weights"][j, :, k] @ x[i + j * dilation]
                    values.append(s)
                ppv.append(np.mean(np.array(values) > 0) if values else 0.0)
                top.append(max(values) if values else 0.0)
            if len(kernels):
                out += [ppv, top]
    return np.concatenate(out)


def test_kernels_are_drawn_as_rocket_draws_them():
    task = _task(steps=84, features=3)
    groups = rocket.draw_kernels(task, 2000, seed=0)
    assert sum(len(g["biases"]) for g in groups) == 2000
    assert {g["length"] for g in groups} == {7, 9, 11}
    dilations = {g["dilation"] for g in groups}
    assert min(dilations) == 1 and max(dilations) > 8
    for g in groups:
        # The window of every kernel fits in the series: (length - 1) x dilation <= T - 1.
        assert (g["length"] - 1) * g["dilation"] <= task.timesteps - 1
        w = g["weights"]  # (length, channels, k): each used channel centred, others zero
        assert np.allclose(w.sum(axis=0), 0, atol=1e-5)
        used = (np.abs(w).sum(axis=0) > 0).sum(axis=0)
        assert used.min() >= 1 and used.max() <= 3
        assert np.all(np.abs(g["biases"]) <= 1)
    padded = sum(g["padded"] for g in groups)
    assert 800 < padded < 1200  # even odds
    again = rocket.draw_kernels(task, 2000, seed=0)
    other = rocket.draw_kernels(task, 2000, seed=1)
    assert all(
        np.array_equal(a["weights"], b["weights"]) for a, b in zip(groups, again, strict=True)
    )
    assert not all(
        a["weights"].shape == b["weights"].shape and np.array_equal(a["weights"], b["weights"])
        for a, b in zip(groups, other, strict=False)
    )


def _features(model, x):
    return ridge.features(model, x.astype(np.float32))


@pytest.mark.parametrize("features", [1, 3])
def test_features_are_rockets(features):
    task = _task(steps=25, features=features)
    model = build_model(RocketConfig(kernels=40), task, seed=3)
    x = np.random.default_rng(0).normal(size=(3, 25, features))
    got = _features(model, x)
    groups = rocket.draw_kernels(task, 40, seed=3)
    assert got.shape == (3, 80)
    for i in range(3):
        np.testing.assert_allclose(got[i], _reference(x[i], groups), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("padding", ["post", "pre"])
def test_padding_never_changes_a_feature(padding):
    """A sequence of 13 steps padded to 30 has the features ROCKET computes on the 13 steps
    alone (with the same kernels): padded kernels read zeros past its ends, unpadded ones
    pool only windows inside it, and windows longer than it give (0, 0)."""
    task = _task(steps=30, features=2, masked=True)
    model = build_model(RocketConfig(kernels=60), task, seed=1)
    rng = np.random.default_rng(2)
    short, full = rng.normal(size=(13, 2)) + 0.5, rng.normal(size=(30, 2))
    pad = np.zeros((17, 2))
    padded = np.concatenate([short, pad] if padding == "post" else [pad, short])
    got = _features(model, np.stack([padded, full]))
    groups = rocket.draw_kernels(task, 60, seed=1)
    np.testing.assert_allclose(got[0], _reference(short, groups), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got[1], _reference(full, groups), rtol=1e-4, atol=1e-4)


def _dataset(task, x, y, xt, yt) -> Dataset:
    mask = np.ones(x.shape[:2], bool)
    return Dataset(task, Sequences(xt, yt, np.ones(xt.shape[:2], bool)), [], [],
                   train=Sequences(x, y, mask))  # fmt: skip


@pytest.mark.parametrize("classes", [0, 2, 4])
def test_the_ridge_head_is_sklearns_pipeline(classes):
    """The Keras model's outputs after the fit equal aeon's recipe on its features:
    make_pipeline(StandardScaler(with_mean=False), RidgeCV / RidgeClassifierCV)."""
    from sklearn.linear_model import RidgeClassifierCV, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    task = _task(steps=20, features=1, classes=classes)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(60, 20, 1)).astype(np.float32)
    xt = rng.normal(size=(25, 20, 1)).astype(np.float32)
    signal = lambda a: a[:, :10, 0].mean(axis=1) - a[:, 10:, 0].mean(axis=1)  # noqa: E731
    if classes:
        cut = np.quantile(signal(x), np.linspace(0, 1, classes + 1)[1:-1])
        y, yt = np.digitize(signal(x), cut), np.digitize(signal(xt), cut)
    else:
        y, yt = signal(x).astype(np.float32), signal(xt).astype(np.float32)
    cfg = RocketConfig(kernels=100)
    model = build_model(cfg, task, seed=0)
    training, alpha = ridge.fit(model, task, _dataset(task, x, y, xt, yt),
                                np.random.default_rng(0), cfg.alphas)  # fmt: skip
    assert alpha in cfg.alphas and training.steps == 1
    f, ft = _features(model, x), _features(model, xt)
    estimator = RidgeCV(alphas=cfg.alphas) if not classes else RidgeClassifierCV(alphas=cfg.alphas)
    pipeline = make_pipeline(StandardScaler(with_mean=False), estimator).fit(f, y)
    assert pipeline[-1].alpha_ == alpha
    out = np.asarray(model(xt))
    if classes:
        np.testing.assert_array_equal(task.decode(out), pipeline.predict(ft))
        assert training.accs[0] == pytest.approx(np.mean(pipeline.predict(f) == y))
    else:
        np.testing.assert_allclose(out[:, 0], pipeline.predict(ft), rtol=1e-3, atol=1e-4)


def test_covid3month_through_the_cli_logs_a_served_model(tmp_path, store, compose_cfg):
    """experiment=archive_rocket as a user runs it (few kernels): found by its experiment,
    the ridge's penalty and the mean baseline logged, no loss curve, and the logged model
    predicting what the run's predictions say, in the target's units."""
    args = ["experiment=archive_rocket", "model.kernels=300", "seed=2"]
    proc = run_cli(tmp_path, *args, f"tracking.uri={store}", "tracking.experiment=rocket")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "by ridge regression" in proc.stdout
    (run,) = runs_of(store, "rocket")
    m, client = run.data.metrics, MlflowClient(store)
    assert run.info.status == "FINISHED" and run.data.params["model.kind"] == "rocket"
    assert m["ridge_alpha"] in RocketConfig().alphas
    assert 0 < m["test_rmse"] < 0.06 and m["mean_test_rmse"] == pytest.approx(0.0447, abs=1e-4)
    assert {"train_rmse", "test_mae", "test_r2", "test_skill"} <= set(m)
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert "loss_curve.png" not in names
    saved = np.load(client.download_artifacts(run.info.run_id, "predictions/test.npz",
                                              str(tmp_path)))  # fmt: skip
    from lstmlab.experiment import load_data

    data = load_data(to_settings(compose_cfg(*args)))
    (output,) = run.outputs.model_outputs
    mlflow.set_tracking_uri(store)
    served = mlflow.pyfunc.load_model(f"models:/{output.model_id}").predict(data.test.x)
    np.testing.assert_allclose(np.asarray(served)[:, 0], saved["yhat"], rtol=1e-4, atol=1e-6)


def test_gunpoint_classification_through_the_cli(tmp_path, store):
    proc = run_cli(tmp_path, "experiment=archive_rocket", "dataset.name=GunPoint",
                   "model.kernels=500", "tracking.log_model=false",
                   f"tracking.uri={store}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = runs_of(store, "lstmlab")
    m = run.data.metrics
    assert m["test_acc"] > 0.85 and "test_f1_macro" in m and "train_acc" in m
    files = {a.path for a in MlflowClient(store).list_artifacts(run.info.run_id)}
    assert "confusion_matrix.png" in files


@pytest.mark.parametrize(("args", "key", "rule"), [
    (["model.kernels=0"], "model.kernels=0", "must be"),
    (["model.alphas=[1,-1]"], "model.alphas", "each > 0"),
    (["schedule.early_stopping.patience=3", "dataset.validation=0.2"],
     "schedule.early_stopping.patience=3", "closed form"),
    (["schedule.lr_schedule=cosine"], "schedule.lr_schedule=cosine", "closed form"),
    (["dataset=cumsum"], "model=rocket", "one label per timestep"),
])  # fmt: skip
def test_bad_input_is_one_line_and_logs_nothing(tmp_path, store, args, key, rule):
    base = [] if args == ["dataset=cumsum"] else ["experiment=archive_rocket"]
    model = ["model=rocket"] if not base else []
    proc = run_cli(tmp_path, *base, *model, *args, f"tracking.uri={store}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("lstmlab: error:")]
    assert key in line and rule in line
    client = MlflowClient(store)
    assert not [
        r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])
    ]


def test_a_saved_rocket_loads_with_its_kernels(tmp_path):
    task = _task(steps=16, features=2, classes=3)
    model = build_model(RocketConfig(kernels=20), task, seed=4)
    model.save(tmp_path / "r.keras")
    loaded = keras.saving.load_model(tmp_path / "r.keras")
    x = np.random.default_rng(1).normal(size=(2, 16, 2)).astype(np.float32)
    np.testing.assert_allclose(_features(loaded, x), _features(model, x), rtol=1e-6)


def test_the_archive_recipe_fits_rocket_on_the_whole_training_split(compose_cfg):
    """experiment=archive takes the held-out share from the model's recipe: 20% for the deep
    families, none for ROCKET (leave-one-out picks its penalty), and ROCKET's epoch-wise
    validation flag does not ask for a split it will not use."""
    from lstmlab.config import validate

    rocket_run = to_settings(compose_cfg("experiment=archive", "model=rocket"))
    validate(rocket_run)
    assert rocket_run.dataset.validation == 0.0 and rocket_run.eval.every_epoch
    fcn_run = to_settings(compose_cfg("experiment=archive", "model=fcn"))
    assert fcn_run.dataset.validation == 0.2
    from omegaconf import OmegaConf

    from lstmlab.config import CONF_DIR

    preset = OmegaConf.load(CONF_DIR / "experiment" / "archive_benchmark.yaml")
    assert "rocket" in preset.hydra.sweeper.params.model.split(",")


def test_rocket_forecasts_windows_of_a_series(tmp_path, store):
    """dataset=series: ROCKET's features of each look-back window, a ridge head for the
    horizon, the forecast inverted and judged beside the baselines like any model's."""
    proc = run_cli(tmp_path, "dataset=series", "dataset.name=Airline", "dataset.lookback=12",
                   "dataset.horizon=2", "dataset.test=24", "dataset.log=true", "model=rocket",
                   "model.kernels=200", "schedule=bulk", "tracking.log_model=false",
                   f"tracking.uri={store}", "tracking.experiment=air")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = runs_of(store, "air")
    m = run.data.metrics
    assert {
        "test_rmse",
        "test_rmse_h1",
        "naive_test_rmse",
        "snaive_test_rmse",
        "test_skill",
    } <= set(m)
    # Better than persistence on a trending, seasonal series, even with 200 kernels.
    assert m["test_rmse"] < m["naive_test_rmse"]
