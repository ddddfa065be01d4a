"""Model shapes for every direction x merge mode, and which inputs each output depends on."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from lstmlab.config import CumsumConfig, Direction, EchoConfig, MergeMode, ModelConfig
from lstmlab.data import cumsum, echo
from lstmlab.models import build_model


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
