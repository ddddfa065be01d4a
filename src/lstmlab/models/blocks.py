"""Layers the convolutional families share, written so that padding never reaches a real
timestep: which steps are real, padded steps set to zero, convolution blocks that zero them
again after every block, squeeze-and-excite and attention pooling over the real steps only.

A Conv1D with ``padding="same"`` reads zeros beyond either end of a sequence. Once the padded
steps of a padded sequence are zero too, a kernel at a real step reads exactly what it reads
in the unpadded sequence, on either padding side; batch normalisation and the poolings take
the mask, so their statistics and means are over real steps. Registered with Keras, so a saved
model loads wherever lstmlab is installed (tracking.serving imports this module).
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="lstmlab")
class RealSteps(keras.layers.Layer):
    """(batch, time, features) -> (batch, time) booleans: the steps whose features are not all
    the pad value (what keras.layers.Masking calls real)."""

    def __init__(self, pad_value: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.pad_value = pad_value

    def call(self, x):
        return ops.any(ops.not_equal(x, self.pad_value), axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape[:-1]

    def get_config(self):
        return {**super().get_config(), "pad_value": self.pad_value}


class _TakesMask(keras.layers.Layer):
    """A layer given the mask of real steps as an argument: the Keras mask that batch
    normalisation or a masked recurrent layer attaches to its input stops here, silently (the
    convolutions after it take no mask; the explicit one is passed on)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return None


@keras.saving.register_keras_serializable(package="lstmlab")
class ZeroPadded(_TakesMask):
    """Sets the padded steps (mask false) to zero."""

    def call(self, x, real):
        return ops.where(ops.expand_dims(real, -1), x, ops.zeros_like(x))


def zeroed(x, real):
    """x with its padded steps set to zero (unchanged where no sequence is padded)."""
    return x if real is None else ZeroPadded()(x, real)


@keras.saving.register_keras_serializable(package="lstmlab")
class NeighbourMax(_TakesMask):
    """MaxPool1D(size, strides=1, padding='same') as a maximum of shifted copies: the same
    outputs, but a gradient XLA compiles under TensorFlow's op determinism (which every run
    turns on; XLA has no deterministic MaxPoolGrad). Given the mask of real steps, a window
    never picks a padded step, as 'same' pooling ignores the steps beyond a sequence's ends."""

    def __init__(self, size: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.size = size

    def call(self, x, real=None):
        if real is not None:
            x = ops.where(ops.expand_dims(real, -1), x, ops.full_like(x, -1e9))
        left = (self.size - 1) // 2
        padded = ops.pad(x, [[0, 0], [left, self.size - 1 - left], [0, 0]],
                         constant_values=-1e9)  # fmt: skip
        steps = ops.shape(x)[1]
        out = padded[:, :steps]
        for shift in range(1, self.size):
            out = ops.maximum(out, padded[:, shift : shift + steps])
        return out

    def get_config(self):
        return {**super().get_config(), "size": self.size}


@keras.saving.register_keras_serializable(package="lstmlab")
class DimensionShuffle(keras.layers.Layer):
    """(batch, time, variables) -> (batch, variables, time): LSTM-FCN's recurrent branch reads
    each variable as one timestep."""

    def call(self, x):
        return ops.transpose(x, (0, 2, 1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2], input_shape[1])


@keras.saving.register_keras_serializable(package="lstmlab")
class ChannelScale(_TakesMask):
    """Squeeze-and-excite's last step: every step's channels times the sequence's weights."""

    def call(self, x, scale):
        return x * ops.expand_dims(scale, 1)


@keras.saving.register_keras_serializable(package="lstmlab")
class AttentionPooling(_TakesMask):
    """One vector per sequence: the steps' outputs weighted by a softmax over the real steps of
    learned scores (additive attention, Bahdanau et al. 2015: v . tanh(W h_t))."""

    def __init__(self, units: int = 32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), name="w")
        self.v = self.add_weight(shape=(self.units,), name="v")

    def call(self, h, real=None):
        scores = ops.tensordot(ops.tanh(ops.tensordot(h, self.w, axes=1)), self.v, axes=1)
        if real is not None:
            scores = ops.where(real, scores, ops.full_like(scores, -1e9))
        weights = ops.softmax(scores, axis=1)
        return ops.sum(h * ops.expand_dims(weights, -1), axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def conv_block(x, filters: int, kernel: int, real):
    """Conv1D ('same'), batch normalisation, ReLU; the padded steps zero again after it."""
    x = keras.layers.Conv1D(filters, kernel, padding="same", kernel_initializer="he_uniform")(x)
    x = keras.layers.BatchNormalization()(x, mask=real)
    return zeroed(keras.layers.Activation("relu")(x), real)


def squeeze_excite(x, reduction: int, real):
    """Hu et al. 2018, as MLSTM-FCN uses it: channel weights from the sequence's mean over its
    real steps, through a bottleneck."""
    channels = x.shape[-1]
    squeezed = keras.layers.GlobalAveragePooling1D()(x, mask=real)
    bottleneck = max(1, channels // reduction)
    squeezed = keras.layers.Dense(bottleneck, activation="relu", kernel_initializer="he_normal",
                                  use_bias=False)(squeezed)  # fmt: skip
    weights = keras.layers.Dense(channels, activation="sigmoid", kernel_initializer="he_normal",
                                 use_bias=False)(squeezed)  # fmt: skip
    return ChannelScale()(x, weights)


@keras.saving.register_keras_serializable(package="lstmlab")
class TargetUnits(keras.layers.Layer):
    """A regression model's outputs back in the target's units: y * std + mean, the training
    split's statistics the targets were standardised with (the logged and served model ends
    with it, so that it predicts real values, not standardised ones)."""

    def __init__(self, mean: float = 0.0, std: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.mean, self.std = float(mean), float(std)
        self.supports_masking = True

    def call(self, x):
        return x * self.std + self.mean

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std}


def in_target_units(model: keras.Model, task, scale: tuple[float, float]) -> keras.Model:
    """The model as it is served: its outputs through TargetUnits(scale)."""
    inputs = keras.Input(shape=task.input_shape)
    outputs = TargetUnits(*scale, name="target_units")(model(inputs))
    return keras.Model(inputs, outputs, name=model.name)
