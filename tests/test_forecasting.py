"""Forecasting (dataset=series): transforms inverted exactly and from the origin only, parts
in time order with no window forecasting a later part's step and the scaler blind to the
test part, windows with features known ahead, the baselines and metrics against hand-computed
cases, the backtest folds, one-line errors for bad series, and the presets through the CLI,
found in the store as a user finds them."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run_cli, runs_of
from mlflow.tracking import MlflowClient

from lstmlab.config import Scale, ScaleOn, SeriesConfig
from lstmlab.data import DataError, series, windows
from lstmlab.data.transforms import Transform, fit_scale
from lstmlab.evaluation import baselines
from lstmlab.evaluation.forecasting import ForecastEvaluation, errors


def _monthly(tmp_path, n=60, name="s.csv", seed=0, **columns):
    """A monthly CSV: a trend, a yearly cycle and noise, plus the columns given."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = 100 + 2 * t + 15 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 2, n)
    frame = pd.DataFrame({"month": pd.date_range("2000-01-01", periods=n, freq="MS")
                          .strftime("%Y-%m"), "sales": y, **columns})  # fmt: skip
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def _cfg(path=None, **keys) -> SeriesConfig:
    base = {"time_column": "month", "target": "sales"} if path is not None else {}
    return SeriesConfig(path=None if path is None else str(path), **{**base, **keys})


def _data(cfg: SeriesConfig):
    return windows.prepare(series.load(cfg), cfg)


@pytest.mark.parametrize("keys", [
    {}, {"log": True}, {"difference": True}, {"season": 12},
    {"log": True, "difference": True, "season": 12},
])  # fmt: skip
@pytest.mark.parametrize("scale", list(Scale))
def test_every_transform_inverts_exactly_from_the_origin(keys, scale):
    rng = np.random.default_rng(1)
    z = 50 + np.cumsum(rng.uniform(0.5, 2, size=(80, 2)), axis=0)
    t = Transform(keys.get("log", False), keys.get("difference", False), keys.get("season", 0))
    t.center, t.spread = fit_scale(scale, t.unscaled(z)[t.lost : 60])
    w = t.forward(z)
    origins = np.arange(t.lost + 3, 80 - 5)
    H = 5
    steps = origins[:, None] + np.arange(1, H + 1)
    back = t.invert(w[steps], origins, z)
    np.testing.assert_allclose(back, z[steps], rtol=1e-12)
    # From the origin only: what comes after it can change without changing the inversion.
    later = z.copy()
    later[origins[0] + 1 :] *= 7.0
    first = t.invert(w[steps[:1]], origins[:1], later)
    np.testing.assert_allclose(first, z[steps[:1]], rtol=1e-12)


def test_scales_as_scikit_learn_does():
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    values = np.random.default_rng(2).normal(3, 4, size=(30, 3))
    for kind, scaler in ((Scale.zscore, StandardScaler()), (Scale.minmax, MinMaxScaler())):
        center, spread = fit_scale(kind, values)
        np.testing.assert_allclose((values - center) / spread, scaler.fit_transform(values),
                                   atol=1e-12)  # fmt: skip


def test_parts_in_time_order_and_no_window_forecasts_a_later_part(tmp_path):
    path = _monthly(tmp_path, n=60)
    data = _data(_cfg(path, lookback=6, horizon=3, test=12, validation=9, stride=2, season=12,
                      seasonal_difference=True))  # fmt: skip
    f = data.forecast
    lo, hi = f.bounds[0]
    assert (lo, hi) == (39, 48)
    train, val, test = (f.splits[s].origins for s in ("train", "validation", "test"))
    # Forecast steps (origin + 1 .. origin + H) inside their own part, all of them.
    assert train.max() + 3 <= lo - 1 and train.min() >= 12 + 6 - 1
    assert val.min() + 1 >= lo and val.max() + 3 <= hi - 1
    assert test.min() + 1 == hi and test.max() + 3 == 59
    assert (np.diff(train) == 2).all() and train.max() == lo - 4  # stride, from the last
    assert len(val) == 9 - 3 + 1 and len(test) == 12 - 3 + 1
    assert data.task.values == 3 and data.train.y.shape == (len(train), 3)
    # What each training window fits is the transformed series at its forecast steps.
    w = f.transforms[0].forward(f.table.y[0])[:, 0]
    np.testing.assert_allclose(data.train.y, w[train[:, None] + np.arange(1, 4)], rtol=1e-5)


