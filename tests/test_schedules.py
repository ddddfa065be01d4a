"""The compiled training loops against plain Keras, step for step."""

from __future__ import annotations

from dataclasses import replace

import keras
import numpy as np
import pytest
from conftest import generator_data

from lstmlab.config import (
    BulkConfig,
    Cell,
    CumsumConfig,
    Direction,
    EarlyStoppingConfig,
    EchoConfig,
    MergeMode,
    ModelConfig,
    Monitor,
    OnlineConfig,
)
from lstmlab.evaluation.classification import evaluate
from lstmlab.models.recurrent import build_model
from lstmlab.training.loops import (
    EarlyStopping,
    TrainingDiverged,
    bulk_chunks,
    planned_steps,
    train,
)

CUMSUM = generator_data(CumsumConfig(timesteps=10))


def _twins(cfg: ModelConfig, task):
    """Two compiled models with the same initial weights."""
    keras.utils.set_random_seed(0)
    a = build_model(cfg, task)
    b = build_model(cfg, task)
    b.set_weights(a.get_weights())
    return a, b


def _assert_same_weights(a: keras.Model, b: keras.Model, atol: float = 1e-5) -> None:
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(wa, wb, atol=atol, rtol=0)


@pytest.mark.parametrize(
    ("direction", "merge", "jit"),
    [
        (Direction.forward, None, True),
        (Direction.backward, None, True),
        (Direction.bidirectional, MergeMode.mul, True),
        (Direction.bidirectional, None, False),  # the graph loop, without XLA
    ],
)
def test_online_fast_loop_matches_plain_train_on_batch(direction, merge, jit):
    task = CUMSUM.task
    fast, plain = _twins(ModelConfig(units=8, direction=direction, merge_mode=merge), task)
    # 50 steps in chunks of 20: the last chunk is padded, which must not change the math.
    cfg = OnlineConfig(epochs=50, chunk=20, fast=True, jit=jit)
    t_fast = train(fast, task, cfg, CUMSUM, np.random.default_rng(5))
    t_plain = train(plain, task, replace(cfg, fast=False), CUMSUM, np.random.default_rng(5))
    assert t_fast.steps == t_plain.steps == 50
    np.testing.assert_allclose(t_fast.losses, t_plain.losses, atol=1e-5)
    np.testing.assert_allclose(t_fast.accs, t_plain.accs, atol=1e-6)
    _assert_same_weights(fast, plain)
    # And the weights did move: the comparison is not between two untouched models.
    fresh, _ = _twins(ModelConfig(units=8, direction=direction, merge_mode=merge), task)
    assert (
        max(
            np.abs(a - b).max()
            for a, b in zip(fast.get_weights(), fresh.get_weights(), strict=True)
        )
        > 1e-3
    )


def test_online_fast_loop_matches_plain_on_echo():
    data = generator_data(EchoConfig(length=6, n_features=5, out_index=2))
    fast, plain = _twins(ModelConfig(units=4), data.task)
    cfg = OnlineConfig(epochs=30, chunk=30, fast=True)
    train(fast, data.task, cfg, data, np.random.default_rng(1))
    train(plain, data.task, replace(cfg, fast=False), data, np.random.default_rng(1))
    _assert_same_weights(fast, plain)


def test_bulk_fast_path_matches_plain_path_and_its_accuracy():
    data = generator_data(CumsumConfig(timesteps=10, samples=95), test_samples=500)
    cfg_model = ModelConfig(units=8, direction=Direction.bidirectional, learning_rate=0.01)
    fast, plain = _twins(cfg_model, data.task)
    # 95 samples in batches of 10: 9 full batches and one of 5 per epoch, as model.fit does.
    cfg = BulkConfig(epochs=3, batch_size=10, chunk=4, fast=True)
    t_fast = train(fast, data.task, cfg, data, np.random.default_rng(2))
    t_plain = train(plain, data.task, replace(cfg, fast=False), data, np.random.default_rng(2))
    assert t_fast.steps == t_plain.steps == planned_steps(cfg, 95) == 30
    _assert_same_weights(fast, plain)
    e_fast = evaluate(fast, data.task, data.test)
    e_plain = evaluate(plain, data.task, data.test)
    assert abs(e_fast.acc - e_plain.acc) <= 0.003


