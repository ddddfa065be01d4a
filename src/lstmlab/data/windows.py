"""From series to forecasting windows: time-ordered parts, transforms fitted on the training
part, and windows of ``lookback`` steps that predict the next ``horizon``.

Every series is cut in time order into a training part, a validation part and, last, the test
part. A window belongs to the part its forecast steps fall in, all of them: no training window
forecasts a step of a later part. Its inputs may read any step up to its origin (a test window
reads the true past, as a forecaster in use would). The test and validation windows start at
every step; training windows every ``stride`` steps, counted back from the last.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lstmlab.config import Scale, ScaleOn, SeriesConfig
from lstmlab.data.sequences import DataError, Dataset, Sequences, Source, Task
from lstmlab.data.transforms import Transform, fit_scale

SPLITS = ("train", "validation", "test")


@dataclass
class Table:
    """What a forecasting source read: per series, targets (N, K), exogenous columns known
    ahead (future, (N, Q)) and up to the origin only (past, (N, P)), time labels and the file's
    row numbers (for messages)."""

    name: str
    targets: list[str]
    features: list[str]
    past_features: list[str]
    ids: list[str]
    # The time column's natural season (monthly: 12), None when it has none.
    season: int | None
    sources: list[Source]
    y: list[np.ndarray] = field(default_factory=list)
    future: list[np.ndarray] = field(default_factory=list)
    past: list[np.ndarray] = field(default_factory=list)
    times: list[np.ndarray] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)


@dataclass
class Windows:
    """One split's windows: the series each reads and its origin (the last step it reads)."""

    series: np.ndarray
    origins: np.ndarray


@dataclass
class Forecast:
    """What a forecasting run's evaluation needs beyond the model's inputs: the true series,
    the fitted transforms to invert, where each split's windows start, the parts' bounds."""

    table: Table
    transforms: list[Transform]
    lookback: int
    horizon: int
    season: int
    splits: dict[str, Windows]
    # Per series: the first step of the validation part and of the test part.
    bounds: list[tuple[int, int]]
    # The scaler saw the test part (dataset.scale_on=all, the airline tutorial's mistake).
    leak: bool = False

    @property
    def width(self) -> int:
        return len(self.table.targets)

    def actual(self, split: str) -> np.ndarray:
        """(n, H, K) the true values a split's windows forecast."""
        win = self.splits[split]
        steps = win.origins[:, None] + np.arange(1, self.horizon + 1)
        return np.stack([self.table.y[s][t] for s, t in zip(win.series, steps, strict=True)])

    def invert(self, split: str, p: np.ndarray) -> np.ndarray:
        """Model outputs (n, H*K) on a split's windows -> (n, H, K) in the target's units."""
        win = self.splits[split]
        w = np.asarray(p, np.float64).reshape(len(win.origins), self.horizon, self.width)
        out = np.empty_like(w)
        for s in np.unique(win.series):
            rows = win.series == s
            out[rows] = self.transforms[s].invert(w[rows], win.origins[rows], self.table.y[s])
        return out

    def as_json(self) -> dict:
        """The fitted transforms, logged as dataset/transforms.json."""
        return {
            "targets": self.table.targets,
            "lookback": self.lookback,
            "horizon": self.horizon,
            "season": self.season,
            "fitted_on": "whole series (leaks the test part)" if self.leak else "training part",
            "series": {
                sid: {
                    "log": t.log,
                    "difference": t.difference,
                    "seasonal_difference": t.season,
                    "center": t.center.tolist(),
                    "spread": t.spread.tolist(),
                    "validation_from": lo,
                    "test_from": hi,
                }
                for sid, t, (lo, hi) in zip(
                    self.table.ids, self.transforms, self.bounds, strict=True
                )
            },
        }


def _steps(part: float, n: int) -> int:
    """A part given as a fraction of n steps or as a number of steps."""
    return int(part) if part >= 1 else int(round(n * part))


def season_of(cfg: SeriesConfig, table: Table) -> int:
    """dataset.season, or the time column's natural one; DataError when there is neither (the
    seasonal naive baseline and MASE need one)."""
    if cfg.season is not None:
        return cfg.season
    if table.season is None:
        raise DataError(
            f"dataset.season: {table.name}'s time column has no natural season (the seasonal "
            "naive baseline and test_mase need one): set dataset.season (1: no seasonality)"
        )
    return table.season


