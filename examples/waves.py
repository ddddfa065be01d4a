"""An experiment that lives outside lstmlab: a problem and a model of your own, plugged in by
config (examples/conf/), with no edit to lstmlab.

    lstmlab --config-dir examples/conf experiment=waves                  # the generator
    lstmlab --config-dir examples/conf experiment=waves dataset=waves_arrays   # fixed arrays

The problem: tell a sine, a square and a sawtooth wave apart, at a random frequency and phase,
under noise. ``sample`` is a generator (fresh sequences every step); ``arrays`` draws a fixed
dataset of sequences of different lengths, as a recorded one would be. ``build`` is the model:
a small convolution in front of a GRU, written with plain Keras.
"""

from __future__ import annotations

import keras
import numpy as np

SHAPES = ("sine", "square", "sawtooth")


def _waves(rng: np.random.Generator, n: int, length: int, noise: float):
    labels = rng.integers(0, len(SHAPES), n)
    cycles = rng.uniform(1.5, 4.0, (n, 1))
    phase = rng.uniform(0, 1, (n, 1))
    t = np.linspace(0, 1, length)[None, :] * cycles + phase
    frac = t % 1.0
    waves = np.stack([np.sin(2 * np.pi * t), np.where(frac < 0.5, 1.0, -1.0), 2 * frac - 1])
    x = waves[labels, np.arange(n)] + noise * rng.normal(size=(n, length))
    return x[..., None].astype(np.float32), labels


def sample(rng: np.random.Generator, n: int, length: int = 40, noise: float = 0.3):
    """n fresh sequences (n, length, 1) and their shape's index (dataset=custom_generator)."""
    return _waves(rng, n, length, noise)


def arrays(n: int = 600, min_length: int = 20, max_length: int = 60, noise: float = 0.3,
           seed: int = 0) -> dict:  # fmt: skip
    """A fixed dataset of n sequences of different lengths, labelled by name
    (dataset=custom): x is a list of (length, 1) arrays, y the shapes' names."""
    rng = np.random.default_rng(seed)
    x, y = [], []
    for _ in range(n):
        length = int(rng.integers(min_length, max_length + 1))
        wave, label = _waves(rng, 1, length, noise)
        x.append(wave[0])
        y.append(SHAPES[label[0]])
    return {"x": x, "y": np.array(y)}


def build(task, filters: int = 16, units: int = 32) -> keras.Model:
    """A Conv1D + GRU classifier for lstmlab's task (model=custom): one output per class, or one
    sigmoid for two. lstmlab compiles it. Sequences of different lengths come padded with
    task.pad_value (task.masked): a convolution would mix padding into real timesteps, so they
    go through Masking straight into the GRU, which then skips the padding."""
    inputs = keras.Input(shape=task.input_shape)
    if task.masked:
        x = keras.layers.Masking(mask_value=task.pad_value)(inputs)
    else:
        x = keras.layers.Conv1D(filters, 5, padding="same", activation="relu")(inputs)
    x = keras.layers.GRU(units)(x)
    activation = "sigmoid" if task.binary else "softmax"
    outputs = keras.layers.Dense(task.n_outputs, activation=activation)(x)
    return keras.Model(inputs, outputs, name="conv_gru")
