"""Checkpoints: a run continued from one computes what the uninterrupted run computes, bit for
bit; and through the CLI, a run killed with SIGKILL continues in the same MLflow run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import runs_of, serve_mlflow
from mlflow.tracking import MlflowClient

from lstmlab import experiment
from lstmlab.config import (
    BulkConfig,
    CumsumConfig,
    EarlyStoppingConfig,
    ModelConfig,
    OnlineConfig,
    to_settings,
)
from lstmlab.data import cumsum, generated
from lstmlab.evaluation.classification import evaluate
from lstmlab.models.recurrent import build_model
from lstmlab.tracking.runs import CHECKPOINT, CHECKPOINT_STEP
from lstmlab.training import checkpoints
from lstmlab.training.loops import train

BIN = Path(sys.executable).parent
DATA_CFG = CumsumConfig(timesteps=6, samples=23, validation_samples=20)
DATA = generated.build(DATA_CFG, cumsum.task(DATA_CFG), cumsum.sampler(DATA_CFG),
                       np.random.default_rng(99), 20, np.random.default_rng(7))  # fmt: skip


def _train(cfg, every=0, save=None, resume=None, stop=None, dropout=0.0):
    keras.utils.set_random_seed(5)
    model = build_model(ModelConfig(units=3, dropout=dropout), DATA.task)

    def validate(done):
        return evaluate(model, DATA.task, DATA.validation).metrics("val")

    result = train(model, DATA.task, cfg, DATA, np.random.default_rng(5), None,
                   validate if every else None, every, stop, save, resume)  # fmt: skip
    return model, result


def _same(a, b) -> None:
    (model_a, result_a), (model_b, result_b) = a, b
    for wa, wb in zip(model_a.get_weights(), model_b.get_weights(), strict=True):
        assert np.array_equal(wa, wb)
    assert np.array_equal(result_a.losses, result_b.losses)
    assert np.array_equal(result_a.accs, result_b.accs)
    assert result_a.validations == result_b.validations
    assert (result_a.best_step, result_a.best_value) == (result_b.best_step, result_b.best_value)


# Epochs of 4 full batches (2 chunks of 2) and a remainder of 3, validation cutting chunks,
# early stopping's state: checkpoints mid-epoch (with the epoch's order) and at its end. In the
# plain graph loop (XLA's is the online case's), which compiles much faster.
BULK = BulkConfig(epochs=6, batch_size=5, chunk=2, checkpoint_every=1, jit=False,
                  early_stopping=EarlyStoppingConfig(patience=50))  # fmt: skip
SCHEDULES = {
    # Fresh sequences, 20 steps a chunk, a checkpoint every 40; dropout's seed state included.
    "online": (OnlineConfig(epochs=100, chunk=20, checkpoint_every=40), 0, 0.3),
    "bulk": (BULK, 3, 0.0),
}


@pytest.mark.parametrize("kind", SCHEDULES)
def test_continuing_from_any_checkpoint_is_bit_identical(kind, tmp_path):
    cfg, every, dropout = SCHEDULES[kind]
    saved: list[checkpoints.Checkpoint] = []
    whole = _train(cfg, every, save=saved.append, dropout=dropout)
    steps = [c.step for c in saved]
    assert steps == sorted(set(steps)) and len(steps) >= 2, steps
    # Each kind of place: the first, mid-epoch ones (with the epoch's order), epoch ends.
    picked = {saved[0].step: saved[0]}
    for ckpt in saved:
        kind_of = (ckpt.order is None, ckpt.step % every == 0 if every else True)
        picked.setdefault(kind_of, ckpt)
    for ckpt in picked.values():
        path = tmp_path / f"{ckpt.step}.npz"
        checkpoints.save(ckpt, path)  # through the file, as a new process would
        _same(whole, _train(cfg, every, resume=checkpoints.load(path), dropout=dropout))
    if kind == "bulk":  # without checkpoints the run is the same: saving changes nothing
        _same(whole, _train(replace(cfg, checkpoint_every=0), every, dropout=dropout))


def test_a_stop_saves_where_it_stopped_and_the_rest_follows_on(tmp_path):
    cfg = OnlineConfig(epochs=100, chunk=10, checkpoint_every=1000)  # no periodic one
    whole = _train(cfg)
    saved: list[checkpoints.Checkpoint] = []
    calls = []

    def stop() -> None:
        calls.append(1)
        if len(calls) == 3:  # after the third chunk
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train(cfg, save=saved.append, stop=stop)
    (ckpt,) = saved
    assert ckpt.step == 30 and ckpt.position == {"next": 30}
    _same(whole, _train(cfg, resume=ckpt))


@pytest.mark.slow
def test_a_run_killed_with_sigkill_continues_in_the_same_mlflow_run(tmp_path, compose_cfg):
    """On a tracking server, from another machine's point of view: the killed run's local
    checkpoint is gone, so the continuation fetches the copy kept among the run's artifacts."""
    args = ["schedule.epochs=12000", "schedule.chunk=500", "schedule.checkpoint_every=1000",
            "model.units=8", "eval.samples=100", "eval.show=0", "tracking.log_model=false",
            "tracking.log_every=1"]  # fmt: skip
    with serve_mlflow(tmp_path / "server") as store:
        _kill_and_continue(tmp_path, compose_cfg, args, store)


