"""Learning-rate schedules (schedule.lr_schedule): the rates, step by step in the compiled
loop as in plain Keras, an exact continuation from a checkpoint, and `lr` logged per step."""

from __future__ import annotations

import math
from dataclasses import replace

import keras
import numpy as np
import pytest
from conftest import generator_data, run_cli, runs_of
from mlflow.tracking import MlflowClient

from lstmlab.config import (
    BulkConfig,
    CosineConfig,
    CumsumConfig,
    LrSchedule,
    ModelConfig,
    OnlineConfig,
    PlateauConfig,
    PlateauMonitor,
)
from lstmlab.models.recurrent import build_model
from lstmlab.training import checkpoints
from lstmlab.training.loops import train
from lstmlab.training.lr_schedules import LearningRates

DATA = generator_data(CumsumConfig(timesteps=6, samples=23))


def test_cosine_rates_by_hand():
    cfg = OnlineConfig(lr_schedule=LrSchedule.cosine, cosine=CosineConfig(min_lr=0.1))
    rates = LearningRates(cfg, base=1.0, total=11).rates(0, 11)
    # Half a cosine from 1 at step 0 to 0.1 at step 10; halfway (step 5) the mean of the two.
    assert rates[0] == pytest.approx(1.0) and rates[10] == pytest.approx(0.1)
    assert rates[5] == pytest.approx(0.55)
    assert rates[2] == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi * 0.2)))
    assert np.all(np.diff(rates) < 0)
    warm = OnlineConfig(lr_schedule=LrSchedule.cosine, cosine=CosineConfig(warmup_steps=4))
    rates = LearningRates(warm, base=1.0, total=14).rates(0, 14)
    np.testing.assert_allclose(rates[:5], [0.25, 0.5, 0.75, 1.0, 1.0])
    assert rates[13] == pytest.approx(0.0, abs=1e-7)
    # A chunk starting later gives the same rates as the whole.
    np.testing.assert_array_equal(LearningRates(warm, 1.0, 14).rates(6, 3), rates[6:9])


def test_reduce_on_plateau_by_hand():
    plateau = PlateauConfig(factor=0.5, patience=2, min_lr=0.2, min_delta=0.01)
    rates = LearningRates(BulkConfig(lr_schedule=LrSchedule.reduce_on_plateau, plateau=plateau),
                          base=1.0, total=100)  # fmt: skip
    seen = []
    # Epoch means: an improvement, one too small to count (0.995), a stall: cut after 2.
    for loss in (1.0, 0.9, 0.895, 0.9, 0.7, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8):
        rates.trained(np.array([loss, loss]))
        rates.epoch_ended()
        seen.append(rates.rates(0, 1)[0])
    np.testing.assert_allclose(seen, [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2, 0.2])
    # Watching val_acc: higher is better.
    acc = replace(plateau, monitor=PlateauMonitor.val_acc, patience=1)
    rates = LearningRates(BulkConfig(lr_schedule=LrSchedule.reduce_on_plateau, plateau=acc),
                          base=1.0, total=100)  # fmt: skip
    for value in (0.5, 0.7, 0.6):
        rates.validated({"val_acc": value, "val_loss": 0.0})
    assert rates.rates(0, 1)[0] == 0.5


def _train(cfg, seed=3, save=None, resume=None):
    keras.utils.set_random_seed(seed)
    model = build_model(ModelConfig(units=3), DATA.task)
    got = []
    result = train(model, DATA.task, cfg, DATA, np.random.default_rng(seed),
                   lambda first, losses, accs, lrs: got.append(lrs), save=save,
                   resume=resume)  # fmt: skip
    return model, result, np.concatenate(got)


