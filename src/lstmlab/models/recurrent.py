"""The Keras model for a task, from the model config: a stack of recurrent layers and a head,
or a user's builder (model=custom)."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from lstmlab.config import (
    Cell,
    ConfigError,
    CustomModelConfig,
    Direction,
    Head,
    ModelConfig,
    merge_mode_of,
    units_of,
)
from lstmlab.data import Task

CELLS = {Cell.lstm: keras.layers.LSTM, Cell.gru: keras.layers.GRU,
          Cell.simple_rnn: keras.layers.SimpleRNN}  # fmt: skip


@keras.saving.register_keras_serializable(package="lstmlab")
class ReverseTime(keras.layers.Layer):
    """Flips the time axis.

    ``LSTM(go_backwards=True, return_sequences=True)`` emits its outputs in the order it reads
    the input, last step first: output 0 depends only on the last input. ``Bidirectional``
    flips them back internally; a one-directional backward model has to do it itself, or label t
    is trained against the state at input T-1-t (the tutorial's "LSTM backward" model).
    The padding mask is in input order already, so it passes through unchanged.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, x):
        return keras.ops.flip(x, axis=1)


def build_model(cfg: ModelConfig | CustomModelConfig, task: Task) -> keras.Model:
    """Compiled model: Adam(cfg.learning_rate), the task's loss, accuracy."""
    model = _custom(cfg, task) if isinstance(cfg, CustomModelConfig) else _recurrent(cfg, task)
    return compiled(model, cfg, task)


def compiled(model: keras.Model, cfg: Any, task: Task) -> keras.Model:
    """model compiled as every family is: Adam(cfg.learning_rate), the task's loss, accuracy."""
    model.compile(
        # ROCKET's head is fitted by ridge regression, never stepped: it has no rate.
        optimizer=keras.optimizers.Adam(learning_rate=getattr(cfg, "learning_rate", 0.001)),
        loss=loss_for(task, _loss_name(cfg, task)),
        # Regression: the batch's RMSE (in training units) in the step metric's place.
        metrics=[keras.metrics.RootMeanSquaredError(name="rmse")]
        if task.regression
        else ["accuracy"],
        # The compiled training loops in schedules.py do their own XLA compilation; the model's
        # own train/predict functions stay plain Keras (the fallback and the reference).
        jit_compile=False,
    )
    return model


def _loss_name(cfg: Any, task: Task) -> str | None:
    loss = getattr(cfg, "loss", None)
    if loss is not None and not task.regression:
        raise ConfigError(
            "model.loss", loss,
            f"only for regression; {task.name}'s labels are classes, fitted with cross-entropy "
            "(model.loss=null)",
        )  # fmt: skip
    return None if loss is None else loss.value


def output_layer(task: Task, x):
    """The output layer: one sigmoid for two classes, a softmax over k, one linear unit for a
    real value; on (batch, time, features) it applies per timestep (Keras 2's TimeDistributed)."""
    if task.regression:
        return keras.layers.Dense(task.n_outputs)(x)
    activation = "sigmoid" if task.binary else "softmax"
    return keras.layers.Dense(task.n_outputs, activation=activation)(x)


def _recurrent(cfg: ModelConfig, task: Task) -> keras.Model:
    if cfg.head is not None and task.per_timestep:
        raise ConfigError(
            "model.head", cfg.head,
            f"only applies to one label per sequence; {task.name} has one per timestep: "
            "set model.head=null",
        )  # fmt: skip
    inputs = keras.Input(shape=task.input_shape)
    x = inputs
    if task.masked:
        # Timesteps whose features all equal the pad value are skipped by the recurrent
        # layers (their state carries over) and left out of the loss, accuracy and mean head.
        x = keras.layers.Masking(mask_value=task.pad_value)(x)
    units = units_of(cfg)
    head = cfg.head or Head.last
    for i, n in enumerate(units):
        # Every layer but a per-sequence last one emits its whole sequence (the next layer
        # reads it; the mean head averages it).
        sequences = task.per_timestep or i < len(units) - 1 or head is Head.mean
        x = _layer(cfg, n, sequences)(x)
        if cfg.direction is Direction.backward and sequences and cfg.align_backward:
            x = ReverseTime()(x)
    if not task.per_timestep and head is Head.mean:
        x = keras.layers.GlobalAveragePooling1D()(x)  # masked: real timesteps only
    return keras.Model(inputs, output_layer(task, x), name=model_name(cfg))


def _layer(cfg: ModelConfig, units: int, sequences: bool) -> keras.layers.Layer:
    layer = CELLS[cfg.cell](
        units,
        return_sequences=sequences,
        go_backwards=cfg.direction is Direction.backward,
        dropout=cfg.dropout,
        recurrent_dropout=cfg.recurrent_dropout,
    )
    if cfg.direction is Direction.bidirectional:
        return keras.layers.Bidirectional(layer, merge_mode=merge_mode_of(cfg).value)
    return layer


