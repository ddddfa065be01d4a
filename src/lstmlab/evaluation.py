"""Evaluate a trained model on fresh sequences."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from lstmlab.models import loss_for
from lstmlab.problems import Problem

# Large enough to keep the number of calls small, small enough to bound memory for echo.
_BATCH = 2048


@dataclass
class Evaluation:
    loss: float
    # Per timestep for per-timestep problems, per sequence otherwise.
    acc: float
    # Whole sequence exactly right (equals acc for one label per sequence).
    seq_acc: float
    y: np.ndarray
    yhat: np.ndarray

    def metrics(self) -> dict[str, float]:
        return {"eval_loss": self.loss, "eval_acc": self.acc, "eval_seq_acc": self.seq_acc}

    def examples(self, count: int) -> list[str]:
        """The first count sequences as the seeds print them: y, yhat, correct."""
        lines = []
        for y, yhat in zip(self.y[:count], self.yhat[:count], strict=True):
            lines.append(f"y={y}, yhat={yhat}, correct={bool(np.array_equal(y, yhat))}")
        return lines


def evaluate(
    model: keras.Model, problem: Problem, rng: np.random.Generator, samples: int
) -> Evaluation:
    x, y = problem.sample(rng, samples)
    p = np.concatenate(
        [np.asarray(model(x[i : i + _BATCH], training=False)) for i in range(0, samples, _BATCH)]
    )
    loss = float(loss_for(problem)(y, p))
    labels, predicted = problem.decode(y), problem.decode(p)
    hits = (labels == predicted).reshape(samples, -1)
    return Evaluation(
        loss=loss,
        acc=float(hits.mean()),
        seq_acc=float(hits.all(axis=1).mean()),
        y=labels,
        yhat=predicted,
    )
