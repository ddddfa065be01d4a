"""A new sqlite store copied from an empty one is the store MLflow would have built."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import mlflow.store.db.utils
import pytest
from mlflow.tracking import MlflowClient

from lstmlab.tracking import store_template
from lstmlab.tracking.runs import Tracker


def _schema(db: Path) -> list:
    """Every table and index with its clauses, and the schema's revision. As sets: MLflow's
    own migrations write a table's constraints in an order that differs from run to run."""
    with sqlite3.connect(db) as con:
        rows = con.execute("select name, sql from sqlite_master where sql is not null").fetchall()
        version = con.execute("select version_num from alembic_version").fetchall()
    clauses = {name: {line.strip().rstrip(",") for line in sql.splitlines()} for name, sql in rows}
    return [sorted(clauses.items()), version]


def test_a_new_store_is_the_one_mlflow_builds(tmp_path, monkeypatch):
    monkeypatch.setattr(store_template, "FOLDER", tmp_path / "cache")
    monkeypatch.chdir(tmp_path)
    by_mlflow, by_lstmlab = tmp_path / "mlflow.db", tmp_path / "lstmlab.db"
    MlflowClient(f"sqlite:///{by_mlflow}").search_experiments()
    tracker = Tracker(f"sqlite:///{by_lstmlab}", "exp")

    assert len(list((tmp_path / "cache").glob("empty-store-mlflow*.db"))) == 1
    assert _schema(by_lstmlab) == _schema(by_mlflow)
    # MLflow made the Default experiment on the copy, where it puts it on a store of its own.
    ours = tracker.client.get_experiment("0")
    theirs = MlflowClient(f"sqlite:///{by_mlflow}").get_experiment("0")
    assert (ours.name, ours.artifact_location) == (theirs.name, theirs.artifact_location)
    with tracker.run("r", {}) as log:
        log.metrics({"x": 1.0})
    assert tracker.client.get_run(log.run_id).data.metrics["x"] == 1.0


def test_the_second_new_store_runs_no_migration(tmp_path, monkeypatch):
    monkeypatch.setattr(store_template, "FOLDER", tmp_path / "cache")
    Tracker(f"sqlite:///{tmp_path / 'first.db'}", "exp")

    def migrate(engine):
        raise AssertionError("MLflow built a store's tables again")

    monkeypatch.setattr(mlflow.store.db.utils, "_initialize_tables", migrate)
    tracker = Tracker(f"sqlite:///{tmp_path / 'second.db'}", "exp")
    assert tracker.client.get_experiment_by_name("exp") is not None
    # An existing store is left as it is.
    assert store_template.seed(tmp_path / "second.db") is False


def test_without_a_writable_cache_mlflow_builds_the_store(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setattr(store_template, "FOLDER", tmp_path / "file" / "cache")
    assert store_template.seed(tmp_path / "a.db") is False
    tracker = Tracker(f"sqlite:///{tmp_path / 'a.db'}", "exp")
    assert tracker.client.get_experiment_by_name("exp") is not None


@pytest.mark.parametrize("leftover", [b"", None])
def test_an_empty_file_is_a_new_store(tmp_path, monkeypatch, leftover):
    monkeypatch.setattr(store_template, "FOLDER", tmp_path / "cache")
    db = tmp_path / "m.db"
    if leftover is not None:
        db.write_bytes(leftover)  # what sqlite leaves when a first open is killed
    assert store_template.seed(db) is True
    assert _schema(db) == _schema(store_template.template())