def test_bulk_chunks_visit_every_sample_once_per_epoch():
    data = generator_data(CumsumConfig(timesteps=3, samples=23))
    x_all = data.sampler(np.random.default_rng(0), 23).x
    cfg = BulkConfig(epochs=2, batch_size=5, chunk=2)
    chunks = list(bulk_chunks(data, cfg, np.random.default_rng(0)))
    # Per epoch: chunks of 2 and 2 full batches, then the remainder batch of 3 on its own.
    assert [xs.shape[:2] for xs, _, _ in chunks] == [(2, 5), (2, 5), (1, 3)] * 2
    # Where the stream continues after each chunk (an epoch under way carries its order).
    assert [(p["epoch"], p["start"], "order" in p) for _, _, p in chunks] == [
        (0, 2, True), (0, 4, True), (1, 0, False), (1, 2, True), (1, 4, True), (2, 0, False),
    ]  # fmt: skip
    first_epoch = np.concatenate([xs.reshape(-1, 3, 1) for xs, _, _ in chunks[:3]])
    assert sorted(map(tuple, first_epoch[:, :, 0])) == sorted(map(tuple, x_all[:, :, 0]))


def test_a_nan_loss_stops_training_after_logging_the_steps_before_it():
    data = generator_data(CumsumConfig(timesteps=5))
    model = build_model(ModelConfig(units=3), data.task)
    model.set_weights([np.full_like(w, np.nan) for w in model.get_weights()])
    seen = []
    with pytest.raises(TrainingDiverged, match="train_loss is nan at step 0"):
        train(
            model,
            data.task,
            OnlineConfig(epochs=10, chunk=5),
            data,
            np.random.default_rng(0),
            on_steps=lambda first, losses, accs, lrs: seen.append((first, len(losses))),
        )
    assert seen == [(0, 5)]


def test_validation_cuts_the_stream_without_changing_the_training():
    cfg_model = ModelConfig(units=4)
    a, b = _twins(cfg_model, CUMSUM.task)
    cfg = OnlineConfig(epochs=30, chunk=12)
    seen = []

    def validate(done):
        seen.append(done)
        return {"val_loss": 1.0, "val_acc": 0.5}

    with_val = train(a, CUMSUM.task, cfg, CUMSUM, np.random.default_rng(4), validate=validate,
                     every=7)  # fmt: skip
    without = train(b, CUMSUM.task, cfg, CUMSUM, np.random.default_rng(4))
    # After every 7 steps, and once more at the end.
    assert seen == [7, 14, 21, 28, 30]
    assert [s for s, _ in with_val.validations] == seen
    np.testing.assert_allclose(with_val.losses, without.losses, atol=1e-6)
    _assert_same_weights(a, b, atol=1e-6)


def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    model = build_model(ModelConfig(units=4), CUMSUM.task)
    scripted = iter([0.9, 0.5, 0.52, 0.49, 0.6, 0.7, 0.1])  # best by > min_delta: 0.5 (step 10)
    weights_at = {}

    def validate(done):
        weights_at[done] = model.get_weights()
        return {"val_loss": next(scripted), "val_acc": 0.0}

    stopping = EarlyStoppingConfig(patience=3, min_delta=0.02)
    cfg = OnlineConfig(epochs=100, chunk=8, early_stopping=stopping)
    result = train(model, CUMSUM.task, cfg, CUMSUM, np.random.default_rng(0), validate=validate,
                   every=5)  # fmt: skip
    # 0.52 and 0.49 do not beat 0.5 by 0.02, nor does 0.6: three in a row, stop at step 25.
    assert [s for s, _ in result.validations] == [5, 10, 15, 20, 25]
    assert result.stopped_early and result.steps == 25
    assert (result.best_step, result.best_value) == (10, 0.5)
    for w, best in zip(model.get_weights(), weights_at[10], strict=True):
        np.testing.assert_array_equal(w, best)


