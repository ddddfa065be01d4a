"""Checkpoints that cannot be read or written, through the CLI: a file cut short, of another
model, of another format; the tracking server's copy when the local one is bad; each
schedule.resume; a checkpoint folder that stops taking writes mid-run. Never a traceback,
never a run left RUNNING."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli, runs_of, serve_mlflow

from lstmlab.tracking.runs import CHECKPOINT, CHECKPOINT_ERROR

pytestmark = pytest.mark.slow

ARGS = ["schedule.epochs=400", "schedule.chunk=50", "schedule.checkpoint_every=100",
        "model.units=2", "eval.samples=20", "eval.show=0", "tracking.log_model=false"]  # fmt: skip

# lstmlab's CLI, made to fail the way a machine does, at a moment the test chooses:
#   kill     SIGKILL right after the first checkpoint is recorded in the store;
#   block    after the first checkpoint, a directory where the next write's temporary file
#            goes (a real failed write, even as root, whom a read-only folder does not stop),
#            then SIGKILL once the run is tagged with the failure;
#   unblock  the same, but the folder takes writes again after the failure.
SCRIPT = """
import os, shutil, signal, sys
from pathlib import Path
from lstmlab.tracking import runs

MODE = os.environ["LSTMLAB_TEST_MODE"]
# On a tracking server the kill waits for the checkpoint's copy among the run's artifacts.
REMOTE = any(a.startswith("tracking.uri=http") for a in sys.argv)
original_tags, original_file = runs.RunLog.tags, runs.RunLog.file
blocked_once = []

def die(log):
    log.flush()
    os.kill(os.getpid(), signal.SIGKILL)

def tags(self, values):
    original_tags(self, values)
    if runs.CHECKPOINT in values:
        if MODE == "kill" and not REMOTE:
            die(self)
        if MODE != "kill" and not blocked_once:
            blocked_once.append(True)
            Path(values[runs.CHECKPOINT]).with_suffix(".partial.npz").mkdir()
    if runs.CHECKPOINT_ERROR in values:
        if MODE == "block":
            die(self)
        for folder in Path.cwd().rglob("*.partial.npz"):
            shutil.rmtree(folder)

def file(self, path, folder=None, *args, **kwargs):
    original_file(self, path, folder, *args, **kwargs)
    if MODE == "kill" and folder == runs.CHECKPOINT_ARTIFACT:
        die(self)

