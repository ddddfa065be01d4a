"""The forecasts every forecasting run is judged against, made from the true values up to each
window's origin (Hyndman & Athanasopoulos, "Forecasting: Principles and Practice", 5.2):
naive (the last value), seasonal naive (the value one season before), drift (the line from
the series' first value through its last)."""

from __future__ import annotations

import numpy as np


def naive(z: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """(n, H, K): every step the value at the origin."""
    return np.repeat(z[origins][:, None], horizon, axis=1)


def seasonal_naive(z: np.ndarray, origins: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """(n, H, K): step k the value at origin + k - season * ceil(k / season), the same point of
    the last season observed."""
    k = np.arange(1, horizon + 1)
    back = season * np.ceil(k / season).astype(np.int64)
    return z[origins[:, None] + k - back]


def drift(z: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """(n, H, K): the last value plus k times the mean change since the series' first step."""
    k = np.arange(1, horizon + 1)[None, :, None]
    last = z[origins][:, None]
    slope = ((z[origins] - z[0]) / np.maximum(origins, 1)[:, None])[:, None]
    return last + k * slope


def seasonal_scale(z: np.ndarray, end: int, season: int) -> np.ndarray:
    """(K,) MASE's scale: the in-sample mean absolute error of the seasonal naive forecast
    one step ahead over the training part z[:end] (Hyndman & Koehler 2006)."""
    errors = np.abs(z[season:end] - z[: end - season])
    return errors.mean(axis=0) if len(errors) else np.full(z.shape[1], np.nan)
