"""model=resnet: the residual network of Wang, Yan & Oates (2017), "Time series classification
from scratch with deep neural networks: a strong baseline", as hfawaz/dl-4-tsc
(``classifiers/resnet.py``) builds it — the ResNet of the published figures in
``sweeps/published.csv``. Three residual blocks of three convolutions each (kernels 8, 5, 3;
64, 128, 128 filters), batch normalisation after every convolution and ReLU between them; the
block's input joins its output through a 1-wide convolution where the filters change (batch
normalised alone where they do not), then ReLU; global average pooling and the softmax.

Padding never reaches a real step: the padded steps are zeroed before every convolution, the
batch normalisations and the pooling take the mask (the FCN's way, models/blocks.py)."""

from __future__ import annotations

import keras

from lstmlab.config import ResNetConfig
from lstmlab.data import Task
from lstmlab.models import fcn
from lstmlab.models.blocks import zeroed


def residual_block(x, filters: int, kernels: list[int], real):
    """Convolutions (the last without ReLU) plus the shortcut, then ReLU."""
    y = x
    for i, kernel in enumerate(kernels):
        # Keras' default initializer, as dl-4-tsc's ResNet (the FCN blocks use he_uniform).
        y = keras.layers.Conv1D(filters, kernel, padding="same")(y)
        y = keras.layers.BatchNormalization()(y, mask=real)
        if i < len(kernels) - 1:
            y = zeroed(keras.layers.Activation("relu")(y), real)
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = keras.layers.Conv1D(filters, 1, padding="same")(shortcut)
    shortcut = keras.layers.BatchNormalization()(shortcut, mask=real)
    out = keras.layers.Activation("relu")(keras.layers.Add()([shortcut, y]))
    return zeroed(out, real)


def build(cfg: ResNetConfig, task: Task) -> keras.Model:
    fcn.check(cfg, task)
    inputs, x, real = fcn.inputs_and_mask(task)
    for filters in cfg.filters:
        x = residual_block(x, filters, list(cfg.kernels), real)
    pooled = keras.layers.GlobalAveragePooling1D()(x, mask=real)
    return keras.Model(inputs, fcn.classifier(task, pooled), name="resnet")
