"""The Keras model for a problem, from the model config: one recurrent layer and a head."""

from __future__ import annotations

import keras

from lstmlab.config import Direction, ModelConfig, merge_mode_of
from lstmlab.problems import Problem


@keras.saving.register_keras_serializable(package="lstmlab")
class ReverseTime(keras.layers.Layer):
    """Flips the time axis.

    ``LSTM(go_backwards=True, return_sequences=True)`` emits its outputs in the order it reads
    the input, last step first: output 0 depends only on the last input. ``Bidirectional``
    flips them back internally; a one-directional backward model has to do it itself, or label t
    is trained against the state at input T-1-t (the tutorial's "LSTM backward" model).
    """

    def call(self, x):
        return keras.ops.flip(x, axis=1)


def build_model(cfg: ModelConfig, problem: Problem) -> keras.Model:
    """Compiled model: Adam(cfg.learning_rate), the problem's loss, accuracy."""
    inputs = keras.Input(shape=problem.input_shape)
    seq = problem.per_timestep
    backward = cfg.direction is Direction.backward
    lstm = keras.layers.LSTM(cfg.units, return_sequences=seq, go_backwards=backward)
    if cfg.direction is Direction.bidirectional:
        x = keras.layers.Bidirectional(lstm, merge_mode=merge_mode_of(cfg).value)(inputs)
    else:
        x = lstm(inputs)
        if backward and seq and cfg.align_backward:
            x = ReverseTime()(x)
    if seq:
        # Dense on (batch, time, features) is applied per timestep: Keras 2's TimeDistributed.
        outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    else:
        outputs = keras.layers.Dense(problem.n_outputs, activation="softmax")(x)
    model = keras.Model(inputs, outputs, name=f"{cfg.direction.value}_lstm{cfg.units}")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=cfg.learning_rate),
        loss=loss_for(problem),
        metrics=["accuracy"],
        # The compiled training loops in schedules.py do their own XLA compilation; the model's
        # own train/predict functions stay plain Keras (the fallback and the reference).
        jit_compile=False,
    )
    return model


def loss_for(problem: Problem) -> keras.losses.Loss:
    if problem.per_timestep:
        return keras.losses.BinaryCrossentropy()
    return keras.losses.CategoricalCrossentropy()


def accuracy(problem: Problem, y, p):
    """Mean accuracy of predictions p against targets y, as a backend tensor (usable in graphs):
    per timestep for per-timestep problems, per sequence otherwise. Matches Keras' accuracy."""
    ops = keras.ops
    if problem.per_timestep:
        hits = ops.equal(ops.cast(p > 0.5, y.dtype), y)
    else:
        hits = ops.equal(ops.argmax(p, axis=-1), ops.argmax(y, axis=-1))
    return ops.mean(ops.cast(hits, "float32"))