def _kill_and_continue(tmp_path, compose_cfg, args, store):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}

    def command(where: str, out: str) -> list[str]:
        return [str(BIN / "lstmlab"), *args, f"tracking.uri={where}", f"hydra.run.dir={out}"]

    proc = subprocess.Popen(command(store, f"{tmp_path}/first"), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env)  # fmt: skip
    out: list[str] = []
    threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True).start()
    client = MlflowClient(store)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the run ended before it could be killed"
            if any(line.startswith("training") for line in out):
                (run,) = runs_of(store, "lstmlab")
                if int(run.data.tags.get(CHECKPOINT_STEP, 0)) >= 2000:
                    break
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    killed = client.get_run(run.info.run_id)
    assert killed.info.status == "RUNNING"  # nobody could end it
    saved_at = int(killed.data.tags[CHECKPOINT_STEP])
    assert 2000 <= saved_at < 12000 and saved_at % 1000 == 0
    path = Path(killed.data.tags[CHECKPOINT])
    assert path == tmp_path / "first" / "checkpoint.npz" and path.is_file()
    path.unlink()  # another machine: only the store's copy is left

    again = subprocess.run(command(store, f"{tmp_path}/second"), capture_output=True,
                           text=True, timeout=300, env=env)  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"continuing run {run.info.run_id} (RUNNING) from its checkpoint at step" in again.stdout
    (continued,) = runs_of(store, "lstmlab")  # the same run, no second one
    assert continued.info.run_id == run.info.run_id and continued.info.status == "FINISHED"
    assert not (tmp_path / "second" / "checkpoint.npz").exists()  # fetched, then removed at the end

    # The same config never stopped (in this process: runs are bit-identical across processes,
    # tests/test_programs.py).
    reference = f"sqlite:///{tmp_path}/reference.db"
    cfg = compose_cfg(*args, f"tracking.uri={reference}")
    experiment.run(cfg, to_settings(cfg), experiment.Job("whole"))
    (whole,) = runs_of(reference, "lstmlab")
    for key in ("eval_loss", "eval_acc", "eval_seq_acc"):
        assert continued.data.metrics[key] == whole.data.metrics[key]
    for key in ("train_loss", "train_acc"):
        mine = [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)]
        theirs = [
            (m.step, m.value)
            for m in MlflowClient(reference).get_metric_history(whole.info.run_id, key)
        ]
        assert sorted(mine) == sorted(theirs)  # every step once, with the same value
