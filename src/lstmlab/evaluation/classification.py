"""Evaluate a trained model on a split: the validation set during training, the test set at
the end (fresh sequences for generators)."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from lstmlab.data import Sequences, Task
from lstmlab.evaluation.outputs import predict

# Keras clips probabilities to [eps, 1 - eps] in its cross-entropies; so does this.
_EPS = 1e-7


@dataclass
class Evaluation:
    loss: float
    # Per real timestep for per-timestep tasks, per sequence otherwise.
    acc: float
    # Whole sequence exactly right (equals acc for one label per sequence).
    seq_acc: float
    y: np.ndarray
    yhat: np.ndarray
    mask: np.ndarray
    per_timestep: bool
    # The model's outputs: class probabilities (one for the positive class of a binary task).
    p: np.ndarray | None = None

    def metrics(self, prefix: str) -> dict[str, float]:
        found = {f"{prefix}_loss": self.loss, f"{prefix}_acc": self.acc}
        if self.per_timestep or prefix == "eval":
            found[f"{prefix}_seq_acc"] = self.seq_acc
        return found

    def labelled(self) -> tuple[np.ndarray, np.ndarray]:
        """True and predicted labels, one per sequence or per real timestep."""
        if self.per_timestep:
            return self.y[self.mask], self.yhat[self.mask]
        return self.y, self.yhat

    def per_class(self, classes: list[str]) -> PerClass:
        """The confusion matrix (rows: true class, columns: predicted) and the macro-averaged
        F1 over every class of the task, those never predicted or absent from the split
        included (their F1 is 0: sklearn's zero_division=0), so that runs on one split are
        comparable."""
        from sklearn.metrics import confusion_matrix, f1_score

        y, yhat = self.labelled()
        labels = list(range(len(classes)))
        matrix = confusion_matrix(y, yhat, labels=labels)
        f1 = f1_score(y, yhat, labels=labels, average="macro", zero_division=0)
        return PerClass(classes, matrix, float(f1))

    def examples(self, count: int, classes: list[str] | None = None) -> list[str]:
        """The first count sequences as the seeds print them: y, yhat, correct (per-timestep
        labels over the real timesteps only; class names for named classes)."""

        def shown(labels: np.ndarray) -> str:
            if classes is None or classes == [str(i) for i in range(len(classes))]:
                return str(labels)
            if labels.ndim == 0:
                return classes[int(labels)]
            return "[" + " ".join(classes[int(v)] for v in labels) + "]"

        lines = []
        for y, yhat, m in zip(self.y[:count], self.yhat[:count], self.mask[:count], strict=True):
            if self.per_timestep:
                y, yhat = y[m], yhat[m]
            lines.append(
                f"y={shown(y)}, yhat={shown(yhat)}, correct={bool(np.array_equal(y, yhat))}"
            )
        return lines


@dataclass
class PerClass:
    classes: list[str]
    matrix: np.ndarray
    f1_macro: float

    def as_json(self) -> dict:
        return {"classes": self.classes, "matrix": self.matrix.tolist(),
                "rows": "true class", "columns": "predicted class"}  # fmt: skip


def item_losses(task: Task, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Cross-entropy per label ((n,) or (n, T)), as Keras computes it."""
    p = np.clip(p.astype(np.float64), _EPS, 1 - _EPS)
    if task.binary:
        p = p[..., 0]
        return -(y * np.log(p) + (1 - y) * np.log(1 - p))
    return -np.log(np.take_along_axis(p, y[..., None].astype(np.int64), axis=-1)[..., 0])


def evaluate(model: keras.Model, task: Task, seqs: Sequences) -> Evaluation:
    p = predict(model, seqs.x)
    labels, predicted = seqs.y, task.decode(p)
    losses = item_losses(task, labels, p)
    hits = labels == predicted
    if task.per_timestep:
        weight = seqs.mask
        acc = float(hits[weight].mean())
        seq_acc = float((hits | ~weight).all(axis=1).mean())
        loss = float(losses[weight].mean())
    else:
        acc = seq_acc = float(hits.mean())
        loss = float(losses.mean())
    return Evaluation(loss, acc, seq_acc, labels, predicted, seqs.mask, task.per_timestep, p)
