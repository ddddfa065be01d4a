"""model=lstm_fcn (and alstm_fcn): Karim, Majumdar, Darabi & Chen (2017), "LSTM fully
convolutional networks for time series classification". A recurrent branch — by default
reading the *dimension-shuffled* series, each variable one timestep — beside the FCN's
convolution blocks; the two pooled vectors concatenated into the softmax. With
``attention=true`` (ALSTM-FCN) the branch is the paper's AttentionLSTM (models/attention_lstm.py),
or with ``attention_mode=pooling`` an ordinary branch whose outputs at every step are pooled by
attention weights over the real steps."""

from __future__ import annotations

import keras

from lstmlab.config import AttentionMode, ConfigError, Direction, LstmFcnConfig, merge_mode_of
from lstmlab.data import Task
from lstmlab.models import fcn
from lstmlab.models.attention_lstm import AttentionLSTM
from lstmlab.models.blocks import AttentionPooling, DimensionShuffle
from lstmlab.models.recurrent import CELLS, ReverseTime


def shuffled(cfg: LstmFcnConfig, task: Task) -> bool:
    """Whether the branch reads the transposed series: as configured, or (null) wherever all
    sequences have one length. Shuffled, a padded series' padding would become features of
    every step, so variable lengths refuse it."""
    if cfg.dimension_shuffle is None:
        return not task.masked
    if cfg.dimension_shuffle and task.masked:
        raise ConfigError(
            "model.dimension_shuffle", "true",
            f"{task.name}'s sequences vary in length, and a shuffled series reads the padding "
            "as features, so padding would change predictions: set model.dimension_shuffle="
            "false (or null)",
        )  # fmt: skip
    return cfg.dimension_shuffle


def recurrent_branch(cfg: LstmFcnConfig, task: Task, inputs, real):
    """One vector per sequence from the recurrent branch (inputs as given, pad values and all:
    the Masking layer finds the padded steps by them)."""
    shuffle = shuffled(cfg, task)
    x = DimensionShuffle()(inputs) if shuffle else inputs
    if real is not None and not shuffle:
        # The recurrent layer skips padded steps (its state carries over them).
        x = keras.layers.Masking(mask_value=task.pad_value)(x)
    pooled = cfg.attention and cfg.attention_mode is AttentionMode.pooling
    kind = AttentionLSTM if cfg.attention and not pooled else CELLS[cfg.cell]
    layer = kind(cfg.units, return_sequences=pooled,
                 go_backwards=cfg.direction is Direction.backward)  # fmt: skip
    if cfg.direction is Direction.bidirectional:
        layer = keras.layers.Bidirectional(layer, merge_mode=merge_mode_of(cfg).value)
    x = layer(x)
    if pooled:
        # A backward layer's outputs come last step first; weights do not depend on order,
        # but the mask does: flip it with them.
        mask = None if shuffle else real
        if mask is not None and cfg.direction is Direction.backward:
            mask = ReverseTime()(mask)
        x = AttentionPooling()(x, mask)
    return keras.layers.Dropout(cfg.dropout)(x)


def build(cfg: LstmFcnConfig, task: Task, reduction: int | None = None) -> keras.Model:
    fcn.check(cfg, task)
    inputs, zeroed, real = fcn.inputs_and_mask(task)
    branch = recurrent_branch(cfg, task, inputs, real)
    pooled = fcn.convolutions(cfg, zeroed, real, reduction)
    joined = keras.layers.Concatenate()([branch, pooled])
    name = ("alstm_fcn" if cfg.attention else cfg.kind) + str(cfg.units)
    return keras.Model(inputs, fcn.classifier(task, joined), name=name)
