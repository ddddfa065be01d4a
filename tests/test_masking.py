"""Variable-length sequences: padding never changes a prediction, the loss or the accuracy, for
every direction, merge mode and padding side; the compiled loop agrees with plain Keras."""

from __future__ import annotations

from dataclasses import replace

import keras
import numpy as np
import pytest

from lstmlab.config import Cell, Direction, Head, MergeMode, ModelConfig, OnlineConfig
from lstmlab.data import Dataset, Sequences, Task
from lstmlab.evaluation.classification import evaluate
from lstmlab.models.recurrent import build_model
from lstmlab.training.loops import train

MODELS = [
    ModelConfig(units=5, direction=Direction.forward),
    ModelConfig(units=5, direction=Direction.backward),
    ModelConfig(units=5, direction=Direction.backward, align_backward=False),
    *(ModelConfig(units=5, direction=Direction.bidirectional, merge_mode=m) for m in MergeMode),
    # Stacks of every cell, and dropout (inactive at prediction).
    ModelConfig(units=[5, 3], layers=2, cell=Cell.gru, direction=Direction.bidirectional),
    ModelConfig(units=4, layers=2, cell=Cell.simple_rnn, direction=Direction.backward),
    ModelConfig(units=4, layers=3, direction=Direction.forward, dropout=0.3,
                recurrent_dropout=0.2),
]  # fmt: skip
IDS = ["forward", "backward", "backward-tutorial", *(f"bi-{m.value}" for m in MergeMode),
       "bi-gru-x2", "backward-simple_rnn-x2", "forward-lstm-x3-dropout"]  # fmt: skip


def task(per_timestep: bool, classes: int) -> Task:
    return Task("t", timesteps=9, features=3, classes=classes, per_timestep=per_timestep,
                masked=True)  # fmt: skip


def padded(seq: np.ndarray, total: int, side: str, value: float = 0.0) -> np.ndarray:
    pad = np.full((total - len(seq), seq.shape[1]), value, np.float32)
    return np.concatenate([seq, pad] if side == "post" else [pad, seq])[None]


@pytest.mark.parametrize("cfg", MODELS, ids=IDS)
@pytest.mark.parametrize(
    ("per_timestep", "classes"), [(True, 2), (True, 4), (False, 2), (False, 5)]
)
def test_padding_never_changes_an_output(cfg, per_timestep, classes):
    keras.utils.set_random_seed(0)
    model = build_model(cfg, task(per_timestep, classes))
    seq = np.random.default_rng(1).normal(size=(6, 3)).astype(np.float32)
    alone = np.asarray(model(seq[None]))
    for side in ("post", "pre"):
        out = np.asarray(model(padded(seq, 9, side)))
        if per_timestep:
            real = out[:, :6] if side == "post" else out[:, 3:]
            if cfg.direction is Direction.backward and not cfg.align_backward:
                # The tutorial's model emits outputs last input first: the padding comes out
                # at the other end, and the real outputs are still the unpadded ones.
                real = out[:, 3:] if side == "post" else out[:, :6]
            np.testing.assert_allclose(real, alone, atol=1e-6, err_msg=side)
        else:
            np.testing.assert_allclose(out, alone, atol=1e-6, err_msg=side)


@pytest.mark.parametrize("direction", list(Direction))
@pytest.mark.parametrize("cell", list(Cell))
def test_padding_never_changes_the_mean_head(direction, cell):
    keras.utils.set_random_seed(0)
    cfg = ModelConfig(units=5, layers=2, cell=cell, direction=direction, head=Head.mean)
    model = build_model(cfg, task(per_timestep=False, classes=3))
    seq = np.random.default_rng(2).normal(size=(5, 3)).astype(np.float32)
    alone = np.asarray(model(seq[None]))
    for side in ("post", "pre"):
        np.testing.assert_allclose(model(padded(seq, 9, side)), alone, atol=1e-6, err_msg=side)


def _variable(n: int, per_timestep: bool, classes: int, seed: int) -> Sequences:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 10, n)
    mask = np.arange(9)[None] < lengths[:, None]
    x = np.where(mask[..., None], rng.normal(size=(n, 9, 3)), 0.0).astype(np.float32)
    y = rng.integers(0, classes, (n, 9) if per_timestep else n).astype(np.int32)
    if per_timestep:
        y = np.where(mask, y, 0)
    return Sequences(x, y, mask)


@pytest.mark.parametrize(("per_timestep", "classes"), [(True, 2), (True, 3), (False, 4)])
def test_masked_training_matches_plain_train_on_batch(per_timestep, classes):
    t = task(per_timestep, classes)
    data = Dataset(task=t, test=_variable(50, per_timestep, classes, 2), sources=[],
                   classes=[str(c) for c in range(classes)],
                   train=_variable(40, per_timestep, classes, 1))  # fmt: skip
    cfg = ModelConfig(units=6, direction=Direction.bidirectional, learning_rate=0.02)
    keras.utils.set_random_seed(0)
    fast, plain = build_model(cfg, t), build_model(cfg, t)
    plain.set_weights(fast.get_weights())
    sched = OnlineConfig(epochs=24, batch_size=4, chunk=10)
    a = train(fast, t, sched, data, np.random.default_rng(3))
    b = train(plain, t, replace(sched, fast=False), data, np.random.default_rng(3))
    np.testing.assert_allclose(a.losses, b.losses, atol=1e-5)
    np.testing.assert_allclose(a.accs, b.accs, atol=1e-6)
    for wa, wb in zip(fast.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_allclose(wa, wb, atol=1e-5)
    # lstmlab's evaluation on the test set agrees with Keras' own (masked) evaluate, in one
    # batch: Keras averages batch means, lstmlab averages over all real timesteps at once.
    ours = evaluate(fast, t, data.test)
    keras_loss, keras_acc = fast.evaluate(data.test.x, t.targets(data.test.y), batch_size=50,
                                          verbose=0)  # fmt: skip
    assert ours.loss == pytest.approx(keras_loss, abs=1e-5)
    assert ours.acc == pytest.approx(keras_acc, abs=1e-6)
