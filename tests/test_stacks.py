"""Seeds stacked in one program (training/stacks.py): seed k of a stack ends with the weights,
Adam state, losses and accuracies it reaches alone in lstmlab's compiled loop, for every cell,
direction, merge mode and head, masked or not; a seed given fewer steps keeps its weights past
them; models the stack cannot run say why."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from lstmlab.config import Cell, Direction, Head, MergeMode, ModelConfig
from lstmlab.data import Task
from lstmlab.models import build_model
from lstmlab.training.loops import compiled_loop
from lstmlab.training.stacks import Stack, Unstackable, unstackable

# Two seeds, the second stopping early (as early stopping stops one seed of a stack).
K, STEPS, BATCH = 2, 12, 4
# Float rounding: the stack sums the same products as Keras in another association at most.
TOL = 1e-5

MODELS = {
    "forward-lstm": ModelConfig(units=5),
    "backward-lstm": ModelConfig(units=5, direction=Direction.backward),
    "backward-tutorial": ModelConfig(units=5, direction=Direction.backward,
                                     align_backward=False),
    **{f"bi-{m.value}": ModelConfig(units=4, direction=Direction.bidirectional, merge_mode=m)
       for m in MergeMode},
    "bi-gru-x2": ModelConfig(units=[5, 3], layers=2, cell=Cell.gru,
                             direction=Direction.bidirectional),
    "backward-simple_rnn-x2": ModelConfig(units=4, layers=2, cell=Cell.simple_rnn,
                                          direction=Direction.backward),
    "mean-head-gru": ModelConfig(units=4, cell=Cell.gru, head=Head.mean),
}  # fmt: skip
# (model, labels per timestep, padded): every model, cell, direction, merge mode and head once,
# both kinds of labels and padding spread over them (each case compiles three programs).
CASES = [
    ("forward-lstm", True, False), ("backward-lstm", True, True),
    ("backward-tutorial", False, True), ("bi-concat", True, True), ("bi-sum", False, False),
    ("bi-mul", False, True), ("bi-ave", True, False), ("bi-gru-x2", True, True),
    ("backward-simple_rnn-x2", False, True), ("mean-head-gru", False, True),
]  # fmt: skip


def models_for(cfg: ModelConfig, task: Task, seeds) -> list[keras.Model]:
    out = []
    for seed in seeds:
        keras.utils.set_random_seed(seed)
        out.append(build_model(cfg, task, seed))
    return out


def batches(task: Task, rng: np.random.Generator, masked: bool):
    """(STEPS, K, BATCH, T, F) inputs, each seed its own, some sequences padded (pre or post),
    and the targets the task's loss takes."""
    x = rng.normal(size=(STEPS, K, BATCH, task.timesteps, task.features)).astype(np.float32)
    if masked:
        for s, k, b in np.ndindex(STEPS, K, BATCH):
            cut = int(rng.integers(0, task.timesteps - 2))
            if b % 2:
                x[s, k, b, task.timesteps - cut :] = task.pad_value
            else:
                x[s, k, b, :cut] = task.pad_value
    shape = (STEPS, K, BATCH, task.timesteps) if task.per_timestep else (STEPS, K, BATCH)
    return x, task.targets(rng.integers(0, task.classes, shape))


def alone(model: keras.Model, task: Task, xs, ys, lrs, n: int):
    """One seed in lstmlab's compiled loop: losses, accuracies."""
    losses, accs = compiled_loop(model, task)(xs, ys, np.int32(n), lrs)
    return losses.numpy()[:n], accs.numpy()[:n]


def gap(a: keras.Model, b: keras.Model) -> float:
    """Max |difference| of two models' weights and Adam slots."""
    for model in (a, b):
        model.optimizer.build(model.trainable_variables)
    pairs = list(zip(a.trainable_variables, b.trainable_variables, strict=True))
    for v, w in zip(a.trainable_variables, b.trainable_variables, strict=True):
        for slots in ("_momentums", "_velocities"):
            ia, ib = a.optimizer._get_variable_index(v), b.optimizer._get_variable_index(w)
            pairs.append((getattr(a.optimizer, slots)[ia], getattr(b.optimizer, slots)[ib]))
    return max(float(np.max(np.abs(np.asarray(p) - np.asarray(q)))) for p, q in pairs)


