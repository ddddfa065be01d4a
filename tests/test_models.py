"""Model shapes for every direction x merge mode, and which inputs each output depends on."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from lstmlab.config import (
    Cell,
    ConfigError,
    CumsumConfig,
    Direction,
    EchoConfig,
    Head,
    MergeMode,
    ModelConfig,
)
from lstmlab.data import cumsum, echo
from lstmlab.models.recurrent import build_model


def cumsum_task(timesteps):
    return cumsum.task(CumsumConfig(timesteps=timesteps))


VARIANTS = [(Direction.forward, None), (Direction.backward, None)] + [
    (Direction.bidirectional, m) for m in MergeMode
]


@pytest.mark.parametrize(("direction", "merge"), VARIANTS)
def test_cumsum_head_is_one_sigmoid_per_timestep(direction, merge):
    model = build_model(ModelConfig(units=4, direction=direction, merge_mode=merge), cumsum_task(6))
    out = np.asarray(model(np.random.default_rng(0).random((3, 6, 1), dtype=np.float32)))
    assert out.shape == (3, 6, 1)
    assert ((out > 0) & (out < 1)).all()
    recurrent = model.layers[1]
    width = 8 if merge is MergeMode.concat else 4
    assert recurrent.output.shape == (None, 6, width)


@pytest.mark.parametrize(("direction", "merge"), VARIANTS)
def test_echo_head_is_a_softmax_over_features_on_the_last_output(direction, merge):
    cfg = EchoConfig(length=5, n_features=7, out_index=2)
    model = build_model(ModelConfig(units=3, direction=direction, merge_mode=merge), echo.task(cfg))
    x = echo.sampler(cfg)(np.random.default_rng(0), 4).x
    out = np.asarray(model(x))
    assert out.shape == (4, 7)
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=1e-5)


def _moved_outputs(model: keras.Model, timesteps: int, k: int) -> set[int]:
    """Which outputs change when input k alone changes."""
    x = np.random.default_rng(1).random((1, timesteps, 1), dtype=np.float32)
    bumped = x.copy()
    bumped[0, k, 0] += 1.0
    delta = np.abs(np.asarray(model(bumped)) - np.asarray(model(x)))[0, :, 0]
    return set(np.flatnonzero(delta > 1e-7).tolist())


@pytest.mark.parametrize(
    ("direction", "align", "expected"),
    [
        # Output t sees inputs 0..t.
        (Direction.forward, True, lambda T, k: set(range(k, T))),
        # Aligned backward: output t sees inputs t..T-1, so input k moves outputs 0..k.
        (Direction.backward, True, lambda T, k: set(range(0, k + 1))),
        # The tutorial's go_backwards model: outputs come last-input-first, so output t is the
        # state after reading inputs T-1-t..T-1 and input k moves outputs T-1-k..T-1.
        (Direction.backward, False, lambda T, k: set(range(T - 1 - k, T))),
        (Direction.bidirectional, True, lambda T, k: set(range(T))),
    ],
)
def test_which_outputs_each_input_moves(direction, align, expected):
    T = 6
    keras.utils.set_random_seed(0)
    cfg = ModelConfig(units=5, direction=direction, align_backward=align)
    model = build_model(cfg, cumsum_task(T))
    for k in (0, 2, T - 1):
        assert _moved_outputs(model, T, k) == expected(T, k), f"input {k}"


# --- depth, cells, dropout and heads --------------------------------------------------------

STACKS = [
    ModelConfig(cell=cell, layers=2, units=[6, 4], direction=direction)
    for cell in Cell
    for direction in Direction
]


@pytest.mark.parametrize("cfg", STACKS, ids=lambda c: f"{c.cell.value}-{c.direction.value}")
def test_stacked_layers_have_their_units_cell_and_direction(cfg):
    model = build_model(cfg, cumsum_task(7))
    recurrent = [
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.Bidirectional | keras.layers.RNN)
    ]
    assert len(recurrent) == 2
    for layer, units in zip(recurrent, [6, 4], strict=True):
        inner = layer.forward_layer if isinstance(layer, keras.layers.Bidirectional) else layer
        assert inner.units == units
        assert (
            type(inner).__name__
            == {"lstm": "LSTM", "gru": "GRU", "simple_rnn": "SimpleRNN"}[cfg.cell.value]
        )
    out = model(np.zeros((2, 7, 1), np.float32))
    assert out.shape == (2, 7, 1)
    assert model.name == f"{cfg.direction.value}_{cfg.cell.value}6-4"


def test_units_repeat_for_every_layer_and_name_the_model():
    model = build_model(ModelConfig(layers=3, units=5, direction=Direction.bidirectional),
                        cumsum_task(4))  # fmt: skip
    assert model.name == "bidirectional_lstm5x3"
    assert [layer.forward_layer.units for layer in model.layers
            if isinstance(layer, keras.layers.Bidirectional)] == [5, 5, 5]  # fmt: skip


def test_dropout_acts_in_training_only():
    keras.utils.set_random_seed(0)
    model = build_model(ModelConfig(units=8, dropout=0.5, recurrent_dropout=0.3), cumsum_task(6))
    x = np.random.default_rng(0).random((4, 6, 1), dtype=np.float32)
    np.testing.assert_array_equal(model(x, training=False), model(x, training=False))
    assert not np.allclose(model(x, training=True), model(x, training=False))


@pytest.mark.parametrize("direction", list(Direction))
def test_mean_head_averages_the_last_layer_over_time(direction):
    cfg = EchoConfig(length=6, n_features=4, out_index=1)
    mean = build_model(ModelConfig(units=3, direction=direction, head=Head.mean), echo.task(cfg))
    assert any(isinstance(layer, keras.layers.GlobalAveragePooling1D) for layer in mean.layers)
    assert mean(echo.sampler(cfg)(np.random.default_rng(0), 2).x).shape == (2, 4)


def test_a_head_on_per_timestep_labels_is_a_config_error():
    with pytest.raises(ConfigError, match=r"^model.head=mean: only applies to one label per"):
        build_model(ModelConfig(head=Head.mean), cumsum_task(5))