def model_name(cfg: ModelConfig) -> str:
    """bidirectional_lstm20, forward_gru32x2, backward_simple_rnn64-32."""
    units = units_of(cfg)
    if len(set(units)) == 1:
        size = f"{units[0]}" + (f"x{len(units)}" if len(units) > 1 else "")
    else:
        size = "-".join(map(str, units))
    return f"{cfg.direction.value}_{cfg.cell.value}{size}"


def _custom(cfg: CustomModelConfig, task: Task) -> keras.Model:
    from lstmlab.targets import resolve

    build = resolve("model._target_", cfg._target_)
    try:
        model = build(task, **cfg.kwargs)
    except Exception as exc:
        reason = f"raised {type(exc).__name__}: {exc}".splitlines()[0]
        raise ConfigError("model._target_", cfg._target_, reason) from exc
    if not isinstance(model, keras.Model):
        raise ConfigError(
            "model._target_", cfg._target_,
            f"returned a {type(model).__name__}, not a keras.Model",
        )  # fmt: skip
    expected = (task.timesteps, task.n_outputs) if task.per_timestep else (task.n_outputs,)
    # Any values but the pad value: a probe of real timesteps.
    probe = np.full((2, task.timesteps, task.features), task.pad_value + 0.5, np.float32)
    try:
        got = tuple(np.asarray(model(probe, training=False)).shape[1:])
    except Exception as exc:
        raise ConfigError(
            "model._target_", cfg._target_,
            f"the model fails on inputs of shape (batch, {task.timesteps}, {task.features}): "
            + f"{type(exc).__name__}: {exc}".splitlines()[0],
        ) from exc  # fmt: skip
    if got != expected:
        what = "per timestep" if task.per_timestep else "per sequence"
        shape = f"(batch, {', '.join(map(str, expected))})"
        if task.regression:
            why = f"a real value {what} needs {shape}: one linear output"
        else:
            kind = f"{task.n_outputs} sigmoid" if task.binary else f"a softmax over {task.classes}"
            why = f"{task.classes} classes {what} need {shape}: {kind} output(s)"
        raise ConfigError(
            "model._target_", cfg._target_,
            f"outputs (batch, {', '.join(map(str, got))}), but {why}",
        )  # fmt: skip
    return model


REGRESSION_LOSSES = {
    "mse": keras.losses.MeanSquaredError,
    "mae": keras.losses.MeanAbsoluteError,
    "huber": keras.losses.Huber,
}


def loss_for(task: Task, name: str | None = None) -> keras.losses.Loss:
    """Binary cross-entropy for a sigmoid head, sparse categorical cross-entropy (integer class
    targets) for a softmax head; for regression, name (model.loss: mse, the default, mae or
    huber). Called on a masked model's outputs, Keras averages the loss over real timesteps
    only."""
    if task.regression:
        return REGRESSION_LOSSES[name or "mse"]()
    if task.binary:
        return keras.losses.BinaryCrossentropy()
    return keras.losses.SparseCategoricalCrossentropy()


def padding_mask(task: Task, x):
    """(batch, time) true at real timesteps, by the rule of the Masking layer."""
    ops = keras.ops
    return ops.any(ops.not_equal(x, task.pad_value), axis=-1)


def accuracy(task: Task, x, y, p, seeds: bool = False):
    """Mean accuracy of predictions p against targets y, as a backend tensor (usable in graphs):
    per real timestep for per-timestep tasks, per sequence otherwise. Matches Keras' accuracy.
    seeds: x, y and p have a leading seed axis (a stack's); one accuracy per seed."""
    ops = keras.ops

    def total(a):
        return ops.sum(a, axis=tuple(range(1, len(a.shape)))) if seeds else ops.sum(a)

    def mean(a):
        return ops.mean(a, axis=tuple(range(1, len(a.shape)))) if seeds else ops.mean(a)

    if task.regression:  # the step metric of a regression: RMSE (training units)
        err = ops.square(p - y)
        if task.per_timestep:
            err = err[..., 0]
        if task.per_timestep and task.masked:
            mask = ops.cast(padding_mask(task, x), "float32")
            return ops.sqrt(total(err * mask) / ops.maximum(total(mask), 1.0))
        return ops.sqrt(mean(err))
    if task.binary:
        hits = ops.equal(ops.cast(p > 0.5, y.dtype), y)[..., 0]
    else:
        hits = ops.equal(ops.cast(ops.argmax(p, axis=-1), y.dtype), y)
    hits = ops.cast(hits, "float32")
    if task.per_timestep and task.masked:
        mask = ops.cast(padding_mask(task, x), "float32")
        return total(hits * mask) / ops.maximum(total(mask), 1.0)
    return mean(hits)
