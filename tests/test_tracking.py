"""The MLflow run lifecycle and batched logging, against a real sqlite store."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import mlflow.artifacts
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from lstmlab.tracking.runs import Tracker, flatten


def test_flatten_gives_dotted_keys():
    tree = {"model": {"units": 20, "direction": "forward"}, "seed": 0, "a": {"b": {"c": None}}}
    assert flatten(tree) == {
        "model.units": 20,
        "model.direction": "forward",
        "seed": 0,
        "a.b.c": None,
    }


def test_finished_run_with_params_history_and_artifacts(store):
    tracker = Tracker(store, "exp")
    losses = np.linspace(1.0, 0.0, 2500)
    with tracker.run("r", {"lstmlab.preset": "p"}) as log:
        log.params({f"k{i}": i for i in range(150)})  # more than one params batch
        log.history({"train_loss": losses[:1200]})
        log.history({"train_loss": losses[1200:], "train_acc": losses[1200:]}, 1200)  # 3 batches
        log.metrics({"eval_acc": 0.5})
        log.text("hello", "note.txt")
    client = MlflowClient(store)
    run = client.get_run(log.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "r" and run.data.tags["lstmlab.preset"] == "p"
    assert len(run.data.params) == 150 and run.data.params["k149"] == "149"
    history = client.get_metric_history(log.run_id, "train_loss")
    assert sorted(m.step for m in history) == list(range(2500))
    np.testing.assert_allclose([m.value for m in sorted(history, key=lambda m: m.step)], losses)
    assert [a.path for a in client.list_artifacts(log.run_id)] == ["note.txt"]
    # A second tracker finds the same experiment instead of failing to create it.
    assert Tracker(store, "exp").experiment_id == tracker.experiment_id


def test_an_exception_ends_the_run_failed_with_its_traceback(store):
    tracker = Tracker(store, "exp")
    with pytest.raises(ValueError), tracker.run("bad") as log:
        log.history({"train_loss": [1.0, 2.0]})
        raise ValueError("boom")
    client = MlflowClient(store)
    run = client.get_run(log.run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["lstmlab.error"] == "ValueError: boom"
    assert len(client.get_metric_history(log.run_id, "train_loss")) == 2
    traceback_text = client.download_artifacts(log.run_id, "error.txt")
    assert "raise ValueError" in Path(traceback_text).read_text()


def test_an_interrupt_ends_the_run_killed(store):
    tracker = Tracker(store, "exp")
    with pytest.raises(KeyboardInterrupt), tracker.run("stopped") as log:
        raise KeyboardInterrupt
    assert MlflowClient(store).get_run(log.run_id).info.status == "KILLED"


def test_ui_url_points_at_the_run(store):
    tracker = Tracker(store, "exp")
    # In the UI's model-training view (MLflow 3.17 opens GenAI's otherwise).
    assert tracker.ui_url("abc") == (
        f"http://127.0.0.1:5000/#/experiments/{tracker.experiment_id}/runs/abc"
        "?workflowType=machine_learning"
    )


def _log_same_dataset(store: str, barrier) -> str:
    import numpy as np

    from lstmlab.data import Dataset, Sequences, Source, Task

    seqs = Sequences.full(np.zeros((3, 4, 1), np.float32), np.zeros((3, 4), np.int32))
    data = Dataset(Task("d", 4, 1, 2, True), seqs, [Source("d", None, "0123456789ab", "training",
                                                           {"g": "1"})], ["0", "1"])  # fmt: skip
    tracker = Tracker(store, "exp")
    with tracker.run("r") as log:
        barrier.wait(timeout=60)
        log.inputs(data)
    return log.run_id


def test_parallel_runs_logging_the_same_new_dataset_all_succeed(store):
    """The store's look-up-then-insert of a dataset races between processes; every run must
    still end FINISHED with its input."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    Tracker(store, "exp")  # the store and experiment exist before the workers start
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager, ProcessPoolExecutor(4, mp_context=ctx) as pool:
        barrier = manager.Barrier(4)
        run_ids = list(pool.map(_log_same_dataset, [store] * 4, [barrier] * 4))
    client = MlflowClient(store)
    for run_id in run_ids:
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED"
        assert [i.dataset.digest for i in run.inputs.dataset_inputs] == ["0123456789ab"]


def test_blocks_average_steps_across_chunk_boundaries():
    from lstmlab.tracking.runs import Blocks

    blocks = Blocks(3)
    first = blocks.add({"loss": [0, 1, 2, 3, 4]}, 0)
    second = blocks.add({"loss": [5, 6, 7, 8, 9]}, 5)
    # Means of steps 0-2, 3-5 (cut by the chunk boundary), 6-8, then the partial block 9.
    assert first == [("loss", 1.0, 2)]
    assert second == [("loss", 4.0, 5), ("loss", 7.0, 8)]
    assert blocks.rest() == [("loss", 9.0, 9)] and blocks.rest() == []
    assert Blocks(1).add({"a": [5, 6]}, 10) == [("a", 5.0, 10), ("a", 6.0, 11)]


