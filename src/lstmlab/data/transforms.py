"""What a forecaster models instead of the raw series, and the way back: log, a first
difference, a seasonal difference, then a scaler fitted on the training part; every step
inverted exactly.

A forecast is inverted from its origin: the steps it predicts are rebuilt one by one from the
true values up to the origin and from the forecast's own earlier steps, never from a true value
after the origin (a test that inverted from true future values would read the answer).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lstmlab.config import Scale


def fit_scale(kind: Scale, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(center, spread) per column of values (n, K): zscore (mean, standard deviation), minmax
    (minimum, range: to [0, 1], as scikit-learn's MinMaxScaler), none (0, 1). A constant column
    gets spread 1, so it maps to 0 rather than to NaN."""
    width = values.shape[1]
    if kind is Scale.none or len(values) == 0:
        return np.zeros(width), np.ones(width)
    if kind is Scale.zscore:
        center, spread = values.mean(axis=0), values.std(axis=0)
    else:
        center, spread = values.min(axis=0), values.max(axis=0) - values.min(axis=0)
    return center, np.where(spread > 0, spread, 1.0)


@dataclass
class Transform:
    """One series' target transforms (K columns); center and spread: its fitted scaler."""

    log: bool = False
    difference: bool = False
    season: int = 0  # the seasonal difference's lag; 0: none
    center: np.ndarray | None = None
    spread: np.ndarray | None = None

    @property
    def lost(self) -> int:
        """Leading steps the differences leave undefined."""
        return int(self.difference) + self.season

    def unscaled(self, z: np.ndarray) -> np.ndarray:
        """(N, K) raw values -> the transformed series before scaling (NaN at the first
        `lost` steps)."""
        u = np.log(z) if self.log else np.asarray(z, np.float64)
        v = _diff(u, 1) if self.difference else u
        return _diff(v, self.season) if self.season else v

    def forward(self, z: np.ndarray) -> np.ndarray:
        """(N, K) raw values -> what the model reads and fits."""
        return (self.unscaled(z) - self.center) / self.spread

    def invert(self, w: np.ndarray, origins: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Forecasts w (n, H, K) in model units, made at origins (n,) (the index of the last
        step each window read) of the series z (N, K) -> (n, H, K) in the target's units."""
        w = w * self.spread + self.center
        u = np.log(z) if self.log else np.asarray(z, np.float64)
        v = _diff(u, 1) if self.difference else u
        back = max(self.season, 1)
        # The true v up to each origin, oldest first; forecasts are appended as they are made.
        history = [v[origins - back + 1 + i] for i in range(back)]
        level = u[origins]
        out = np.empty_like(w)
        for k in range(w.shape[1]):
            vk = w[:, k] + (history[-self.season] if self.season else 0.0)
            history.append(vk)
            uk = vk + level if self.difference else vk
            level = uk
            out[:, k] = np.exp(uk) if self.log else uk
        return out


def _diff(values: np.ndarray, lag: int) -> np.ndarray:
    out = np.full(values.shape, np.nan)
    out[lag:] = values[lag:] - values[:-lag]
    return out
