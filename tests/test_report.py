"""The comparison report: statistics, grouping, and a real round trip through MLflow."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from lstmlab.sweeps import report
from lstmlab.sweeps.report import Group, RunRecord, group_runs, mean_ci
from lstmlab.tracking.runs import Tracker


def test_mean_ci_is_the_student_t_interval():
    # mean 3, sd 1.5811, sem 0.7071, t(0.975, df=4) = 2.7764: half-width 1.9632.
    mean, half = mean_ci(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert mean == pytest.approx(3.0)
    assert half == pytest.approx(1.9632, abs=1e-4)
    # Per step, over runs.
    mean, half = mean_ci(np.array([[0.0, 1.0], [2.0, 1.0]]))
    np.testing.assert_allclose(mean, [1.0, 1.0])
    assert half[1] == 0.0 and half[0] == pytest.approx(12.7062, abs=1e-3)
    # One seed: no interval.
    assert np.isnan(mean_ci(np.array([[1.0, 2.0]]))[1]).all()


def _record(merge: str, seed: int, losses, acc=0.9) -> RunRecord:
    params = {"model.merge_mode": merge, "seed": str(seed), "model.units": "20",
              "tracking.parent_run_id": "p"}  # fmt: skip
    name = f"merge_mode={merge} seed={seed}"
    return RunRecord(f"{merge}{seed}", name, "FINISHED", params, {"eval_acc": acc},
                     np.asarray(losses, float))  # fmt: skip


def test_runs_are_grouped_by_configuration_the_seed_left_out():
    records = [_record(m, s, [1.0, 0.5]) for s in (1, 0) for m in ("sum", "ave")]
    groups = group_runs(records)
    assert [g.label for g in groups] == ["merge_mode=ave", "merge_mode=sum"]
    assert [[r.seed for r in g.runs] for g in groups] == [[0, 1], [0, 1]]


def test_configurations_come_from_the_swept_params_not_names():
    # A sweep over the model group, which reused a run named after another sweep.
    a = _record("concat", 0, [1.0])
    a.params["choices.model"] = "bilstm"  # named "merge_mode=concat seed=0"
    b = _record("concat", 1, [1.0])
    b.name, b.params["choices.model"] = "model=bilstm seed=1", "bilstm"
    c = _record("none", 0, [1.0])
    c.name, c.params["choices.model"] = "model=lstm seed=0", "lstm"
    groups = group_runs([a, b, c], ["model", "seed"])
    assert {g.label: len(g.runs) for g in groups} == {"model=bilstm": 2, "model=lstm": 1}
    merge = group_runs([a, c], ["model.merge_mode"])
    assert [g.label for g in merge] == ["merge_mode=concat", "merge_mode=none"]


def test_curves_are_aligned_to_the_shortest_history():
    g = Group("x", [_record("sum", 0, [3, 2, 1]), _record("sum", 1, [3, 2])])
    np.testing.assert_array_equal(g.curves(), [[3, 2], [3, 2]])


def test_report_reads_a_sweep_back_and_logs_on_its_parent(store, tmp_path, capsys):
    tracker = Tracker(store, "lstmlab")
    tags = {"lstmlab.kind": "sweep", "lstmlab.preset": "compare_merge_modes"}
    parent = tracker.create_run("sweep compare_merge_modes", tags)
    rng = np.random.default_rng(0)
    for merge, level in (("sum", 0.2), ("mul", 0.4)):
        for seed in range(3):
            with tracker.run(f"merge_mode={merge} seed={seed}", parent_run_id=parent.run_id) as log:
                log.params({"model.merge_mode": merge, "seed": seed})
                log.history({"train_loss": level + 0.01 * rng.standard_normal(60)})
                log.metrics({"eval_acc": 1 - level})
    # A failed child is left out of the figures.
    with pytest.raises(RuntimeError), tracker.run("bad", parent_run_id=parent.run_id):
        raise RuntimeError("x")

    out_dir = str(tmp_path / "reports")
    report.main(["--uri", store, "--preset", "compare_merge_modes", "--out", out_dir,
                 "--smooth", "5", "--tail", "20"])  # fmt: skip

    out = capsys.readouterr().out
    assert "6 runs" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("merge_mode")}
    assert lines["merge_mode=sum"].split()[1] == "3"
    assert float(lines["merge_mode=sum"].split()[2]) == pytest.approx(0.2, abs=0.01)
    assert float(lines["merge_mode=mul"].split()[2]) == pytest.approx(0.4, abs=0.01)
    (folder,) = (tmp_path / "reports").iterdir()
    assert (folder / "loss_curves.png").read_bytes().startswith(b"\x89PNG")
    with open(folder / "summary.csv") as f:
        rows = {r["configuration"]: r for r in csv.DictReader(f)}
    assert float(rows["merge_mode=mul"]["eval_acc"]) == pytest.approx(0.6)
    assert 0 < float(rows["merge_mode=mul"]["final_loss_ci"]) < 0.05
    with open(folder / "loss_curves.csv") as f:
        curve = list(csv.DictReader(f))
    assert len(curve) == 2 * 60
    logged = {a.path for a in MlflowClient(store).list_artifacts(parent.run_id, "report")}
    assert logged == {"report/loss_curves.png", "report/loss_curves.csv", "report/summary.csv"}


def _predicted(p, y, mask=None):
    p, y = np.asarray(p, dtype=np.float32), np.asarray(y)
    return {"p": p, "y": y, "mask": np.ones(y.shape, bool) if mask is None else np.asarray(mask)}


# Three seeds on four test sequences of two classes: alone they get 0.5, 0.75 and 0.5 right;
# the mean of their probabilities gets all four (mean p of class 0: .567 .6 .433 .45).
SEEDS = [
    [[0.9, 0.1], [0.4, 0.6], [0.6, 0.4], [0.2, 0.8]],
    [[0.6, 0.4], [0.7, 0.3], [0.3, 0.7], [0.55, 0.45]],
    [[0.2, 0.8], [0.7, 0.3], [0.4, 0.6], [0.6, 0.4]],
]
LABELS = [0, 0, 1, 1]


def test_ensemble_accuracy_by_hand():
    assert report.ensemble_accuracy([_predicted(p, LABELS) for p in SEEDS]) == 1.0
    assert report.ensemble_accuracy([_predicted(SEEDS[0], LABELS)]) == 0.5
    # One sigmoid output: mean probabilities .45 and .425 both say class 0.
    sigmoid = [_predicted([[0.6], [0.4]], [0, 1]), _predicted([[0.3], [0.45]], [0, 1])]
    assert report.ensemble_accuracy(sigmoid) == 0.5
    # Per timestep: the padded step (wrong) is not counted.
    steps = _predicted([[[0.9, 0.1], [0.1, 0.9], [0.9, 0.1]]], [[0, 1, 1]], [[True, True, False]])
    assert report.ensemble_accuracy([steps]) == 1.0
    with pytest.raises(ValueError, match="different splits"):
        report.ensemble_accuracy([_predicted(SEEDS[0], LABELS), _predicted(SEEDS[1], [1, 0, 1, 1])])


def test_report_adds_macro_f1_and_the_seeds_ensemble(store, tmp_path, capsys):
    tracker = Tracker(store, "lstmlab")
    parent = tracker.create_run("sweep ensembles", {"lstmlab.kind": "sweep"})
    MlflowClient(store).set_tag(parent.run_id, "lstmlab.swept_keys", "model.units seed")
    for units, seeds in (("4", SEEDS), ("8", SEEDS[:1])):
        for seed, p in enumerate(seeds):
            with tracker.run(f"units={units} seed={seed}", parent_run_id=parent.run_id) as log:
                log.params({"model.units": units, "seed": seed})
                log.history({"train_loss": np.linspace(1, 0.5, 10)})
                alone = float((np.argmax(p, axis=1) == LABELS).mean())
                log.metrics({"test_acc": alone, "test_f1_macro": alone / 2, "test_loss": 0.5})
                path = tmp_path / f"{units}-{seed}" / "test.npz"
                path.parent.mkdir()
                np.savez(path, **_predicted(p, LABELS))
                log.file(path, "predictions")
    report.main(["--uri", store, "--sweep", parent.run_id, "--out", str(tmp_path / "r")])
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("configuration"))
    assert "test_f1_macro" in header and header.endswith("ensemble_test_acc")
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("units=")}
    assert lines["units=4"].split()[-1] == "1.0000"  # the ensemble, where each seed is < 1
    assert lines["units=8"].split()[-1] == "0.5000"  # one seed: its own accuracy
    parent_metrics = MlflowClient(store).get_run(parent.run_id).data.metrics
    assert parent_metrics["ensemble_test_acc/units:4"] == 1.0
    assert parent_metrics["ensemble_test_acc/units:8"] == 0.5
    (folder,) = (tmp_path / "r").iterdir()
    with open(folder / "summary.csv") as f:
        rows = {r["configuration"]: r for r in csv.DictReader(f)}
    assert float(rows["units=4"]["test_f1_macro"]) == pytest.approx((0.5 + 0.75 + 0.5) / 6)
    assert float(rows["units=4"]["ensemble_test_acc"]) == 1.0