class _SlowClient:
    """Stands in for MlflowClient: log_batch waits for a gate, as a slow or absent server."""

    def __init__(self):
        self.gate = threading.Event()
        self.batches = []

    def log_batch(self, run_id, metrics=(), params=()):
        self.gate.wait(timeout=30)
        if any(m.key == "bad" for m in metrics):
            raise ValueError("the store refused it")
        self.batches.append([(m.key, m.step) for m in metrics])


def test_a_background_log_never_waits_for_the_store_and_flush_does():
    from lstmlab.tracking.runs import RunLog

    client = _SlowClient()
    log = RunLog(client, "r", background=True)
    log.history({"train_loss": np.arange(2500.0)})  # two full batches go to the writer
    assert client.batches == []  # the store has not answered; training went on regardless
    client.gate.set()
    log.close()  # the last, partial batch too, in order
    assert [len(b) for b in client.batches] == [1000, 1000, 500]
    assert [step for b in client.batches for _, step in b] == list(range(2500))


def test_a_failed_background_write_is_raised_in_the_caller():
    from lstmlab.tracking.runs import RunLog

    client = _SlowClient()
    client.gate.set()
    log = RunLog(client, "r", background=True)
    log.metrics({"bad": 1.0})
    with pytest.raises(ValueError, match="the store refused it"):
        log.flush()
    log.close()


def test_a_logged_model_records_the_pins_without_mapping_the_installed_packages(store):
    # MLflow's requirement check maps every installed distribution's files first (~0.5 s a
    # process); lstmlab's pins are the installed versions, so serving skips the check.
    from unittest import mock

    from mlflow.utils import environment

    from lstmlab.config import CumsumConfig, ModelConfig
    from lstmlab.data import cumsum
    from lstmlab.models.recurrent import build_model
    from lstmlab.tracking.runs import requirements

    task = cumsum.task(CumsumConfig(timesteps=4))
    model = build_model(ModelConfig(units=2), task)
    check = environment.warn_dependency_requirement_mismatches
    # (MLflow logs and swallows errors of the check: the call itself is what is watched.)
    with (
        mock.patch("mlflow.utils.requirements_utils._init_packages_to_modules_map") as mapping,
        Tracker(store, "exp").run("r", {}) as log,
    ):
        log.keras_model(model, task)
    assert not mapping.called
    assert environment.warn_dependency_requirement_mismatches is check  # put back
    run = MlflowClient(store).get_run(log.run_id)
    assert run.info.status == "FINISHED"
    (output,) = run.outputs.model_outputs
    mlflow.set_tracking_uri(store)
    folder = mlflow.artifacts.download_artifacts(f"models:/{output.model_id}")
    pins = (Path(folder) / "requirements.txt").read_text().split()
    assert set(requirements()) <= set(pins)


def test_each_threads_console_output_goes_to_its_own_job_log(tmp_path, capsys):
    """tracking.console: a stack's seeds print from threads of one process; each one's lines
    reach the console and its own file, a terminal's redraws (escape codes) only the console."""
    from lstmlab.tracking.console import copied_to

    def job(k: int) -> None:
        with copied_to(tmp_path / f"{k}.log"):
            print(f"job {k} line")
            print("\x1b[2K\rbar", end="")
            print(f"job {k} warning", file=sys.stderr)

    threads = [threading.Thread(target=job, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("after the jobs")
    for k in range(2):
        assert (tmp_path / f"{k}.log").read_text() == f"job {k} line\njob {k} warning\n"
    out, err = capsys.readouterr()
    assert "job 0 line" in out and "job 1 line" in out and "bar" in out and "after" in out
    assert "job 1 warning" in err
    with copied_to(None):  # no job log (hydra/job_logging=disabled): the console only
        print("alone")
    assert capsys.readouterr().out == "alone\n"


def test_a_jobs_background_thread_prints_to_the_jobs_log(tmp_path, capsys):
    """tracking.console.in_this_job (the store writer's thread): its lines reach the log of
    the job that started it, and the console only once that job's file is closed."""
    from lstmlab.tracking.console import copied_to, in_this_job

    printed, go, done = threading.Event(), threading.Event(), threading.Event()

    def background() -> None:
        print("from the writer")
        printed.set()
        go.wait(5)
        print("after the job", file=sys.stderr)
        done.set()

    with copied_to(tmp_path / "job.log"):
        thread = threading.Thread(target=in_this_job(background))
        thread.start()
        print("the job")
        assert printed.wait(5)
    go.set()
    assert done.wait(5)
    thread.join()
    assert sorted((tmp_path / "job.log").read_text().splitlines()) == ["from the writer", "the job"]
    _, err = capsys.readouterr()
    assert "after the job" in err
