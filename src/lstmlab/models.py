"""The Keras model for a task, from the model config: one recurrent layer and a head."""

from __future__ import annotations

import keras

from lstmlab.config import Direction, ModelConfig, merge_mode_of
from lstmlab.data import Task


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


def build_model(cfg: ModelConfig, task: Task) -> keras.Model:
    """Compiled model: Adam(cfg.learning_rate), the task's loss, accuracy."""
    inputs = keras.Input(shape=task.input_shape)
    x = inputs
    if task.masked:
        # Timesteps whose features all equal the pad value are skipped by the recurrent
        # layers (their state carries over) and left out of the loss and accuracy.
        x = keras.layers.Masking(mask_value=task.pad_value)(x)
    seq = task.per_timestep
    backward = cfg.direction is Direction.backward
    lstm = keras.layers.LSTM(cfg.units, return_sequences=seq, go_backwards=backward)
    if cfg.direction is Direction.bidirectional:
        x = keras.layers.Bidirectional(lstm, merge_mode=merge_mode_of(cfg).value)(x)
    else:
        x = lstm(x)
        if backward and seq and cfg.align_backward:
            x = ReverseTime()(x)
    # Dense on (batch, time, features) is applied per timestep: Keras 2's TimeDistributed.
    # Per sequence it reads the last output (the final state).
    activation = "sigmoid" if task.binary else "softmax"
    outputs = keras.layers.Dense(task.n_outputs, activation=activation)(x)
    model = keras.Model(inputs, outputs, name=f"{cfg.direction.value}_lstm{cfg.units}")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=cfg.learning_rate),
        loss=loss_for(task),
        metrics=["accuracy"],
        # The compiled training loops in schedules.py do their own XLA compilation; the model's
        # own train/predict functions stay plain Keras (the fallback and the reference).
        jit_compile=False,
    )
    return model


def loss_for(task: Task) -> keras.losses.Loss:
    """Binary cross-entropy for a sigmoid head, sparse categorical cross-entropy (integer class
    targets) for a softmax head. Called on a masked model's outputs, Keras averages the loss
    over real timesteps only."""
    if task.binary:
        return keras.losses.BinaryCrossentropy()
    return keras.losses.SparseCategoricalCrossentropy()


def padding_mask(task: Task, x):
    """(batch, time) true at real timesteps, by the rule of the Masking layer."""
    ops = keras.ops
    return ops.any(ops.not_equal(x, task.pad_value), axis=-1)


def accuracy(task: Task, x, y, p):
    """Mean accuracy of predictions p against targets y, as a backend tensor (usable in graphs):
    per real timestep for per-timestep tasks, per sequence otherwise. Matches Keras' accuracy."""
    ops = keras.ops
    if task.binary:
        hits = ops.equal(ops.cast(p > 0.5, y.dtype), y)[..., 0]
    else:
        hits = ops.equal(ops.cast(ops.argmax(p, axis=-1), y.dtype), y)
    hits = ops.cast(hits, "float32")
    if task.per_timestep and task.masked:
        mask = ops.cast(padding_mask(task, x), "float32")
        return ops.sum(hits * mask) / ops.maximum(ops.sum(mask), 1.0)
    return ops.mean(hits)