@pytest.mark.parametrize(
    ("name", "per_timestep", "masked"), CASES,
    ids=[f"{n}-{'per-timestep' if t else 'per-sequence'}{'-padded' if m else ''}"
         for n, t, m in CASES],
)  # fmt: skip
def test_seed_k_of_a_stack_ends_where_it_ends_alone(name, per_timestep, masked):
    cfg = MODELS[name]
    classes = 2 if per_timestep else 3
    task = Task("t", timesteps=6, features=2, classes=classes, per_timestep=per_timestep,
                masked=masked)  # fmt: skip
    rng = np.random.default_rng(7)
    xs, ys = batches(task, rng, masked)
    # Each seed its own rates (a schedule), the last seed stopping early.
    lrs = rng.uniform(0.001, 0.01, (STEPS, K)).astype(np.float32)
    n = [STEPS, STEPS - 5]
    stacked = models_for(cfg, task, range(K))
    losses, accs = Stack(stacked, task).run(xs, ys, n, lrs)
    for k, model in enumerate(models_for(cfg, task, range(K))):
        want_losses, want_accs = alone(model, task, xs[:, k], ys[:, k], lrs[:, k], n[k])
        np.testing.assert_allclose(losses[: n[k], k], want_losses, rtol=0, atol=TOL)
        np.testing.assert_allclose(accs[: n[k], k], want_accs, rtol=0, atol=TOL)
        assert gap(stacked[k], model) <= TOL, f"seed {k}"
        assert int(stacked[k].optimizer.iterations) == n[k]
    # Trained: the weights moved, so the comparison above compared something.
    fresh = models_for(cfg, task, [0])[0]
    assert gap(stacked[0], fresh) > 1e-3


def test_a_stack_continues_over_chunks_and_predicts_each_seed():
    cfg, task = MODELS["bi-concat"], Task("t", timesteps=6, features=2, classes=2,
                                         per_timestep=True, masked=True)  # fmt: skip
    xs, ys = batches(task, np.random.default_rng(3), True)
    lrs = np.full((STEPS, K), 0.01, np.float32)
    stacked, single = models_for(cfg, task, range(K)), models_for(cfg, task, range(K))
    stack = Stack(stacked, task)
    half = STEPS // 2
    stack.run(xs[:half], ys[:half], [half] * K, lrs[:half])
    stack.run(xs[half:], ys[half:], [half] * K, lrs[half:])
    for k, model in enumerate(single):
        alone(model, task, xs[:, k], ys[:, k], lrs[:, k], STEPS)
        assert gap(stacked[k], model) <= TOL
    probe = xs[0]
    got = stack.predict(probe)
    for k, model in enumerate(single):
        np.testing.assert_allclose(got[k], model(probe[k], training=False), atol=TOL)


def test_models_the_stack_cannot_run_say_why():
    task = Task("t", timesteps=6, features=2, classes=2, per_timestep=True)
    keras.utils.set_random_seed(0)
    dropout = build_model(ModelConfig(units=4, dropout=0.2), task)
    assert "dropout" in unstackable(dropout)
    with pytest.raises(Unstackable, match="dropout"):
        Stack([dropout], task)
    inputs = keras.Input((6, 2))
    conv = keras.Model(inputs, keras.layers.Conv1D(1, 3, padding="same")(inputs))
    conv.compile(optimizer="adam", loss="mse")
    assert "Conv1D" in unstackable(conv)
    assert unstackable(build_model(ModelConfig(units=4), task)) is None
    a, b = build_model(ModelConfig(units=4), task), build_model(ModelConfig(units=5), task)
    with pytest.raises(Unstackable, match="architecture"):
        Stack([a, b], task)
