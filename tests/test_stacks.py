"""Seeds stacked in one program (training/stacks.py): seed k of a stack ends with the weights,
Adam state, losses and accuracies it reaches alone in lstmlab's compiled loop, for every cell,
direction, merge mode and head, masked or not; a seed given fewer steps keeps its weights past
them; models the stack cannot run say why."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import run_cli, runs_of

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
    # Dropout: one input mask (implementation 2), and a mask a gate for the inputs and the
    # state (recurrent dropout: implementation 1).
    "dropout-bi-lstm": ModelConfig(units=4, direction=Direction.bidirectional, dropout=0.3),
    "recurrent-dropout-lstm": ModelConfig(units=4, dropout=0.2, recurrent_dropout=0.3),
    "recurrent-dropout-gru": ModelConfig(units=4, cell=Cell.gru, dropout=0.25,
                                         recurrent_dropout=0.2),
    "dropout-simple_rnn": ModelConfig(units=4, cell=Cell.simple_rnn, dropout=0.3,
                                      recurrent_dropout=0.3),
}  # fmt: skip
# (model, labels per timestep, padded): every model, cell, direction, merge mode and head once,
# both kinds of labels and padding spread over them (each case compiles three programs).
CASES = [
    ("forward-lstm", True, False), ("backward-lstm", True, True),
    ("backward-tutorial", False, True), ("bi-concat", True, True), ("bi-sum", False, False),
    ("bi-mul", False, True), ("bi-ave", True, False), ("bi-gru-x2", True, True),
    ("backward-simple_rnn-x2", False, True), ("mean-head-gru", False, True),
    ("dropout-bi-lstm", True, True), ("recurrent-dropout-lstm", False, False),
    ("recurrent-dropout-gru", True, True), ("dropout-simple_rnn", False, True),
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


def alone(model: keras.Model, task: Task, xs, ys, lrs, n: int, jit: bool = False):
    """One seed in lstmlab's compiled loop (as a plain graph: XLA's compilation of it would
    double the test's time; the two differ by rounding, within TOL): losses, accuracies.
    With dropout, under XLA as the stack runs (XLA draws other masks than TensorFlow's
    kernels from the same seeds, and a run and its stack both compile)."""
    losses, accs = compiled_loop(model, task, jit=jit)(xs, ys, np.int32(n), lrs)
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
    dropout = bool(cfg.dropout or cfg.recurrent_dropout)
    for k, model in enumerate(models_for(cfg, task, range(K))):
        want_losses, want_accs = alone(model, task, xs[:, k], ys[:, k], lrs[:, k], n[k],
                                       jit=dropout)  # fmt: skip
        np.testing.assert_allclose(losses[: n[k], k], want_losses, rtol=0, atol=TOL)
        np.testing.assert_allclose(accs[: n[k], k], want_accs, rtol=0, atol=TOL)
        assert gap(stacked[k], model) <= TOL, f"seed {k}"
        assert int(stacked[k].optimizer.iterations) == n[k]
        # Its dropout drew as many masks from the same seeds (the states moved on alike).
        assert seed_states(stacked[k]) == seed_states(model)
    fresh = models_for(cfg, task, [0])[0]
    # Trained: the weights moved, so the comparison above compared something; dropout drew.
    assert gap(stacked[0], fresh) > 1e-3
    assert (seed_states(stacked[0]) != seed_states(fresh)) == dropout


def test_a_dropout_layer_stacks_as_keras_drops():
    """A custom model's Dropout layer (between an LSTM's sequences and the head): each seed's
    masks drawn from its own generator, as alone under XLA."""
    from lstmlab.models.recurrent import compiled

    task = Task("t", timesteps=6, features=2, classes=2, per_timestep=True)

    def built(seed: int) -> keras.Model:
        keras.utils.set_random_seed(seed)
        inputs = keras.Input(task.input_shape)
        x = keras.layers.Dropout(0.4)(keras.layers.LSTM(4, return_sequences=True)(inputs))
        outputs = keras.layers.Dense(task.n_outputs, activation="sigmoid")(x)
        return compiled(keras.Model(inputs, outputs), ModelConfig(), task)

    xs, ys = batches(task, np.random.default_rng(1), False)
    lrs = np.full((STEPS, K), 0.01, np.float32)
    stacked = [built(k) for k in range(K)]
    losses, _ = Stack(stacked, task).run(xs, ys, [STEPS] * K, lrs)
    for k in range(K):
        model = built(k)
        want, _ = alone(model, task, xs[:, k], ys[:, k], lrs[:, k], STEPS, jit=True)
        np.testing.assert_allclose(losses[:, k], want, rtol=0, atol=TOL)
        assert gap(stacked[k], model) <= TOL
        assert seed_states(stacked[k]) == seed_states(model) != seed_states(built(k))


def seed_states(model: keras.Model) -> list[list[int]]:
    """The model's seed generators' states (its variables that are not weights)."""
    weights = {id(w) for w in model.weights}
    return [np.asarray(v).tolist() for v in model.variables if id(v) not in weights]


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
    inputs = keras.Input((6, 2))
    shaped = keras.layers.Dropout(0.2, noise_shape=(None, 1, 2))(inputs)
    shaped = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.LSTM(3)(shaped)))
    shaped.compile(optimizer="adam", loss="mse")
    assert "noise_shape" in unstackable(shaped)
    with pytest.raises(Unstackable, match="noise_shape"):
        Stack([shaped], task)
    inputs = keras.Input((6, 2))
    conv = keras.Model(inputs, keras.layers.Conv1D(1, 3, padding="same")(inputs))
    conv.compile(optimizer="adam", loss="mse")
    assert "Conv1D" in unstackable(conv)
    assert unstackable(build_model(ModelConfig(units=4), task)) is None
    a, b = build_model(ModelConfig(units=4), task), build_model(ModelConfig(units=5), task)
    with pytest.raises(Unstackable, match="architecture"):
        Stack([a, b], task)


# --- stacked sweeps through the CLI ----------------------------------------------------------

# JapaneseVowels (padded sequences, nine classes) with early stopping that stops the seeds at
# different steps, and dropout of the inputs and the state (each validation draws masks too,
# as Keras' RNN.call draws them in inference).
STOPPING = ["experiment=uea_japanese_vowels", "model.units=4", "model.dropout=0.2",
            "model.recurrent_dropout=0.1", "model.learning_rate=0.03", "eval.show=0",
            "tracking.log_model=false", "schedule.epochs=9", "eval.every=3",
            "schedule.early_stopping.patience=1",
            "schedule.early_stopping.monitor=val_acc"]  # fmt: skip


def _by_seed(store: str) -> dict[int, dict]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store)
    out = {}
    for r in runs_of(store, "lstmlab"):
        if "seed" not in r.data.params:
            continue  # the sweep's parent run
        losses = client.get_metric_history(r.info.run_id, "train_loss")
        out[int(r.data.params["seed"])] = {
            "id": r.info.run_id,
            "status": r.info.status,
            "stack": r.data.tags.get("lstmlab.stack"),
            "metrics": r.data.metrics,
            "losses": np.array([m.value for m in sorted(losses, key=lambda m: m.step)]),
        }
    return out


@pytest.mark.slow
def test_a_stacked_sweep_equals_the_same_sweep_unstacked(tmp_path):
    stores = {}
    for mode in ("null", "1"):
        store = f"sqlite:///{tmp_path}/{mode}.db"
        proc = run_cli(tmp_path / mode, "-m", "seed=0,1,2", *STOPPING,
                       f"hydra.launcher.stack_seeds={mode}", f"tracking.uri={store}")  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert ("3 seeds train as one stack" in proc.stdout) == (mode == "null"), proc.stdout
        stores[mode] = _by_seed(store)
    stacked, alone = stores["null"], stores["1"]
    assert sorted(stacked) == sorted(alone) == [0, 1, 2]
    for seed in alone:
        a, b = stacked[seed], alone[seed]
        assert a["status"] == b["status"] == "FINISHED"
        np.testing.assert_allclose(a["losses"], b["losses"], rtol=0, atol=TOL)
        for key in ("test_loss", "test_acc", "test_f1_macro", "best_step", "best_val_acc"):
            assert a["metrics"][key] == pytest.approx(b["metrics"][key], abs=TOL), key
        # A stacked run logs the time it waited on its siblings apart from its own, and says
        # it trained in a stack.
        assert "time_stack_wait_s" in a["metrics"] and "time_stack_wait_s" not in b["metrics"]
        assert (a["stack"], b["stack"]) == ("3 seeds", None)
    # Each job's Hydra log has its own lines, though a stack's seeds print from threads of one
    # process: its FINISHED line with its run, and none of its siblings'.
    for mode, runs in stores.items():
        for seed, r in runs.items():
            log = (tmp_path / mode / "multirun" / str(seed) / "cli.log").read_text()
            assert f"seed={seed}: FINISHED" in log and r["id"] in log, (mode, log)
            assert log.count("FINISHED") == 1, (mode, log)
            # ... and, stacked, the line saying how its seeds trained (printed once on the
            # console, by whichever seed's thread formed the stack).
            assert ("3 seeds train as one stack" in log) == (mode == "null"), (mode, log)
    # Early stopping is per seed: they stopped at different steps, each as it does alone.
    assert len({len(r["losses"]) for r in alone.values()}) > 1


@pytest.mark.slow
def test_joblib_workers_stack_their_seeds_and_a_custom_conv_model_trains_one_by_one(
    tmp_path, store
):
    """examples/conf's waves with lstmlab's BiLSTM (stacks) and the example's Conv1D + GRU
    (model=custom: no stacked form for Conv1D), two joblib workers."""
    proc = run_cli(
        tmp_path, "-m", "--config-dir", "examples/conf", "experiment=waves", "seed=0,1",
        "model=bilstm,conv_gru", "schedule.epochs=30", "eval.samples=40", "eval.every=10",
        "eval.show=0", "tracking.log_model=false", "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2", "hydra.launcher.stack_seeds=null", f"tracking.uri={store}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "2 seeds train as one stack" in out, out
    assert "2 seeds train one by one: layer conv1d (Conv1D) has no stacked form" in out, out
    finished = [r for r in runs_of(store, "lstmlab") if "seed" in r.data.params]
    assert len(finished) == 4 and {r.info.status for r in finished} == {"FINISHED"}
    assert sorted(r.data.tags["lstmlab.stack"] for r in finished) == [
        "2 seeds", "2 seeds", "none (layer conv1d (Conv1D) has no stacked form)",
        "none (layer conv1d (Conv1D) has no stacked form)"]  # fmt: skip


@pytest.mark.slow
def test_stacks_hold_as_many_seeds_as_their_chunks_fit_in_max_chunk_mb(tmp_path, store):
    """A cumsum chunk of 100 steps holds 8000 bytes of batches: 0.02 MB fits two seeds' chunks
    (two stacks for three seeds), 0.01 MB one (the seeds train one by one, saying why). And
    lstmlab-rerun of a stacked seed."""
    proc = run_cli(
        tmp_path, "-m", "seed=0,1,2", "schedule.max_chunk_mb=0.02,0.01", "schedule.epochs=200",
        "schedule.chunk=100", "eval.samples=40", "eval.show=0", "model.units=4",
        "tracking.log_model=false", "hydra.launcher.stack_seeds=null", f"tracking.uri={store}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (
        "3 seeds train as 2 stacks of at most 2 (their chunks within "
        "schedule.max_chunk_mb=0.02)" in proc.stdout
    ), proc.stdout
    assert (
        "3 seeds train one by one: two seeds' chunks take 0.0153 MB, over "
        "schedule.max_chunk_mb=0.01" in proc.stdout
    ), proc.stdout
    runs = [r for r in runs_of(store, "lstmlab") if "seed" in r.data.params]
    assert {r.info.status for r in runs} == {"FINISHED"} and len(runs) == 6
    stacks = sorted((r.data.params["schedule.max_chunk_mb"], r.data.tags["lstmlab.stack"])
                    for r in runs)  # fmt: skip
    assert [s for b, s in stacks if b == "0.02"] == ["1 seed", "2 seeds", "2 seeds"]
    assert all(s.startswith("none (two seeds' chunks") for b, s in stacks if b == "0.01")
    # lstmlab-rerun of a stacked seed trains it alone: the same result, to float rounding.
    seed = next(r for r in runs if r.data.tags["lstmlab.stack"] == "2 seeds")
    rerun = subprocess.run(
        [str(Path(sys.executable).parent / "lstmlab-rerun"), seed.info.run_id, "--uri", store],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    assert (
        f"equal to float rounding (1e-05; it trained in a stack of 2 seeds, alone here) "
        f"to {seed.info.run_id}" in rerun.stdout
    ), rerun.stdout[-2000:]


@pytest.mark.parametrize("launcher,value", [("basic", "0"), ("basic", "-2"), ("ray", "0")])
def test_stack_seeds_out_of_range_is_one_line_and_no_run(tmp_path, store, launcher, value):
    proc = run_cli(tmp_path, "-m", "seed=0,1", f"hydra/launcher={launcher}",
                   f"hydra.launcher.stack_seeds={value}", f"tracking.uri={store}")  # fmt: skip
    assert proc.returncode != 0
    (line,) = proc.stderr.strip().splitlines()
    assert "hydra.launcher.stack_seeds" in line and "whole number >= 1" in line, line
    assert not (tmp_path / "multirun").exists() or not any((tmp_path / "multirun").iterdir())


@pytest.mark.slow
def test_a_stack_stopped_by_a_signal_continues_each_seed_from_its_checkpoint(tmp_path):
    """SIGTERM to a stacked sweep: every seed stops at its next chunk, its run KILLED with a
    checkpoint; the same command continues each seed in its own run, to the end. (That a
    continued run is bit-identical to one never stopped, tests/test_resume.py shows.)"""
    import signal
    import threading
    import time

    from mlflow.tracking import MlflowClient

    tiny = ["eval.samples=40", "eval.show=0", "model.units=4", "tracking.log_model=false",
            "tracking.log_every=1", "schedule.epochs=12000", "schedule.chunk=500",
            "schedule.checkpoint_every=500"]  # fmt: skip
    store = f"sqlite:///{tmp_path}/stacked.db"
    args = ["-m", "seed=0,1", "hydra.launcher.stack_seeds=null", f"tracking.uri={store}", *tiny]
    cmd = [str(Path(sys.executable).parent / "lstmlab"), *args,
           f"hydra.sweep.dir={tmp_path}/multirun"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[1])  # fmt: skip
    out: list[str] = []
    threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True).start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(0.3)
            assert proc.poll() is None, "the sweep ended before it was stopped"
            if not any("seeds train as one stack" in line for line in out):
                continue
            client = MlflowClient(store)
            seeds = [r for r in runs_of(store, "lstmlab") if "seed" in r.data.params]
            steps = [len(client.get_metric_history(r.info.run_id, "train_loss")) for r in seeds]
            if len(steps) == 2 and min(steps) >= 1000:
                break
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    killed = {int(r.data.params["seed"]): r for r in runs_of(store, "lstmlab")
              if "seed" in r.data.params}  # fmt: skip
    assert {r.info.status for r in killed.values()} == {"KILLED"}, proc.stderr.read()[-2000:]
    stopped_at = {s: len(MlflowClient(store).get_metric_history(r.info.run_id, "train_loss"))
                  for s, r in killed.items()}  # fmt: skip
    assert all(n < 12000 for n in stopped_at.values()), stopped_at

    again = run_cli(tmp_path, *args)
    assert again.returncode == 0, again.stderr[-3000:]
    for r in killed.values():
        assert f"continuing run {r.info.run_id} (KILLED) from its checkpoint" in again.stdout
    resumed = _by_seed(store)
    assert {r["status"] for r in resumed.values()} == {"FINISHED"}
    client = MlflowClient(store)
    for seed, r in killed.items():
        # The same run, every step once: the killed part kept, the rest continued.
        steps = [m.step for m in client.get_metric_history(r.info.run_id, "train_loss")]
        assert sorted(steps) == list(range(12000))
        assert len(resumed[seed]["losses"]) == 12000
