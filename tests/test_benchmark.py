"""The archive benchmark's report: per-set tables beside the published figures, average ranks
and the critical-difference diagram, on hand-made runs."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run_cli, runs_of
from mlflow.tracking import MlflowClient

from lstmlab.sweeps import benchmark
from lstmlab.sweeps.groups import RunRecord, Selection


def _run(name: str, model: str, seed: int, acc: float) -> RunRecord:
    params = {"dataset.name": name, "choices.model": model, "seed": str(seed)}
    y = np.array([0, 1, 1, 0])
    right = round(acc * 4)
    p = np.eye(2)[np.where(np.arange(4) < right, y, 1 - y)]
    predictions = {"p": p, "y": y, "mask": np.ones(4, bool)}
    return RunRecord(f"{name}-{model}-{seed}", f"{model} seed={seed}", "FINISHED", params,
                     {"test_acc": acc}, np.zeros(3), predictions)  # fmt: skip


FIGURES = [
    benchmark.Published("A", "FCN", 0.9, "hfawaz/dl-4-tsc", "results/x.csv", "default", ""),
    benchmark.Published("B", "FCN", 0.5, "hfawaz/dl-4-tsc", "results/x.csv", "default", ""),
    benchmark.Published("A", "Other", 1.0, "someone/else", "r.csv", "default", ""),  # A only
]


def _selection() -> Selection:
    runs = [_run("A", "lstm", 0, 0.75), _run("A", "lstm", 1, 1.0),
            _run("A", "gru", 0, 0.5), _run("A", "gru", 1, 0.5),
            _run("B", "lstm", 0, 0.25), _run("B", "lstm", 1, 0.25),
            _run("B", "gru", 0, 1.0), _run("B", "gru", 1, 0.75)]  # fmt: skip
    return Selection("p", "sweep archive_benchmark", "archive_benchmark", runs,
                     ["dataset.name", "model", "seed"])  # fmt: skip


def test_tables_ranks_and_diagram():
    selection = _selection()
    assert benchmark.applies(selection)
    by_set = benchmark.rows_by_set(selection, FIGURES)
    assert list(by_set) == ["A", "B"]
    a = {r.method: r for r in by_set["A"]}
    assert set(a) == {"gru", "lstm", "FCN", "Other"}
    assert a["lstm"].accuracy == pytest.approx(0.875) and a["lstm"].seeds == 2
    assert a["FCN"].source == "hfawaz/dl-4-tsc results/x.csv" and a["FCN"].seeds == 0
    methods, scores, average = benchmark.ranks(by_set)
    # "Other" has no figure on B: left out of the ranks.
    assert methods == ["gru", "lstm", "FCN"]
    # A: lstm .875, FCN .9, gru .5 -> FCN 1, lstm 2, gru 3; B: gru .875, FCN .5, lstm .25.
    assert average == {"gru": 2.0, "lstm": 2.5, "FCN": 1.5}
    np.testing.assert_allclose(scores, [[0.5, 0.875, 0.9], [0.875, 0.25, 0.5]])
    text, files, fig = benchmark.report(selection, FIGURES)
    assert "average rank over 2 sets" in text and "1.50  FCN" in text
    assert files["benchmark.csv"].count("\n") == 1 + 7
    assert files["ranks.csv"].splitlines()[1] == "FCN,1.5"
    assert fig is not None  # aeon's diagram, drawn offline


@pytest.mark.slow
def test_a_tiny_archive_benchmark_through_the_cli(tmp_path):
    store = f"sqlite:///{tmp_path / 'm.db'}"
    proc = run_cli(
        tmp_path, "experiment=archive_benchmark", "dataset.name=GunPoint,ItalyPowerDemand",
        "model=lstm,bilstm,gru", "seed=0,1", "model.recipe.epochs=2", "model.units=4",
        f"tracking.uri={store}", timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = runs_of(store, "lstmlab")
    (parent,) = [r for r in runs if r.data.tags.get("lstmlab.kind") == "sweep"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 12 and all(r.info.status == "FINISHED" for r in children)
    # The recipe became the schedule: 2 epochs, batches of 16 (40 training sequences).
    gun = next(r for r in children if r.data.params["dataset.name"] == "GunPoint")
    assert gun.data.params["schedule.epochs"] == "2" and gun.data.params["data.batch_size"] == "16"
    for name in ("GunPoint", "ItalyPowerDemand"):
        assert f"\n{name}\n" in proc.stdout
    assert "average rank over 2 sets" in proc.stdout and "sweep wall time:" in proc.stdout
    client = MlflowClient(store)
    logged = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert {"report/benchmark.csv", "report/ranks.csv", "report/benchmark.txt",
            "report/critical_difference.png"} <= logged  # fmt: skip
    (folder,) = (tmp_path / "multirun").glob("sweep_archive_benchmark_*")
    table = (folder / "benchmark.csv").read_text().splitlines()
    assert table[0].startswith("dataset,method,seeds,test_acc")
    ours = [line for line in table[1:] if line.endswith(",lstmlab")]
    assert len(ours) == 6  # 2 sets x 3 models
    sets = ("GunPoint", "ItalyPowerDemand")
    published_rows = [p for p in benchmark.published() if p.dataset in sets]
    assert len(table) - 1 == 6 + len(published_rows)
    assert (folder / "critical_difference.png").read_bytes().startswith(b"\x89PNG")


def test_every_published_figure_names_its_source():
    figures = benchmark.published()
    assert figures, "published.csv is empty"
    from lstmlab.data.uea import available

    shipped = set(available())
    for fig in figures:
        assert 0.0 <= fig.accuracy <= 1.0
        assert "/" in fig.repository and "@" in fig.file and fig.split and fig.note, fig
        assert fig.dataset in shipped, f"{fig.dataset}: not a set aeon ships"
    # One figure per set and method.
    keys = [(f.dataset, f.method) for f in figures]
    assert len(keys) == len(set(keys))


@pytest.mark.slow
def test_the_lstm_fcn_claim_through_the_cli(tmp_path):
    """experiment=claim_lstm_fcn at a tiny size: FCN and LSTM-FCN with and without the
    dimension shuffle on two sets, the verdict on test accuracy paired by set and seed."""
    store = f"sqlite:///{tmp_path / 'm.db'}"
    proc = run_cli(
        tmp_path, "experiment=claim_lstm_fcn", "dataset.name=GunPoint,ItalyPowerDemand",
        "seed=0,1", "model.recipe.epochs=2", "model.filters=[8,8,8]", f"tracking.uri={store}",
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = [r for r in runs_of(store, "lstmlab") if r.data.tags.get("lstmlab.kind") != "sweep"]
    assert len(runs) == 12
    shuffled = {r.data.params["model.dimension_shuffle"] for r in runs
                if r.data.params["choices.model"].startswith("lstm_fcn")}  # fmt: skip
    assert shuffled == {"None", "False"}  # null: shuffled, the sets' lengths being fixed
    assert "claim: The recurrent branch of LSTM-FCN improves on FCN alone" in proc.stdout
    for pair in ("model=lstm_fcn > model=fcn", "model=lstm_fcn_unshuffled > model=fcn"):
        (line,) = [x for x in proc.stdout.splitlines() if x.strip().startswith(pair)]
        assert line.split()[3] == "4"  # 2 sets x 2 seeds, paired
    assert "  verdict: " in proc.stdout
    (folder,) = (tmp_path / "multirun").glob("sweep_claim_lstm_fcn_*")
    assert "verdict:" in (folder / "claims.txt").read_text()