def prepare(table: Table, cfg: SeriesConfig) -> Dataset:
    """Parts, transforms and windows of every series (module docstring)."""
    season = season_of(cfg, table)
    transforms, bounds, parts = [], [], {s: [] for s in SPLITS}
    lag = season if cfg.seasonal_difference else 0
    if cfg.seasonal_difference and season < 2:
        raise DataError(
            f"dataset.seasonal_difference: needs a season of 2 or more steps; "
            f"dataset.season is {season}"
        )
    inputs = []
    for s, y in enumerate(table.y):
        where = f"{table.name}" + (f", series {table.ids[s]!r}" if len(table.ids) > 1 else "")
        n = len(y)
        test = _steps(cfg.test, n)
        val = _steps(cfg.validation, n)
        if cfg.horizon > test:
            raise DataError(
                f"dataset.horizon={cfg.horizon}: longer than the test part of "
                f"{where} ({test} steps); lower it or raise dataset.test"
            )
        if val and cfg.horizon > val:
            raise DataError(
                f"dataset.horizon={cfg.horizon}: longer than the validation part of "
                f"{where} ({val} steps); lower it or raise dataset.validation"
            )
        transform = Transform(cfg.log, cfg.difference, lag)
        lo, hi = n - test - val, n - test
        first = transform.lost + cfg.lookback - 1  # the first origin whose inputs all exist
        if lo - cfg.horizon - 1 < first:
            raise DataError(
                f"{where}: {n} steps are too short for dataset.lookback={cfg.lookback} + "
                f"horizon={cfg.horizon} (+{transform.lost} lost to differencing) before a "
                f"validation and test part of {val} + {test} steps"
            )
        if cfg.log and (y <= 0).any():
            i = int(np.flatnonzero((y <= 0).any(axis=1))[0])
            raise DataError(
                f"dataset.log: {where} has a value <= 0 in row {table.rows[s][i]}; "
                "the logarithm needs positive targets"
            )
        raw = transform.unscaled(y)
        fit_to = n if cfg.scale_on is ScaleOn.all else lo
        transform.center, transform.spread = fit_scale(cfg.scale, raw[transform.lost : fit_to])
        transforms.append(transform)
        bounds.append((lo, hi))
        exo = np.concatenate([table.past[s], table.future[s]], axis=1)
        center, spread = fit_scale(cfg.scale, exo[:fit_to])
        inputs.append((transform.forward(y), (exo - center) / spread, table.past[s].shape[1]))
        last = n - cfg.horizon - 1
        # Origins t: the forecast steps t+1..t+H inside one part.
        train = np.arange(lo - cfg.horizon - 1, first - 1, -cfg.stride)[::-1]
        parts["train"].append((s, train))
        if val:
            parts["validation"].append((s, np.arange(lo - 1, hi - cfg.horizon)))
        parts["test"].append((s, np.arange(hi - 1, last + 1)))
    splits = {}
    arrays = {}
    for name, found in parts.items():
        if not found:
            continue
        series = np.concatenate([np.full(len(o), s) for s, o in found])
        origins = np.concatenate([o for _, o in found]).astype(np.int64)
        splits[name] = Windows(series, origins)
        arrays[name] = _windows(inputs, series, origins, cfg, len(table.features))
    forecast = Forecast(
        table,
        transforms,
        cfg.lookback,
        cfg.horizon,
        season,
        splits,
        bounds,
        leak=cfg.scale_on is ScaleOn.all and cfg.scale is not Scale.none,
    )
    x = arrays["train"].x
    task = Task(
        name=table.name,
        timesteps=x.shape[1],
        features=x.shape[2],
        classes=0,
        per_timestep=False,
        regression=True,
        values=cfg.horizon * len(table.targets),
    )
    return Dataset(
        task=task,
        train=arrays["train"],
        validation=arrays.get("validation"),
        test=arrays["test"],
        classes=[],
        sources=table.sources,
        forecast=forecast,
    )


def _windows(inputs, series, origins, cfg: SeriesConfig, known_ahead: int) -> Sequences:
    """The windows at (series, origins): x (n, lookback [+ horizon], K + P + Q [+ 1]) and the
    scaled targets (n, H*K). With features known ahead, the window runs on over the forecast
    steps, where only those features and a flag (0: not yet observed) are given."""
    L, H = cfg.lookback, cfg.horizon
    xs, ys = [], []
    for s, t in zip(series, origins, strict=True):
        w, exo, n_past = inputs[s]
        read = np.concatenate([w[t - L + 1 : t + 1], exo[t - L + 1 : t + 1]], axis=1)
        if known_ahead:
            read = np.concatenate([read, np.ones((L, 1))], axis=1)
            ahead = np.zeros((H, read.shape[1]))
            ahead[:, w.shape[1] + n_past : -1] = exo[t + 1 : t + H + 1, n_past:]
            read = np.concatenate([read, ahead])
        xs.append(read)
        ys.append(w[t + 1 : t + H + 1].reshape(-1))
    x = np.asarray(xs, np.float32)
    y = np.asarray(ys, np.float32)
    if not np.isfinite(y).all():  # differencing's undefined steps must never reach a window
        raise AssertionError("a window reads an undefined transformed step")
    y = y[:, 0] if y.shape[1] == 1 else y
    return Sequences(x, y, np.ones(x.shape[:2], bool))
