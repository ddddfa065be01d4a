"""Held-out metrics of a forecaster, in the target's units (every transform inverted from the
window's origin): RMSE, MAE, MAPE, sMAPE and MASE over the whole horizon, the same one step
ahead, and on the test part the naive, seasonal naive and drift forecasts of the same windows,
the baselines a forecast must beat (test_skill), with a rolling-origin backtest."""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np

from lstmlab.data import Dataset
from lstmlab.evaluation import baselines
from lstmlab.evaluation.outputs import predict
from lstmlab.evaluation.regression import item_losses

# Baselines by the prefix of their metrics.
BASELINES = ("naive", "snaive", "drift")


def errors(y: np.ndarray, yhat: np.ndarray, scale: np.ndarray) -> dict[str, float]:
    """Error measures of forecasts yhat of y (same shapes); scale: MASE's divisor, broadcast
    against them. MAPE leaves out targets of 0 (NaN when all are); sMAPE counts 0 against 0
    as no error."""
    err = np.asarray(yhat, np.float64) - y
    absolute = np.abs(err)
    nonzero = y != 0
    total = np.abs(y) + np.abs(yhat)
    return {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(absolute.mean()),
        "mape": float(100 * np.mean(absolute[nonzero] / np.abs(y[nonzero])))
        if nonzero.any()
        else float("nan"),
        "smape": float(100 * np.mean(2 * absolute / np.where(total > 0, total, np.inf))),
        "mase": float(np.mean(absolute / scale)),
    }


@dataclass
class ForecastEvaluation:
    loss: float  # the model's loss, in model (transformed, scaled) units
    y: np.ndarray  # (n, H, K) true values
    yhat: np.ndarray  # (n, H, K) forecasts
    scale: np.ndarray  # (n, 1, K) MASE's divisor per window's series
    series: np.ndarray
    origins: np.ndarray
    # Test part only: name -> (n, H, K) forecasts of the baselines.
    baselines: dict[str, np.ndarray] = field(default_factory=dict)

    def metrics(self, prefix: str) -> dict[str, float]:
        found = {f"{prefix}_loss": self.loss}
        found.update({f"{prefix}_{k}": v for k, v in errors(self.y, self.yhat, self.scale).items()})
        if self.y.shape[1] > 1:  # one step ahead, beside the whole horizon
            first = errors(self.y[:, :1], self.yhat[:, :1], self.scale)
            found.update({f"{prefix}_{k}_h1": first[k] for k in ("rmse", "mae")})
        best = np.inf
        for name, forecast in self.baselines.items():
            scores = errors(self.y, forecast, self.scale)
            for k in ("rmse", "mae", "mase"):
                found[f"{name}_{prefix}_{k}"] = scores[k]
            best = min(best, scores["rmse"])
        if self.baselines:
            found[f"{prefix}_skill"] = 1.0 - found[f"{prefix}_rmse"] / best if best > 0 else 0.0
        return found

    def backtest(self, folds: int) -> list[dict[str, float]]:
        """The windows cut into folds of consecutive origins (every series alike): per fold
        its first origin, the model's and each baseline's RMSE."""
        out = []
        for part in np.array_split(np.argsort(self.origins, kind="stable"), folds):
            if not len(part):
                continue
            row = {
                "origin": int(self.origins[part].min()),
                "windows": int(len(part)),
                "rmse": errors(self.y[part], self.yhat[part], self.scale[part])["rmse"],
            }
            for name, forecast in self.baselines.items():
                row[f"{name}_rmse"] = errors(self.y[part], forecast[part], self.scale[part])["rmse"]
            out.append(row)
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        """The predictions artifact: true values, forecasts, the baselines', and where."""
        return {
            "y": self.y,
            "yhat": self.yhat,
            "series": self.series,
            "origins": self.origins,
            **{name: f for name, f in self.baselines.items()},
        }

    def examples(self, count: int, classes: list[str] | None = None) -> list[str]:
        """The first count windows: origin, y and yhat (the first target)."""
        return [
            f"origin {int(t)}: y={np.array2string(y[:, 0], precision=4)}, "
            f"yhat={np.array2string(yhat[:, 0], precision=4)}"
            for t, y, yhat in zip(
                self.origins[:count], self.y[:count], self.yhat[:count], strict=True
            )
        ]


def evaluate(model: keras.Model, dataset: Dataset, split: str) -> ForecastEvaluation:
    """The model on a split's windows; the test split also gets its baselines."""
    forecast = dataset.forecast
    seqs = getattr(dataset, split)
    win = forecast.splits[split]
    p = predict(model, seqs.x).reshape(len(seqs.x), -1)
    target = dataset.task.targets(seqs.y)
    loss = float(item_losses(type(model.loss).__name__, target, p).mean())
    yhat = forecast.invert(split, p)
    y = forecast.actual(split)
    table = forecast.table
    scales = np.stack(
        [
            baselines.seasonal_scale(z, lo, forecast.season)
            for z, (lo, _) in zip(table.y, forecast.bounds, strict=True)
        ]
    )
    found = {}
    if split == "test":
        H, m = forecast.horizon, forecast.season
        for name, make in (
            ("naive", lambda z, o: baselines.naive(z, o, H)),
            ("snaive", lambda z, o: baselines.seasonal_naive(z, o, H, m)),
            ("drift", lambda z, o: baselines.drift(z, o, H)),
        ):
            out = np.empty_like(y)
            for s in np.unique(win.series):
                rows = win.series == s
                out[rows] = make(table.y[s], win.origins[rows])
            found[name] = out
    return ForecastEvaluation(
        loss, y, yhat, scales[win.series][:, None], win.series, win.origins, found
    )