def test_early_stopping_on_accuracy_keeps_the_highest():
    stopper = EarlyStopping(EarlyStoppingConfig(patience=2, monitor=Monitor.val_acc))
    model = build_model(ModelConfig(units=2), CUMSUM.task)
    decisions = [stopper.update(s, {"val_acc": v}, model) for s, v in
                 [(1, 0.5), (2, 0.7), (3, 0.6), (4, 0.7)]]  # fmt: skip
    # An equal value is no improvement: two validations after the best, it says stop.
    assert decisions == [False, False, False, True]
    assert (stopper.best_step, stopper.best) == (2, 0.7)


@pytest.mark.parametrize(
    "cfg",
    [
        ModelConfig(cell=Cell.gru, layers=2, units=[6, 4]),
        ModelConfig(layers=2, units=5, direction=Direction.bidirectional),
        ModelConfig(cell=Cell.simple_rnn, layers=2, units=4, direction=Direction.backward),
    ],
    ids=["gru-x2", "bilstm-x2", "backward-simple_rnn-x2"],
)
def test_stacked_models_in_the_xla_loop_match_plain_train_on_batch(cfg):
    fast, plain = _twins(cfg, CUMSUM.task)
    sched = OnlineConfig(epochs=30, chunk=12)
    a = train(fast, CUMSUM.task, sched, CUMSUM, np.random.default_rng(5))
    b = train(plain, CUMSUM.task, replace(sched, fast=False), CUMSUM, np.random.default_rng(5))
    np.testing.assert_allclose(a.losses, b.losses, atol=1e-5)
    _assert_same_weights(fast, plain)


def _same_seed_twins(cfg: ModelConfig, task):
    """Two models built under the same global seed: the same weights and the same dropout
    seed generators (set_weights copies the first, not the second)."""
    keras.utils.set_random_seed(0)
    a = build_model(cfg, task)
    keras.utils.set_random_seed(0)
    return a, build_model(cfg, task)


DROPOUT = ModelConfig(units=5, dropout=0.3, recurrent_dropout=0.2,
                      direction=Direction.bidirectional)  # fmt: skip


def test_with_dropout_the_graph_loop_matches_plain_train_on_batch_exactly():
    graph, plain = _same_seed_twins(DROPOUT, CUMSUM.task)
    sched = OnlineConfig(epochs=30, chunk=12, jit=False)
    a = train(graph, CUMSUM.task, sched, CUMSUM, np.random.default_rng(5))
    b = train(plain, CUMSUM.task, replace(sched, fast=False), CUMSUM, np.random.default_rng(5))
    np.testing.assert_array_equal(a.losses, b.losses)
    _assert_same_weights(graph, plain, atol=0)


def test_with_dropout_the_xla_loop_is_deterministic_but_draws_its_own_masks():
    """TensorFlow's stateless random ops give other numbers inside an XLA program than in a
    plain graph for the same seed (its default generator is Philox in a graph and another
    inside XLA; even with Philox pinned, 2-D draws differ), so the XLA loop's dropout masks
    are not train_on_batch's. What holds: same seed, same run; and the loop does drop."""
    runs = []
    for _ in range(2):
        model, _ = _same_seed_twins(DROPOUT, CUMSUM.task)
        runs.append(train(model, CUMSUM.task, OnlineConfig(epochs=20, chunk=20), CUMSUM,
                          np.random.default_rng(5)).losses)  # fmt: skip
    np.testing.assert_array_equal(runs[0], runs[1])
    no_dropout, _ = _same_seed_twins(replace(DROPOUT, dropout=0.0, recurrent_dropout=0.0),
                                     CUMSUM.task)  # fmt: skip
    plain = train(no_dropout, CUMSUM.task, OnlineConfig(epochs=20, chunk=20), CUMSUM,
                  np.random.default_rng(5)).losses  # fmt: skip
    assert np.abs(runs[0] - plain).max() > 1e-3
