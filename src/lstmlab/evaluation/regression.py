"""Held-out metrics of a regression: RMSE, MAE and R² in the target's units (the model fits
standardised targets), the loss as training computes it, and on the test split the baseline
every regression is judged against: predicting the training targets' mean."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from lstmlab.data import Sequences, Task
from lstmlab.evaluation.outputs import predict

# The losses' numpy forms, by the Keras loss class the model was compiled with.
_HUBER_DELTA = 1.0  # Keras' default


def item_losses(kind: str, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The training loss per target, in training (standardised) units."""
    err = p.astype(np.float64) - y
    if kind == "MeanAbsoluteError":
        return np.abs(err)
    if kind == "Huber":
        small = np.abs(err) <= _HUBER_DELTA
        return np.where(small, 0.5 * err**2, _HUBER_DELTA * (np.abs(err) - 0.5 * _HUBER_DELTA))
    return err**2


def rmse(y: np.ndarray, yhat: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(yhat, np.float64) - y) ** 2)))


@dataclass
class RegressionEvaluation:
    loss: float  # the model's loss, in training units
    y: np.ndarray  # targets, in the target's units ((n,) or (n, T))
    yhat: np.ndarray  # predictions, in the target's units
    mask: np.ndarray
    per_timestep: bool
    # The training targets' mean: the baseline's prediction.
    mean: float
    p: np.ndarray | None = None  # the model's raw outputs (training units)

    def labelled(self) -> tuple[np.ndarray, np.ndarray]:
        """Targets and predictions, one per sequence or per real timestep."""
        if self.per_timestep:
            return self.y[self.mask], self.yhat[self.mask]
        return self.y, self.yhat

    def metrics(self, prefix: str) -> dict[str, float]:
        from sklearn.metrics import mean_absolute_error, r2_score

        y, yhat = self.labelled()
        found = {
            f"{prefix}_loss": self.loss,
            f"{prefix}_rmse": rmse(y, yhat),
            f"{prefix}_mae": float(mean_absolute_error(y, yhat)),
            f"{prefix}_r2": float(r2_score(y, yhat)) if len(y) > 1 else float("nan"),
        }
        if prefix in ("test", "eval"):  # a test split, or a generator's fresh sequences
            baseline = rmse(y, np.full(len(y), self.mean))
            found[f"mean_{prefix}_rmse"] = baseline
            found[f"{prefix}_skill"] = (
                1.0 - found[f"{prefix}_rmse"] / baseline if baseline > 0 else 0.0
            )
        return found

    def arrays(self) -> dict[str, np.ndarray]:
        """The predictions artifact: values in the target's units, and the mask."""
        return {"y": self.y, "yhat": self.yhat, "mask": self.mask}

    def examples(self, count: int, classes: list[str] | None = None) -> list[str]:
        """The first count sequences: y and yhat (per timestep: over the real timesteps)."""
        lines = []
        for y, yhat, m in zip(self.y[:count], self.yhat[:count], self.mask[:count], strict=True):
            if self.per_timestep:
                y, yhat = y[m], yhat[m]
            lines.append(
                f"y={np.array2string(np.asarray(y), precision=4)}, "
                f"yhat={np.array2string(np.asarray(yhat), precision=4)}"
            )
        return lines


def evaluate(model: keras.Model, task: Task, seqs: Sequences,
             scale: tuple[float, float]) -> RegressionEvaluation:  # fmt: skip
    """The model on a split; scale: the training targets' (mean, std) the targets were
    standardised with, undone for every metric but the loss."""
    mean, std = scale
    p = predict(model, seqs.x)
    fitted = p[..., 0].astype(np.float64)
    losses = item_losses(type(model.loss).__name__, seqs.y, fitted)
    loss = float(losses[seqs.mask].mean() if task.per_timestep else losses.mean())
    y = seqs.y.astype(np.float64) * std + mean
    yhat = fitted * std + mean
    return RegressionEvaluation(loss, y, yhat, seqs.mask, task.per_timestep, mean, p)
