"""ROCKET's head fitted in closed form, as aeon's RocketRegressor and RocketClassifier fit it:
the kernels' features scaled by their standard deviation on the training split
(StandardScaler(with_mean=False)), then sklearn's RidgeCV (regression: the standardised
targets) or RidgeClassifierCV (classes), the penalty chosen among the alphas by efficient
leave-one-out cross-validation. The scaling is folded into the model's Dense head, so the
Keras model alone maps sequences to outputs (and is what MLflow logs and serves)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import keras
import numpy as np

from lstmlab.data import Dataset, Task
from lstmlab.training.loops import Training

# A class the training split lacks: its score (ridge scores are near -1 for a class not
# present) stays below every class the head was fitted to.
_ABSENT = -1e4


# Convolution outputs held at once while pooling: batch x time x a group's kernels.
_PREDICT_TIMESTEPS = 2**14


def predict(model: keras.Model, x: np.ndarray) -> np.ndarray:
    batch = max(1, _PREDICT_TIMESTEPS // max(1, x.shape[1]))
    return np.asarray(model.predict(x, batch_size=batch, verbose=0))


def features(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """The model's "features" layer's outputs for x."""
    layer = model.get_layer("features")
    return predict(keras.Model(model.inputs, layer.output), x).astype(np.float64)


def fit(
    model: keras.Model,
    task: Task,
    dataset: Dataset,
    rng: np.random.Generator,
    alphas: Sequence[float],
    validate: Callable[[int], dict[str, float]] | None = None,
) -> tuple[Training, float]:
    """Fit the head of model (models.rocket) on the training split; the training result (one
    "step": the fit's loss and RMSE or accuracy on the training split) and the penalty chosen."""
    from sklearn.linear_model import RidgeClassifierCV, RidgeCV
    from sklearn.preprocessing import StandardScaler

    started = time.perf_counter()
    train = dataset.training_set(rng)
    f = features(model, train.x)
    scaler = StandardScaler(with_mean=False).fit(f)
    scaled = scaler.transform(f)
    if task.regression:
        ridge = RidgeCV(alphas=list(alphas)).fit(scaled, train.y)
        coef = np.reshape(ridge.coef_, (task.n_outputs, -1))
        intercept = np.reshape(ridge.intercept_, (task.n_outputs,))
    else:
        ridge = RidgeClassifierCV(alphas=list(alphas)).fit(scaled, train.y)
        coef = np.zeros((task.n_outputs, f.shape[1]))
        intercept = np.full(task.n_outputs, _ABSENT)
        # Two classes: one score, positive for class 1 (the sigmoid's logit).
        rows = [0] if task.binary else ridge.classes_
        coef[rows] = np.reshape(ridge.coef_, (len(rows), -1))
        intercept[rows] = np.reshape(ridge.intercept_, (len(rows),))
    head = model.layers[-1]
    head.set_weights([(coef / scaler.scale_).T.astype(np.float32), intercept.astype(np.float32)])
    outputs = predict(model, train.x)
    targets = task.targets(train.y)
    loss = float(keras.ops.convert_to_numpy(keras.ops.mean(model.loss(targets, outputs))))
    if task.regression:
        score = float(np.sqrt(np.mean((outputs - targets) ** 2)))
    else:
        score = float(np.mean(task.decode(outputs) == train.y))
    seconds = time.perf_counter() - started
    training = Training(np.array([loss]), np.array([score]), seconds, 0.0)
    if validate is not None:
        training.validations.append((1, validate(1)))
    return training, float(ridge.alpha_)
