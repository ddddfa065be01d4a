"""The compiled training loops against plain Keras, step for step."""

from __future__ import annotations

from dataclasses import replace

import keras
import numpy as np
import pytest

from lstmlab.config import BulkConfig, Direction, MergeMode, ModelConfig, OnlineConfig
from lstmlab.evaluation import evaluate
from lstmlab.models import build_model
from lstmlab.problems import Cumsum, Echo
from lstmlab.schedules import TrainingDiverged, bulk_chunks, planned_steps, train


def _twins(cfg: ModelConfig, problem):
    """Two compiled models with the same initial weights."""
    keras.utils.set_random_seed(0)
    a = build_model(cfg, problem)
    b = build_model(cfg, problem)
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
    problem = Cumsum(10, 0.25)
    fast, plain = _twins(ModelConfig(units=8, direction=direction, merge_mode=merge), problem)
    # 50 steps in chunks of 20: the last chunk is padded, which must not change the math.
    cfg = OnlineConfig(epochs=50, chunk=20, fast=True, jit=jit)
    t_fast = train(fast, problem, cfg, 0, np.random.default_rng(5))
    t_plain = train(plain, problem, replace(cfg, fast=False), 0, np.random.default_rng(5))
    assert t_fast.steps == t_plain.steps == 50
    np.testing.assert_allclose(t_fast.losses, t_plain.losses, atol=1e-5)
    np.testing.assert_allclose(t_fast.accs, t_plain.accs, atol=1e-6)
    _assert_same_weights(fast, plain)
    # And the weights did move: the comparison is not between two untouched models.
    fresh, _ = _twins(ModelConfig(units=8, direction=direction, merge_mode=merge), problem)
    assert (
        max(
            np.abs(a - b).max()
            for a, b in zip(fast.get_weights(), fresh.get_weights(), strict=True)
        )
        > 1e-3
    )


def test_online_fast_loop_matches_plain_on_echo():
    problem = Echo(length=6, n_features=5, out_index=2)
    fast, plain = _twins(ModelConfig(units=4), problem)
    cfg = OnlineConfig(epochs=30, chunk=30, fast=True)
    train(fast, problem, cfg, 0, np.random.default_rng(1))
    train(plain, problem, replace(cfg, fast=False), 0, np.random.default_rng(1))
    _assert_same_weights(fast, plain)


def test_bulk_fast_path_matches_plain_path_and_its_accuracy():
    problem = Cumsum(10, 0.25)
    cfg_model = ModelConfig(units=8, direction=Direction.bidirectional, learning_rate=0.01)
    fast, plain = _twins(cfg_model, problem)
    # 95 samples in batches of 10: 9 full batches and one of 5 per epoch, as model.fit does.
    cfg = BulkConfig(epochs=3, batch_size=10, chunk=4, fast=True)
    t_fast = train(fast, problem, cfg, 95, np.random.default_rng(2))
    t_plain = train(plain, problem, replace(cfg, fast=False), 95, np.random.default_rng(2))
    assert t_fast.steps == t_plain.steps == planned_steps(cfg, 95) == 30
    _assert_same_weights(fast, plain)
    e_fast = evaluate(fast, problem, np.random.default_rng(9), 500)
    e_plain = evaluate(plain, problem, np.random.default_rng(9), 500)
    assert abs(e_fast.acc - e_plain.acc) <= 0.003


def test_bulk_chunks_visit_every_sample_once_per_epoch():
    problem = Cumsum(3, 0.25)
    x_all, _ = problem.sample(np.random.default_rng(0), 23)
    cfg = BulkConfig(epochs=2, batch_size=5, chunk=2)
    chunks = list(bulk_chunks(problem, cfg, 23, np.random.default_rng(0)))
    # Per epoch: chunks of 2 and 2 full batches, then the remainder batch of 3 on its own.
    assert [xs.shape[:2] for xs, _ in chunks] == [(2, 5), (2, 5), (1, 3)] * 2
    first_epoch = np.concatenate([xs.reshape(-1, 3, 1) for xs, _ in chunks[:3]])
    assert sorted(map(tuple, first_epoch[:, :, 0])) == sorted(map(tuple, x_all[:, :, 0]))


def test_a_nan_loss_stops_training_after_logging_the_steps_before_it():
    problem = Cumsum(5, 0.25)
    model = build_model(ModelConfig(units=3), problem)
    model.set_weights([np.full_like(w, np.nan) for w in model.get_weights()])
    seen = []
    with pytest.raises(TrainingDiverged, match="train_loss is nan at step 0"):
        train(
            model,
            problem,
            OnlineConfig(epochs=10, chunk=5),
            0,
            np.random.default_rng(0),
            on_steps=lambda first, losses, accs: seen.append((first, len(losses))),
        )
    assert seen == [(0, 5)]