runs.RunLog.tags = tags
runs.RunLog.file = file
from lstmlab.cli import entry
entry()
"""


def _killed(tmp_path: Path, store: str, mode: str = "kill", *extra: str):
    """A run killed (SIGKILL) after its first checkpoint: the run and its checkpoint file."""
    import os

    env = {**os.environ, "LSTMLAB_TEST_MODE": mode}
    proc = run_cli(tmp_path, *ARGS, *extra, f"tracking.uri={store}", script=SCRIPT,
                   env=env, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == -9, proc.stderr[-3000:]
    (run,) = runs_of(store, "lstmlab")
    assert run.info.status == "RUNNING"  # as a dead process leaves it
    return run, Path(run.data.tags[CHECKPOINT])


def _again(tmp_path: Path, store: str, *extra: str):
    return run_cli(tmp_path, *ARGS, *extra, f"tracking.uri={store}", cwd=tmp_path)


def _error_line(proc) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("lstmlab: error:")]
    assert len(lines) == 1, proc.stderr[-3000:]
    return lines[0]


def _statuses(store: str) -> dict[str, str]:
    return {r.info.run_id: r.info.status for r in runs_of(store, "lstmlab")}


def test_a_truncated_checkpoint_is_one_line_and_the_run_ends_killed(tmp_path):
    store = f"sqlite:///{tmp_path / 'm.db'}"
    run, path = _killed(tmp_path, store)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    proc = _again(tmp_path, store)
    assert proc.returncode == 2
    line = _error_line(proc)
    assert f"cannot continue run {run.info.run_id}: {path} is cut short" in line
    assert "schedule.resume=never" in line
    assert _statuses(store) == {run.info.run_id: "KILLED"}  # no new run, none RUNNING
    (ended,) = runs_of(store, "lstmlab")
    assert "checkpoint unusable" in ended.data.tags["lstmlab.error"]
    # The way on: a new run, the bad file left as it was.
    proc = _again(tmp_path, store, "schedule.resume=never")
    assert proc.returncode == 0, proc.stderr[-3000:]
    statuses = _statuses(store)
    assert sorted(statuses.values()) == ["FINISHED", "KILLED"]
    assert path.read_bytes() == data[: len(data) // 2]


def test_a_checkpoint_of_another_model_and_of_another_format(tmp_path):
    store = f"sqlite:///{tmp_path / 'm.db'}"
    (tmp_path / "other").mkdir()
    _, other = _killed(tmp_path / "other", f"sqlite:///{tmp_path / 'other.db'}", "kill",
                       "model.units=3")  # fmt: skip
    run, path = _killed(tmp_path, store)
    good = path.read_bytes()
    path.write_bytes(other.read_bytes())
    line = _error_line(proc := _again(tmp_path, store))
    assert proc.returncode == 2 and "for another model" in line and "written by lstmlab" in line
    # Another format version: the same checkpoint, its format record changed.
    with np.load(_restored(path, good)) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays["meta"].tobytes())
    meta["format"] = 1
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(path.with_suffix(".tmp.npz"), **arrays)
    path.with_suffix(".tmp.npz").replace(path)
    # (The first attempt ended the run KILLED; a KILLED run is still one to continue.)
    line = _error_line(proc := _again(tmp_path, store))
    assert proc.returncode == 2 and "checkpoint format 1" in line and "reads format 2" in line
    assert _statuses(store) == {run.info.run_id: "KILLED"}


def _restored(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_the_servers_copy_is_used_when_the_local_one_is_bad(tmp_path):
    with serve_mlflow(tmp_path / "server") as store:
        run, path = _killed(tmp_path, store)
        path.write_bytes(b"not a checkpoint")
        proc = _again(tmp_path, store)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "continuing from the tracking server's copy" in proc.stderr
        assert f"continuing run {run.info.run_id}" in proc.stdout
        assert _statuses(store) == {run.info.run_id: "FINISHED"}


def test_schedule_resume_must_and_auto(tmp_path):
    store = f"sqlite:///{tmp_path / 'm.db'}"
    proc = _again(tmp_path, store, "schedule.resume=must")
    assert proc.returncode == 2
    assert "schedule.resume=must: no KILLED or dead run" in _error_line(proc)
    assert not _statuses(store)  # nothing logged
    run, _ = _killed(tmp_path, store)
    proc = _again(tmp_path, store, "schedule.resume=must")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"continuing run {run.info.run_id}" in proc.stdout
    assert _statuses(store) == {run.info.run_id: "FINISHED"}
    # auto (the default) with nothing left to continue: a new run.
    proc = _again(tmp_path, store)
    assert proc.returncode == 0 and len(_statuses(store)) == 2


def test_a_folder_that_stops_taking_writes_keeps_the_last_checkpoint(tmp_path):
    store = f"sqlite:///{tmp_path / 'm.db'}"
    run, path = _killed(tmp_path, store, "block")
    (run,) = runs_of(store, "lstmlab")
    # The failed write left the previous checkpoint whole, and the run says why.
    assert "cannot write" in run.data.tags[CHECKPOINT_ERROR]
    assert run.data.tags["lstmlab.checkpoint_step"] == "100"
    proc = _again(tmp_path, store)  # the folder takes writes again: it continues from it
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "from its checkpoint at step 100" in proc.stdout


def test_training_goes_on_and_the_next_write_clears_the_tag(tmp_path):
    import os

    store = f"sqlite:///{tmp_path / 'm.db'}"
    env = {**os.environ, "LSTMLAB_TEST_MODE": "unblock"}
    proc = run_cli(tmp_path, *ARGS, f"tracking.uri={store}", script=SCRIPT, env=env,
                   cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    said = "lstmlab: warning: cannot write"
    warnings = [line for line in proc.stderr.splitlines() if said in line]
    assert len(warnings) == 1  # said once
    (run,) = runs_of(store, "lstmlab")
    assert run.info.status == "FINISHED"
    assert CHECKPOINT_ERROR not in run.data.tags  # cleared by the write after it
    # Written again after the failure at step 200, to the last one at the end (then removed:
    # nothing is left to continue).
    assert run.data.tags["lstmlab.checkpoint_step"] == "400"
    assert not Path(run.data.tags[CHECKPOINT]).exists()
