"""model=inception_time: the network of InceptionTime (Ismail Fawaz, Lucas, Forestier,
Pelletier, Schmidt, Weber, Webb, Idoumghar, Muller & Petitjean 2020, "InceptionTime: finding
AlexNet for time series classification"), as hfawaz/InceptionTime (``classifiers/inception.py``)
builds it. Six inception modules — a 1-wide bottleneck of 32 filters (where the input has more
than one channel), parallel convolutions of widths 40, 20 and 10 beside a max-pooled branch
with a 1-wide convolution, 32 filters each, concatenated, batch normalised, ReLU — a shortcut
around every three modules, global average pooling and the softmax. The published figures
are ensembles of five networks: a sweep's report gives the seeds' ensemble
(``ensemble_test_acc``).

Padding never reaches a real step: the padded steps are zero before every convolution, the
lowest value before the max-pooling, and the batch normalisations and the pooling take the
mask; the max-pooling is written as a maximum of shifted copies, which XLA compiles under
TensorFlow's op determinism (its MaxPoolGrad has no deterministic XLA kernel). Unlike the
FCN, a series may be shorter than the widest kernel (the authors ran 40-wide kernels on
ItalyPowerDemand's 24 steps): a 'same' convolution reads zeros beyond the ends."""

from __future__ import annotations

import keras

from lstmlab.config import InceptionTimeConfig
from lstmlab.data import Task
from lstmlab.models import fcn
from lstmlab.models.blocks import NeighbourMax, zeroed


def _normalised_relu(x, real):
    x = keras.layers.BatchNormalization()(x, mask=real)
    return zeroed(keras.layers.Activation("relu")(x), real)


def inception_module(x, filters: int, kernels: list[int], bottleneck: int, real):
    inner = x
    if bottleneck and x.shape[-1] > 1:
        inner = keras.layers.Conv1D(bottleneck, 1, padding="same", use_bias=False)(x)
    branches = [keras.layers.Conv1D(filters, k, padding="same", use_bias=False)(inner)
                for k in kernels]  # fmt: skip
    pooled = NeighbourMax(3)(x, real)
    branches.append(keras.layers.Conv1D(filters, 1, padding="same", use_bias=False)(
        zeroed(pooled, real)))  # fmt: skip
    return _normalised_relu(keras.layers.Concatenate(axis=2)(branches), real)


def shortcut(res, x, real):
    y = keras.layers.Conv1D(x.shape[-1], 1, padding="same", use_bias=False)(res)
    y = keras.layers.BatchNormalization()(y, mask=real)
    return zeroed(keras.layers.Activation("relu")(keras.layers.Add()([y, x])), real)


def build(cfg: InceptionTimeConfig, task: Task) -> keras.Model:
    fcn.check(cfg, task, longest_kernel=False)
    inputs, x, real = fcn.inputs_and_mask(task)
    res = x
    for depth, filters in enumerate(cfg.filters):
        x = inception_module(x, filters, list(cfg.kernels), cfg.bottleneck, real)
        if cfg.residual and depth % 3 == 2:
            x = res = shortcut(res, x, real)
    pooled = keras.layers.GlobalAveragePooling1D()(x, mask=real)
    return keras.Model(inputs, fcn.classifier(task, pooled), name="inception_time")