PLATEAU = BulkConfig(
    epochs=8,
    batch_size=5,
    chunk=2,
    jit=False,
    lr_schedule=LrSchedule.reduce_on_plateau,
    # No epoch improves by 10: the rate halves at every epoch end but the first.
    plateau=PlateauConfig(factor=0.5, patience=1, min_lr=1e-5, min_delta=10.0),
)
COSINE = OnlineConfig(epochs=60, chunk=16, lr_schedule=LrSchedule.cosine,
                      cosine=CosineConfig(min_lr=1e-4, warmup_steps=5))  # fmt: skip


@pytest.mark.parametrize("cfg", [COSINE, PLATEAU], ids=["cosine", "plateau"])
def test_the_compiled_loop_steps_at_each_step_s_rate_as_plain_keras_does(cfg):
    fast, fast_result, fast_rates = _train(cfg)
    plain, plain_result, plain_rates = _train(replace(cfg, fast=False))
    np.testing.assert_array_equal(fast_rates, plain_rates)
    np.testing.assert_allclose(fast_result.losses, plain_result.losses, atol=1e-5)
    for a, b in zip(fast.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
    # The schedule did something: the rates change, and training differs from a constant rate.
    assert len(set(fast_rates.tolist())) > 1
    flat, _, flat_rates = _train(replace(cfg, lr_schedule=LrSchedule.none))
    assert len(set(flat_rates.tolist())) == 1
    assert not all(np.array_equal(a, b) for a, b in zip(flat.get_weights(), fast.get_weights(),
                                                        strict=True))  # fmt: skip
    # The optimizer holds the last step's rate.
    assert float(fast.optimizer.learning_rate.numpy()) == pytest.approx(float(fast_rates[-1]))


@pytest.mark.parametrize("cfg", [COSINE, PLATEAU], ids=["cosine", "plateau"])
def test_a_continued_run_follows_the_same_rates_bit_for_bit(cfg, tmp_path):
    cfg = replace(cfg, checkpoint_every=1)
    saved: list[checkpoints.Checkpoint] = []
    whole_model, whole, whole_rates = _train(cfg, save=saved.append)
    assert len(set(whole_rates.tolist())) > 2
    # Mid-way, after the rate has changed at least once.
    ckpt = next(c for c in saved if c.step >= len(whole_rates) // 2)
    path = tmp_path / "c.npz"
    checkpoints.save(ckpt, path)
    model, result, rates = _train(cfg, resume=checkpoints.load(path))
    np.testing.assert_array_equal(rates, whole_rates[ckpt.step :])
    assert np.array_equal(result.losses, whole.losses)
    for a, b in zip(model.get_weights(), whole_model.get_weights(), strict=True):
        assert np.array_equal(a, b)


@pytest.mark.slow
def test_a_cli_run_logs_its_learning_rate_per_step(tmp_path):
    store = f"sqlite:///{tmp_path / 'm.db'}"
    proc = run_cli(
        tmp_path, "schedule=bulk", "schedule.epochs=6", "dataset.samples=40",
        "schedule.batch_size=10", "schedule.lr_schedule=reduce_on_plateau",
        "schedule.plateau.patience=1", "schedule.plateau.min_delta=10", "model.units=2",
        "eval.samples=20", "eval.show=0", "tracking.log_model=false", f"tracking.uri={store}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = runs_of(store, "lstmlab")
    history = sorted(MlflowClient(store).get_metric_history(run.info.run_id, "lr"),
                     key=lambda m: m.step)  # fmt: skip
    # 4 steps an epoch; no epoch improves by 10, so from the second epoch's end on every
    # epoch halves the rate (patience 1): 1e-3 for two epochs, then 5e-4, 2.5e-4, ...
    assert [m.step for m in history] == list(range(24))
    values = [m.value for m in history]
    expected = [1e-3] * 8 + [5e-4] * 4 + [2.5e-4] * 4 + [1.25e-4] * 4 + [1e-4] * 4
    np.testing.assert_allclose(values, expected, rtol=1e-6)
    assert run.data.params["schedule.lr_schedule"] == "reduce_on_plateau"
