"""model=fcn: the fully convolutional network of Wang, Yan & Oates (2017), "Time series
classification from scratch with deep neural networks: a strong baseline": three Conv1D blocks
(128, 256, 128 filters; kernels 8, 5, 3; batch normalisation, ReLU), global average pooling,
softmax. The baseline the LSTM-FCN family is judged against."""

from __future__ import annotations

import keras

from lstmlab.config import ConfigError, FcnConfig
from lstmlab.data import Task
from lstmlab.models.blocks import RealSteps, ZeroPadded, conv_block, squeeze_excite


def check(cfg: FcnConfig, task: Task, longest_kernel: bool = True) -> None:
    """The task the convolutional families can take: one label per sequence, and (with
    longest_kernel) sequences at least as long as the largest kernel."""
    if task.per_timestep:
        raise ConfigError(
            "model", cfg.kind,
            f"classifies whole sequences; {task.name} has one label per timestep: use a "
            "recurrent model (model=lstm, bilstm, gru)",
        )  # fmt: skip
    if longest_kernel and task.timesteps < max(cfg.kernels):
        raise ConfigError(
            "model.kernels", list(cfg.kernels),
            f"{task.name}'s sequences have {task.timesteps} timesteps, fewer than the largest "
            f"kernel ({max(cfg.kernels)}): give smaller kernels",
        )  # fmt: skip


def inputs_and_mask(task: Task):
    """The model's input, the same with its padded steps zeroed, and the mask of real steps
    (None for sequences of one length)."""
    inputs = keras.Input(shape=task.input_shape)
    if not task.masked:
        return inputs, inputs, None
    real = RealSteps(task.pad_value)(inputs)
    return inputs, ZeroPadded()(inputs, real), real


def convolutions(cfg: FcnConfig, x, real, reduction: int | None = None):
    """The convolution blocks, pooled to one vector per sequence; with reduction,
    squeeze-and-excite after the first two blocks (MLSTM-FCN)."""
    for i, (filters, kernel) in enumerate(zip(cfg.filters, cfg.kernels, strict=True)):
        x = conv_block(x, filters, kernel, real)
        if reduction is not None and i < 2:
            x = squeeze_excite(x, reduction, real)
    return keras.layers.GlobalAveragePooling1D()(x, mask=real)


def classifier(task: Task, x):
    from lstmlab.models.recurrent import output_layer

    return output_layer(task, x)


def build(cfg: FcnConfig, task: Task) -> keras.Model:
    check(cfg, task)
    inputs, x, real = inputs_and_mask(task)
    outputs = classifier(task, convolutions(cfg, x, real))
    return keras.Model(inputs, outputs, name="fcn")


__all__ = ["build", "check", "classifier", "convolutions", "inputs_and_mask", "squeeze_excite"]
