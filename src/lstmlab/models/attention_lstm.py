"""The AttentionLSTM of ALSTM-FCN (Karim, Majumdar, Darabi & Chen 2017): an LSTM that, before
every step, attends over the whole input sequence (additive attention, Bahdanau et al. 2015)
and feeds the attended context into its gates beside the step's input.

At step t, with the previous output h:

    score_s = v . tanh(W_a x_s + b_a + U_a h)      for every real step s of the sequence
    alpha   = softmax(score) over the real steps
    context = sum_s alpha_s x_s
    gates   = x_t W + h U + context A + b          (i, f, c, o, as Keras' LSTM)

as the authors' Keras 2 layer computes it (titu1994/LSTM-FCN ``utils/layer_utils.py``,
``AttentionLSTM``), with three deliberate differences, each so that it matches lstmlab's LSTM
branch rather than Keras 2's defaults: sigmoid gates (Keras 2 defaulted to hard_sigmoid),
the forget gate's bias starting at 1 (the authors' layer meant to, but passed the plain zeros
initializer), and padded steps left out of the softmax (the authors' data had none).

Keras 3's RNN layer has no ``constants`` (Keras 2 passed the sequence to the cell that way):
``AttentionLSTM`` hands the cell the sequence, its projections and its mask for the span of one
call, so masking, ``go_backwards``, ``Bidirectional`` and saving work as for Keras' own LSTM.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="lstmlab")
class AttentionLSTMCell(keras.layers.Layer):
    """One step of the AttentionLSTM; ``memory`` (set by AttentionLSTM for one call) holds the
    sequence attended over, its projection W_a x + b_a, and its mask of real steps."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]
        self.output_size = units
        self.memory = None

    def build(self, input_shape):
        features, units = input_shape[-1], self.units

        def forget_bias_one(shape, dtype=None):
            return ops.concatenate([ops.zeros((units,)), ops.ones((units,)),
                                    ops.zeros((2 * units,))])  # fmt: skip

        # Initializers as the authors' layer: Glorot for the input kernel, orthogonal for the
        # recurrent and attention kernels, zeros for the attention's bias and its v (so every
        # step starts attending uniformly).
        self.kernel = self.add_weight((features, 4 * units), "glorot_uniform", name="kernel")
        self.recurrent_kernel = self.add_weight((units, 4 * units), "orthogonal",
                                                name="recurrent_kernel")  # fmt: skip
        self.attention_kernel = self.add_weight((features, 4 * units), "orthogonal",
                                                name="attention_kernel")  # fmt: skip
        self.bias = self.add_weight((4 * units,), forget_bias_one, name="bias")
        self.attention_w = self.add_weight((features, units), "orthogonal", name="attention_w")
        self.attention_u = self.add_weight((units, units), "orthogonal", name="attention_u")
        self.attention_b = self.add_weight((units,), "zeros", name="attention_b")
        self.attention_v = self.add_weight((units,), "zeros", name="attention_v")

    def keys(self, sequence):
        """W_a x_s + b_a for every step: the part of the scores that does not change with t."""
        return ops.tensordot(sequence, self.attention_w, axes=1) + self.attention_b

    def call(self, inputs, states, training=False):
        h, c = states
        sequence, keys, real = self.memory
        query = ops.expand_dims(ops.matmul(h, self.attention_u), 1)
        scores = ops.tensordot(ops.tanh(keys + query), self.attention_v, axes=1)
        if real is not None:
            scores = ops.where(real, scores, ops.full_like(scores, -1e9))
        if sequence.shape[1] == 1:
            # A one-step sequence (a dimension-shuffled univariate series, as the authors
            # trained on the UCR sets) is attended with weight 1 whatever the scores.
            context = sequence[:, 0]
        else:
            context = ops.sum(sequence * ops.expand_dims(ops.softmax(scores, axis=1), -1), 1)
        z = (ops.matmul(inputs, self.kernel) + ops.matmul(h, self.recurrent_kernel)
             + ops.matmul(context, self.attention_kernel) + self.bias)  # fmt: skip
        i, f, g, o = ops.split(z, 4, axis=-1)
        c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        h = ops.sigmoid(o) * ops.tanh(c)
        return h, [h, c]

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype) for _ in range(2)]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="lstmlab")
class AttentionLSTM(keras.layers.RNN):
    """The AttentionLSTM layer: an RNN over AttentionLSTMCell that attends over its input."""

    def __init__(self, units: int, **kwargs):
        kwargs.pop("cell", None)
        super().__init__(AttentionLSTMCell(units), **kwargs)
        self.units = units

    def inner_loop(self, sequences, initial_state, mask, training=False):
        # The sequence and mask in input order: attention weighs every real step, whichever
        # way the recurrence reads them.
        self.cell.memory = (sequences, self.cell.keys(sequences), mask)
        try:
            return super().inner_loop(sequences, initial_state, mask, training)
        finally:
            self.cell.memory = None

    def get_config(self):
        config = super().get_config()
        config.pop("cell", None)
        return {**config, "units": self.units}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
