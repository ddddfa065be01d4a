"""The team setup the README recommends, for real: `mlflow server` backed by PostgreSQL (a
cluster made with initdb, on 127.0.0.1), a parallel sweep logging to it, every run and every
metric read back."""

from __future__ import annotations

import pytest
from conftest import run_cli, serve_mlflow, serve_postgres
from mlflow.tracking import MlflowClient


@pytest.mark.slow
def test_a_parallel_sweep_logs_to_a_postgres_backed_server(tmp_path):
    with serve_postgres() as database, serve_mlflow(tmp_path / "server", backend=database) as url:
        proc = run_cli(
            tmp_path, "-m", "seed=0,1,2", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
            "schedule.epochs=30", "schedule.chunk=10", "eval.samples=40", "eval.show=0",
            "model.units=4", "tracking.log_model=false", "tracking.log_every=1",
            f"tracking.uri={url}",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        client = MlflowClient(url)
        experiment = client.get_experiment_by_name("lstmlab")
        runs = client.search_runs([experiment.experiment_id])
        parents = [r for r in runs if r.data.tags.get("lstmlab.kind") == "sweep"]
        children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
        assert len(parents) == 1 and len(children) == 3
        assert sorted(r.data.params["seed"] for r in children) == ["0", "1", "2"]
        for r in runs:
            assert r.info.status == "FINISHED"
        for r in children:
            for key in ("train_loss", "train_acc"):
                steps = sorted(m.step for m in client.get_metric_history(r.info.run_id, key))
                assert steps == list(range(30))
            assert {"eval_loss", "eval_acc", "eval_seq_acc"} <= set(r.data.metrics)

        # The rows are in PostgreSQL itself, not in a file beside the server.
        import psycopg

        with psycopg.connect(database) as conn:
            count = "SELECT count(*) FROM {} WHERE {}"
            finished = conn.execute(count.format("runs", "status = 'FINISHED'")).fetchone()
            assert finished[0] == 4
            losses = conn.execute(count.format("metrics", "key = 'train_loss'")).fetchone()
            assert losses[0] == 3 * 30
        assert not (tmp_path / "server" / "server.db").exists()
