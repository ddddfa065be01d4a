"""examples/: an experiment outside lstmlab — a problem and a model in a module of their own,
config groups in a folder of their own — run through the real CLI with --config-dir."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import run_cli, runs_of
from mlflow.tracking import MlflowClient

EXAMPLE = ["--config-dir", "examples/conf", "experiment=waves"]


@pytest.mark.slow
def test_the_waves_example_runs_with_debug_fast(tmp_path, store):
    proc = run_cli(tmp_path, *EXAMPLE, "debug=fast", f"tracking.uri={store}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (r,) = runs_of(store, "debug")  # debug=fast keeps its runs apart
    assert r.info.status == "FINISHED"
    assert r.data.params["model._target_"] == "examples.waves.build"
    assert r.data.params["dataset._target_"] == "examples.waves.sample"
    assert r.data.params["data.classes"] == "3"
    assert len(MlflowClient(store).get_metric_history(r.info.run_id, "train_loss")) == 4
    assert "model" not in {a.path for a in MlflowClient(store).list_artifacts(r.info.run_id)}


@pytest.mark.slow
def test_the_waves_example_on_fixed_arrays_learns(tmp_path, store):
    proc = run_cli(tmp_path, *EXAMPLE, "dataset=waves_arrays", "schedule=bulk",
                   "schedule.epochs=8", "schedule.batch_size=16", "eval.every=24",
                   "eval.show=0", f"tracking.uri={store}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (r,) = runs_of(store, "lstmlab")
    assert r.data.params["data.masked"] == "True" and r.data.params["data.test"] == "120"
    # Three classes: chance is 0.33.
    assert r.data.metrics["test_acc"] > 0.6
    (entry,) = r.inputs.dataset_inputs
    assert entry.dataset.name == "waves_arrays" and "examples/waves.py" in entry.dataset.source


USER = """
import numpy as np
import keras

def nan_sample(rng, n):
    x = rng.normal(size=(n, 5, 1))
    x[2, 3, 0] = np.nan
    return x, (x[:, 0, 0] > 0).astype(int)

def wrong_model(task):
    inputs = keras.Input(shape=task.input_shape)
    return keras.Model(inputs, keras.layers.Dense(4)(inputs))
"""

BAD = [
    (["model.layers=2", "model.units=[8,4,2]"],
     "model.units=[8, 4, 2]: has 3 entries but model.layers=2: one per layer"),
    (["model.dropout=1.0"], "model.dropout=1.0: must be in [0, 1)"),
    (["model.recurrent_dropout=-0.1"], "model.recurrent_dropout=-0.1: must be in [0, 1)"),
    (["model.head=mean"], "model.head=mean: only applies to one label per sequence; cumsum has "
                          "one per timestep: set model.head=null"),
    (["model=custom", "model._target_=nowhere.build"],
     "model._target_=nowhere.build: cannot be imported: no module named 'nowhere'"),
    (["model=custom", "model._target_=user.np"], "model._target_=user.np: is a module, not a "
                                                 "callable"),
    (["dataset=custom_generator", "dataset._target_=user.nan_sample"],
     "dataset._target_=user.nan_sample (x): 1 NaN or infinite feature value(s)"),
    (["model=custom", "model._target_=user.wrong_model"],
     "model._target_=user.wrong_model: outputs (batch, 10, 4), but 2 classes per timestep need "
     "(batch, 10, 1): 1 sigmoid output(s)"),
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(("args", "expected"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_model_or_code_exits_2_with_one_line_and_no_run(tmp_path, args, expected):
    (tmp_path / "user.py").write_text(textwrap.dedent(USER))
    store = tmp_path / "m.db"
    # Run from the user's project folder, as a user would: its modules are found there.
    proc = run_cli(tmp_path, *args, f"tracking.uri=sqlite:///{store}", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    # (TensorFlow prints its own start-up lines when the user's module imports Keras.)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("lstmlab")]
    assert len(errors) == 1 and errors[0].startswith(f"lstmlab: error: {expected}"), proc.stderr
    assert "Traceback" not in proc.stderr
    assert "training" not in proc.stdout
    if Path(store).exists():  # a custom model is checked after the store is opened
        from mlflow.tracking import MlflowClient as Client

        assert Client(f"sqlite:///{store}").search_runs(["0", "1"]) == []


@pytest.mark.slow
def test_a_sweep_with_config_dir_is_checked_before_it_starts(tmp_path, store):
    proc = run_cli(tmp_path, "-m", *EXAMPLE, "model.kwargs.units=4", "seed=0,1",
                   "dataset._target_=examples.waves.nope", f"tracking.uri={store}")  # fmt: skip
    assert proc.returncode == 2
    assert "dataset._target_=examples.waves.nope: cannot be imported: examples.waves has no " \
           "'nope'" in proc.stderr  # fmt: skip
    assert not Path(store.removeprefix("sqlite:///")).exists()