def test_the_scaler_never_sees_the_test_part_unless_told_to(tmp_path):
    """A test that would catch a leak: change only the test part's values; the training
    windows stay the same, unless dataset.scale_on=all (the airline tutorial's scaler)."""
    a = _monthly(tmp_path, n=48, name="a.csv")
    import pandas as pd

    frame = pd.read_csv(a)
    frame.loc[36:, "sales"] *= 3
    b = tmp_path / "b.csv"
    frame.to_csv(b, index=False)
    for scale_on, same in ((ScaleOn.train, True), (ScaleOn.all, False)):
        x = [_data(_cfg(p, lookback=4, test=12, scale=Scale.minmax, scale_on=scale_on,
                        season=12)).train.x for p in (a, b)]  # fmt: skip
        assert np.array_equal(x[0], x[1]) is same
    leaky = _data(_cfg(b, lookback=4, test=12, scale=Scale.minmax, scale_on=ScaleOn.all))
    assert leaky.forecast.leak and leaky.forecast.as_json()["fitted_on"].startswith("whole")


def test_windows_read_features_known_ahead_and_past_ones_up_to_the_origin(tmp_path):
    n = 40
    promo = (np.arange(n) % 5 == 0).astype(float)
    temp = np.arange(n, dtype=float)
    path = _monthly(tmp_path, n=n, promo=promo, temp=temp)
    data = _data(_cfg(path, lookback=4, horizon=2, test=6, season=12, scale=Scale.none,
                      features=["promo"], past_features=["temp"]))  # fmt: skip
    x, win = data.test.x, data.forecast.splits["test"]
    # lookback + horizon steps; channels: sales, temp (past), promo (ahead), a known flag.
    assert x.shape[1:] == (6, 4) and data.task.timesteps == 6
    t = int(win.origins[0])
    np.testing.assert_array_equal(x[0, :4, 1], temp[t - 3 : t + 1])
    np.testing.assert_array_equal(x[0, 4:, 1], 0)  # a past feature's future is not read
    np.testing.assert_array_equal(x[0, :, 2], promo[t - 3 : t + 3])
    np.testing.assert_array_equal(x[0, :, 3], [1, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(x[0, 4:, 0], 0)  # nor the target's


def test_many_series_by_an_id_column_each_split_and_scaled_on_its_own(tmp_path):
    import pandas as pd

    a, b = _monthly(tmp_path, n=36, name="a.csv"), _monthly(tmp_path, n=30, name="b.csv", seed=3)
    frame = pd.concat([pd.read_csv(a).assign(shop="a"),
                       pd.read_csv(b).assign(shop="b", sales=lambda d: d.sales * 10)])  # fmt: skip
    path = tmp_path / "shops.csv"
    frame.to_csv(path, index=False)
    data = _data(_cfg(path, id_column="shop", lookback=3, test=6, season=12))
    f = data.forecast
    assert f.table.ids == ["a", "b"] and f.bounds == [(30, 30), (24, 24)]
    assert set(f.splits["test"].series) == {0, 1} and len(data.test) == 12
    assert f.transforms[1].center[0] > 5 * f.transforms[0].center[0]
    np.testing.assert_allclose(f.invert("test", data.test.y), f.actual("test")[:, :, 0:1]
                               .reshape(-1, 1, 1), rtol=1e-5)  # fmt: skip


def test_baselines_and_metrics_by_hand():
    z = np.array([[1.0], [2.0], [4.0], [3.0], [5.0], [6.0], [8.0]])
    origins = np.array([3, 4])
    np.testing.assert_array_equal(baselines.naive(z, origins, 2)[:, :, 0], [[3, 3], [5, 5]])
    # Season 2: step 1 repeats origin - 1, step 2 the origin; step 3 origin - 1 again.
    np.testing.assert_array_equal(baselines.seasonal_naive(z, origins, 3, 2)[:, :, 0],
                                  [[4, 3, 4], [3, 5, 3]])  # fmt: skip
    # Drift from z[0] = 1: slope (3 - 1) / 3 at origin 3, (5 - 1) / 4 at origin 4.
    np.testing.assert_allclose(baselines.drift(z, origins, 2)[:, :, 0],
                               [[3 + 2 / 3, 3 + 4 / 3], [6, 7]])  # fmt: skip
    # In-sample seasonal naive MAE (season 1) over z[:5]: |1|, |2|, |-1|, |2| -> 1.5.
    assert baselines.seasonal_scale(z, 5, 1)[0] == pytest.approx(1.5)
    y, yhat = np.array([2.0, 4.0, 0.0]), np.array([3.0, 2.0, 0.0])
    got = errors(y, yhat, 1.5)
    assert got["rmse"] == pytest.approx(np.sqrt(5 / 3))
    assert got["mae"] == pytest.approx(1.0)
    assert got["mape"] == pytest.approx(100 * (0.5 + 0.5) / 2)  # the 0 target left out
    assert got["smape"] == pytest.approx(100 * (2 / 5 + 4 / 6 + 0) / 3)
    assert got["mase"] == pytest.approx(1.0 / 1.5)


def test_the_backtest_folds_cover_the_test_windows_in_time_order():
    n = 10
    y = np.arange(n, dtype=float).reshape(n, 1, 1)
    ev = ForecastEvaluation(0.0, y, y + np.arange(n).reshape(n, 1, 1), np.ones((n, 1, 1)),
                            np.zeros(n, int), np.arange(100, 100 + n),
                            {"naive": y + 1})  # fmt: skip
    folds = ev.backtest(3)
    assert [f["origin"] for f in folds] == [100, 104, 107]
    assert [f["windows"] for f in folds] == [4, 3, 3]
    assert folds[0]["rmse"] == pytest.approx(np.sqrt(np.mean(np.arange(4) ** 2)))
    assert all(f["naive_rmse"] == pytest.approx(1.0) for f in folds)
    m = ev.metrics("test")
    assert m["test_skill"] == pytest.approx(1 - m["test_rmse"] / m["naive_test_rmse"])


def test_the_airline_baselines_are_the_figures_the_issue_measured():
    """aeon's copy of the series, the tutorial's split (the last 48 of 144 months)."""
    data = _data(SeriesConfig(name="Airline", lookback=1, test=48))
    f, win = data.forecast, data.forecast.splits["test"]
    z, y = f.table.y[0], f.actual("test")
    rmse = {name: errors(y, make, 1.0)["rmse"] for name, make in (
        ("naive", baselines.naive(z, win.origins, 1)),
        ("snaive", baselines.seasonal_naive(z, win.origins, 1, 12)))}  # fmt: skip
    assert len(win.origins) == 48 and f.season == 12
    assert rmse == {"naive": pytest.approx(48.04, abs=0.005),
                    "snaive": pytest.approx(41.85, abs=0.005)}  # fmt: skip


@pytest.mark.parametrize(("name", "season", "steps"), [
    ("Airline", 12, 144), ("ShampooSales", 12, 36), ("Lynx", None, 114), ("Longley", None, 16),
    ("Uschange", 4, 187), ("PBS_dataset", 12, 204), ("solar", 48, 289),
])  # fmt: skip
def test_every_forecasting_set_aeon_ships_loads_offline_with_its_natural_season(
    name, season, steps
):
    """Months, quarters ("1970 Q1"), half hours with a time zone, plain years."""
    table = series.load(SeriesConfig(name=name))
    assert table.season == season and len(table.y[0]) == steps and table.targets
    assert series.AEON_SETS[name][0].split("/")[0] in table.sources[0].path


def _bad(tmp_path, body: str) -> str:
    path = tmp_path / "bad.csv"
    path.write_text(body)
    return str(path)


MONTHS = "".join(f"2000-{m:02d},{m}\n" for m in range(1, 13))
BAD = {
    "short": ("month,sales\n" + MONTHS, ["dataset.test=4", "dataset.lookback=8"],
              "12 steps are too short for dataset.lookback=8"),
    "gap": ("month,sales\n2000-01,1\n2000-02,2\n2000-04,3\n", [],
            "row 4 has a gap: '2000-04' follows '2000-02'"),
    "duplicate": ("month,sales\n2000-01,1\n2000-02,2\n2000-02,3\n", [],
                  "row 4 has a duplicate timestamp '2000-02'"),
    "order": ("month,sales\n2000-01,1\n2000-03,2\n2000-02,3\n", [],
              "row 4 has timestamp '2000-02' out of order"),
    "nan": ("month,sales\n" + MONTHS.replace("2000-05,5", "2000-05,"), [],
            "column 'sales' has no value (NaN or infinite) in row 6"),
    "horizon": ("month,sales\n" + MONTHS, ["dataset.test=2", "dataset.horizon=3"],
                "dataset.horizon=3: longer than the test part"),
    "season": ("year,sales\n" + "".join(f"{1900 + i},{i}\n" for i in range(30)),
               ["dataset.time_column=year"], "dataset.season: bad's time column has no natural"),
    "column": ("month,sales\n" + MONTHS, ["dataset.target=price"],
               "dataset.target: no column 'price'"),
    "val_acc": ("month,sales\n" + MONTHS * 1, ["dataset.test=2", "dataset.lookback=2",
                "dataset.validation=2", "schedule.early_stopping.patience=2",
                "schedule.batch_size=2",
                "schedule.early_stopping.monitor=val_acc"], "is a regression: watch val_loss"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
def test_bad_series_are_one_line_exit_2_and_nothing_logged(tmp_path, store, case):
    body, extra, message = BAD[case]
    proc = run_cli(tmp_path, "dataset=series", f"dataset.path={_bad(tmp_path, body)}",
                   "dataset.time_column=month", "dataset.target=sales", "schedule=bulk",
                   "eval.every_epoch=true" if case == "val_acc" else "eval.show=0",
                   *extra, f"tracking.uri={store}")  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("lstmlab: error:")]
    assert message in line, line
    assert "Traceback" not in proc.stderr
    client = MlflowClient(store)
    exp = client.get_experiment_by_name("lstmlab")
    assert exp is None or not client.search_runs([exp.experiment_id])


def test_config_keys_of_a_series_are_checked(compose_cfg):
    from lstmlab.config import ConfigError, to_settings

    for overrides, message in (
        (["dataset.test=1.5"], "dataset.test=1.5: must be a fraction in (0, 1) or a whole"),
        (["dataset.horizon=0"], "dataset.horizon=0: must be a positive integer"),
        (["dataset.season=0"], "dataset.season=0: must be 1 or more"),
        (["dataset.features=[a]", "dataset.past_features=[a]"], "dataset.past_features=a"),
        (["dataset.name=null"], "dataset.path=null: give a CSV file"),
        (["eval.backtest=1"], "eval.backtest=1: must be 0 (off) or 2 or more"),
    ):
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
            to_settings(compose_cfg("dataset=series", "dataset.name=Airline", *overrides))
    with pytest.raises(ConfigError, match="needs dataset=series"):
        to_settings(compose_cfg("eval.backtest=3"))
    with pytest.raises(DataError, match="not a forecasting set aeon ships"):
        series.load(SeriesConfig(name="Nope"))


TINY = ["schedule.epochs=2", "schedule.batch_size=16", "model.units=4", "eval.show=0"]


@pytest.mark.slow
def test_the_tutorial_and_lstmlab_presets_through_the_cli(tmp_path, store):
    presets = "airline_tutorial,airline,shampoo_tutorial,shampoo"
    proc = run_cli(tmp_path, "-m", f"experiment={presets}", *TINY, "eval.backtest=3",
                   f"tracking.uri={store}", "tracking.experiment=air")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = {r.data.params["choices.experiment"]: r for r in runs_of(store, "air")
             if "choices.experiment" in r.data.params}  # fmt: skip
    assert set(found) == set(presets.split(","))
    tutorial, ours = found["airline_tutorial"], found["airline"]
    client = MlflowClient(store)
    # The baselines the issue measured by hand, on each series' tutorial split.
    naive = {"Airline": (48.04, 41.85, 48), "ShampooSales": (136.76, 240.47, 12)}
    for run in found.values():
        m = run.data.metrics
        assert run.info.status == "FINISHED" and run.data.params["data.task"] == "forecasting"
        expected, seasonal, test_steps = naive[run.data.params["dataset.name"]]
        assert m["naive_test_rmse"] == pytest.approx(expected, abs=0.005)
        assert m["snaive_test_rmse"] == pytest.approx(seasonal, abs=0.005)
        assert {"test_rmse", "test_mae", "test_mape", "test_smape", "test_mase",
                "drift_test_rmse", "test_skill", "backtest_rmse_mean"} <= set(m)  # fmt: skip
        best = min(m[f"{b}_test_rmse"] for b in ("naive", "snaive", "drift"))
        assert m["test_skill"] == pytest.approx(1 - m["test_rmse"] / best)
        names = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"forecast.png", "backtest.json", "predictions"} <= names
        saved = np.load(client.download_artifacts(run.info.run_id, "predictions/test.npz",
                                                  str(tmp_path / run.info.run_id)))  # fmt: skip
        rmse = float(np.sqrt(np.mean((saved["y"] - saved["yhat"]) ** 2)))
        assert rmse == pytest.approx(m["test_rmse"], rel=1e-5)
        assert saved["y"].shape == (test_steps, 1, 1)
    assert tutorial.data.tags["lstmlab.leak"].startswith("dataset.scale_on=all")
    assert "lstmlab.leak" not in ours.data.tags
    assert "fitted on the test part too" in proc.stderr


@pytest.mark.slow
def test_a_multi_step_forecast_of_many_series_with_features(tmp_path, store):
    import pandas as pd

    frames = []
    for shop in ("a", "b"):
        n = 48
        promo = (np.arange(n) % 4 == 0).astype(float)
        path = _monthly(tmp_path, n=n, name=f"{shop}.csv", promo=promo)
        frames.append(pd.read_csv(path).assign(shop=shop))
    path = tmp_path / "shops.csv"
    pd.concat(frames).to_csv(path, index=False)
    proc = run_cli(tmp_path, "dataset=series", f"dataset.path={path}", "dataset.id_column=shop",
                   "dataset.time_column=month", "dataset.target=sales", "dataset.horizon=3",
                   "dataset.lookback=6", "dataset.test=9", "dataset.features=[promo]",
                   "dataset.difference=true", "schedule=bulk", "model=gru", *TINY,
                   f"tracking.uri={store}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = runs_of(store, "lstmlab")
    m, p = run.data.metrics, run.data.params
    assert p["data.horizon"] == "3" and p["data.series"] == "2" and p["data.timesteps"] == "9"
    assert {"test_rmse_h1", "test_mae_h1", "test_rmse"} <= set(m)
    saved = np.load(MlflowClient(store).download_artifacts(run.info.run_id,
                    "predictions/test.npz", str(tmp_path)))  # fmt: skip
    assert saved["yhat"].shape == (2 * (9 - 3 + 1), 3, 1)
    assert set(saved["series"]) == {0, 1}
