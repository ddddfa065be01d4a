"""Runs on recorded data, end to end: validation curves, early stopping, test metrics and the
dataset inputs in MLflow; bad data stops the command with one line and nothing logged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli, runs_of
from mlflow.tracking import MlflowClient
from sklearn.metrics import f1_score

from lstmlab.config import to_settings
from lstmlab.data.files import digest
from lstmlab.experiment import Job, run

TINY = ["model.units=4", "eval.show=0", "tracking.log_model=false"]


def _steps(client: MlflowClient, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, key))


def test_npz_run_logs_validation_test_metrics_and_its_input(compose_cfg, store, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 8, 2))
    y = (x[:, :, 0] > 0).astype(int)  # per-timestep binary labels
    lengths = rng.integers(3, 9, 60)
    np.savez(tmp_path / "steps.npz", x=x, y=y, lengths=lengths)
    cfg = compose_cfg(
        "dataset=npz", f"dataset.path={tmp_path / 'steps.npz'}", "dataset.validation=0.2",
        "schedule=bulk", "schedule.batch_size=8", "schedule.epochs=2", "eval.every=4",
        f"tracking.uri={store}", *TINY,
    )  # fmt: skip
    outcome = run(cfg, to_settings(cfg), Job("npz"))
    client = MlflowClient(store)
    r = client.get_run(outcome.run_id)
    assert r.info.status == "FINISHED" and outcome.prefix == "test"
    # 60 sequences: 12 test, 10 validation, 38 training = 5 batches an epoch, 10 steps.
    assert r.data.params["data.train"] == "38" and r.data.params["data.test"] == "12"
    assert r.data.params["data.masked"] == "True"
    assert _steps(client, outcome.run_id, "val_loss") == [4, 8, 10]
    assert len(client.get_metric_history(outcome.run_id, "train_loss")) == 10
    assert {"test_loss", "test_acc", "test_seq_acc"} <= set(r.data.metrics)
    assert "eval_acc" not in r.data.metrics
    (entry,) = r.inputs.dataset_inputs
    assert entry.dataset.name == "steps" and entry.dataset.digest == digest(tmp_path / "steps.npz")
    assert str(tmp_path / "steps.npz") in entry.dataset.source
    assert {t.key: t.value for t in entry.tags}["mlflow.data.context"] == "training,testing"
    classes = client.download_artifacts(outcome.run_id, "dataset/classes.json")
    assert Path(classes).read_text().count('"') >= 4


def test_a_generator_validates_on_fresh_sequences_and_logs_its_parameters(compose_cfg, store):
    cfg = compose_cfg("schedule.epochs=40", "schedule.chunk=16", "eval.every=10",
                      "eval.samples=50", "dataset.validation_samples=30",
                      f"tracking.uri={store}", *TINY)  # fmt: skip
    outcome = run(cfg, to_settings(cfg), Job("gen"))
    client = MlflowClient(store)
    r = client.get_run(outcome.run_id)
    assert _steps(client, outcome.run_id, "val_acc") == [10, 20, 30, 40]
    assert {"eval_loss", "eval_acc", "eval_seq_acc"} <= set(r.data.metrics)
    (entry,) = r.inputs.dataset_inputs
    assert entry.dataset.name == "cumsum" and entry.dataset.source_type == "code"
    assert '"timesteps": "10"' in entry.dataset.source


@pytest.mark.slow
def test_japanese_vowels_preset_stops_early_and_logs_everything(tmp_path, store):
    # min_delta 10: no validation can improve on the first, so patience 2 stops after 3.
    proc = run_cli(
        tmp_path, "experiment=uea_japanese_vowels", "schedule.early_stopping.patience=2",
        "schedule.early_stopping.min_delta=10", "eval.every=5", f"tracking.uri={store}", *TINY,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "stopped early after 15 steps; restored the weights of step 5" in proc.stdout
    (r,) = runs_of(store, "lstmlab")
    client = MlflowClient(store)
    assert r.info.status == "FINISHED"
    assert r.data.metrics["best_step"] == 5 and "best_val_loss" in r.data.metrics
    assert _steps(client, r.info.run_id, "val_loss") == [5, 10, 15]
    assert len(client.get_metric_history(r.info.run_id, "train_loss")) == 15
    assert 0 <= r.data.metrics["test_acc"] <= 1
    assert r.data.params["data.train"] == "216" and r.data.params["data.test"] == "370"
    inputs = {
        {t.key: t.value for t in i.tags}["mlflow.data.context"]: i.dataset
        for i in r.inputs.dataset_inputs
    }
    assert set(inputs) == {"training", "testing"}
    assert all(d.name == "JapaneseVowels" for d in inputs.values())
    assert inputs["training"].digest != inputs["testing"].digest
    assert "JapaneseVowels_TEST.ts" in inputs["testing"].source
    arts = {a.path for a in client.list_artifacts(r.info.run_id, "dataset")}
    assert arts == {"dataset/classes.json", "dataset/normalization.json"}
    # Per class: the confusion matrix over the 370 test sequences, with the class names, its
    # diagonal the accuracy; macro-F1 as sklearn computes it from the logged predictions.
    matrix = json.loads(Path(client.download_artifacts(r.info.run_id, "confusion_matrix.json"))
                        .read_text())  # fmt: skip
    classes = json.loads(Path(client.download_artifacts(r.info.run_id, "dataset/classes.json"))
                         .read_text())["classes"]  # fmt: skip
    assert matrix["classes"] == list(classes.values()) and len(matrix["classes"]) == 9
    counts = np.array(matrix["matrix"])
    assert counts.sum() == 370
    assert np.trace(counts) / 370 == pytest.approx(r.data.metrics["test_acc"])
    saved = np.load(client.download_artifacts(r.info.run_id, "predictions/test.npz"))
    assert saved["p"].shape == (370, 9)
    predicted = saved["p"].argmax(axis=1)
    assert (predicted == saved["y"]).mean() == pytest.approx(r.data.metrics["test_acc"])
    f1 = f1_score(saved["y"], predicted, labels=range(9), average="macro", zero_division=0)
    assert r.data.metrics["test_f1_macro"] == pytest.approx(f1)
    png = Path(client.download_artifacts(r.info.run_id, "confusion_matrix.png")).read_bytes()
    assert png.startswith(b"\x89PNG")


def _bad_npz(tmp_path: Path) -> str:
    np.savez(tmp_path / "bad.npz", x=np.zeros((4, 5)), y=np.arange(4))
    return str(tmp_path / "bad.npz")


def _nan_csv(tmp_path: Path) -> str:
    (tmp_path / "n.csv").write_text("id,a,label\n1,0.5,x\n1,nan,x\n2,0.1,y\n")
    return str(tmp_path / "n.csv")


BAD = [
    ("missing", lambda p: ["dataset=npz", f"dataset.path={p}/none.npz"],
     "dataset.path={p}/none.npz: no such file"),
    ("rank", lambda p: ["dataset=npz", f"dataset.path={_bad_npz(p)}"],
     "array 'x' has shape (4, 5); expected (n, T, F)"),
    ("nan", lambda p: ["dataset=csv", f"dataset.path={_nan_csv(p)}"],
     "1 NaN or infinite feature value(s), the first in sequence 0 (id 1), timestep 1, "
     "feature 0 (column 'a')"),
    ("column", lambda p: ["dataset=csv", f"dataset.path={_nan_csv(p)}", "dataset.label_column=y"],
     "dataset.label_column=y: no such column"),
    ("archive", lambda p: ["dataset=uea", "dataset.name=Nope"],
     "dataset.name=Nope: not an archive set aeon ships; available: "),
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("multirun", [False, True])
@pytest.mark.parametrize(("case", "args", "expected"), BAD, ids=[c[0] for c in BAD])
def test_bad_data_exits_2_with_one_line_and_nothing_logged(tmp_path, case, args, expected,
                                                           multirun):  # fmt: skip
    sweep = ["-m", "seed=0,1"] if multirun else []
    proc = run_cli(tmp_path, *sweep, *args(tmp_path), f"tracking.uri=sqlite:///{tmp_path}/m.db")
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("lstmlab: error: "), proc.stderr
    assert expected.format(p=tmp_path) in errors[0]
    assert "training" not in proc.stdout
    # Nothing was started: the store was never even created.
    assert not (tmp_path / "m.db").exists()


def test_every_epoch_validates_at_each_epoch_end(compose_cfg, store, tmp_path):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(60, 5, 1)), y=rng.integers(0, 2, 60))
    cfg = compose_cfg(
        "dataset=npz", f"dataset.path={tmp_path / 'd.npz'}", "dataset.validation=0.2",
        "schedule=bulk", "schedule.batch_size=8", "schedule.epochs=3", "eval.every_epoch=true",
        f"tracking.uri={store}", *TINY,
    )  # fmt: skip
    outcome = run(cfg, to_settings(cfg), Job("epochs"))
    # 38 training sequences in batches of 8: 5 steps an epoch (the last batch of 6).
    assert _steps(MlflowClient(store), outcome.run_id, "val_loss") == [5, 10, 15]
