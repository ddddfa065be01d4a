"""Everything that writes to MLflow: the run's lifecycle, batched metrics, params, artifacts.

Only ``MlflowClient`` is used, never the fluent API's global "active run": a sweep runs many
jobs in one process, and each job's run must end with its own status whatever happens.
"""

from __future__ import annotations

import functools
import json
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from mlflow.entities import Run, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from lstmlab.tracking import liveness
from lstmlab.tracking.spool import send
from lstmlab.tracking.store import artifact_root, check_store, sqlite_file
from lstmlab.tracking.writer import StoreGone, Write, Writer, gone_message

if TYPE_CHECKING:
    from lstmlab.data import Dataset

# MLflow 3's UI opens an experiment in its GenAI view (traces, evaluation runs) unless this
# tag says it is model training ("Machine learning" in the UI).
EXPERIMENT_KIND = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"
# MLflow 3.17's UI picks its view from a global toggle (kept in the browser) or this URL
# parameter, whatever the tag says (measured: #/experiments/<id> opens the GenAI overview of a
# tagged experiment); every link lstmlab prints carries it.
UI_WORKFLOW = "workflowType=machine_learning"

# Tags of a run that can be continued: its last checkpoint's file and step.
CHECKPOINT = "lstmlab.checkpoint"
CHECKPOINT_STEP = "lstmlab.checkpoint_step"
# Where a run on a remote store keeps a copy of its checkpoint, for another machine.
CHECKPOINT_ARTIFACT = "checkpoint"
# Why the run's last checkpoint could not be written (no space, no permission); cleared by the
# next one written.
CHECKPOINT_ERROR = "lstmlab.checkpoint_error"
# How a sweep's run trained: "<K> seeds" when in a stack of K (training/stacks.py), whose
# batched products round differently from a run alone; "none (<why>)" when its stack fell back.
STACK = "lstmlab.stack"

# MLflow's limits for one log_batch call.
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys: {"model": {"units": 4}} -> {"model.units": 4}."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def member_tag(parent_run_id: str) -> str:
    """The tag that makes a run one of a sweep's. A run has one parent (``mlflow.parentRunId``)
    but may serve several sweeps: a sweep skips a job that another already ran, and reuses it."""
    return f"lstmlab.in.{parent_run_id}"


@functools.cache
def provenance() -> dict[str, str]:
    """What made a run: lstmlab's git commit (MLflow's own tag, shown in the UI's Source
    column) and whether the checkout had uncommitted changes, the versions of lstmlab and the
    libraries that compute a run, and the host. Once per process."""
    from importlib.metadata import PackageNotFoundError, version

    from lstmlab.config import PROJECT_ROOT

    tags = {"mlflow.source.name": "lstmlab", "mlflow.source.type": "LOCAL",
            "lstmlab.host": socket.gethostname(),
            "lstmlab.version.python": platform.python_version()}  # fmt: skip
    packages = {"lstmlab": "lstmlab", "tensorflow": "tensorflow-cpu", "keras": "keras",
                "mlflow": "mlflow", "numpy": "numpy"}  # fmt: skip
    for package, dist in packages.items():
        try:
            tags[f"lstmlab.version.{package}"] = version(dist)
        except PackageNotFoundError:
            tags[f"lstmlab.version.{package}"] = "not installed"

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(PROJECT_ROOT), *args], capture_output=True,
                                  text=True, timeout=10)  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit:
        tags["mlflow.source.git.commit"] = commit
        dirty = git("status", "--porcelain", "--untracked-files=no")
        tags["lstmlab.git.dirty"] = "unknown" if dirty is None else str(bool(dirty)).lower()
    return tags


def model_signature(task: Any) -> Any:
    """The MLflow signature of a model for a task: float32 sequences (batch, time, features)
    in (time free when lengths vary), class probabilities (regression: the predicted values,
    in the target's units) out, per sequence or per timestep."""
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    steps = -1 if task.masked else task.timesteps
    out = (-1, steps, task.n_outputs) if task.per_timestep else (-1, task.n_outputs)
    return ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, steps, task.features))]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), out)]),
    )


def requirements() -> list[str]:
    """The pip requirements a logged model records, pinned to what is installed: given
    explicitly, so MLflow skips inferring them (seconds per run)."""
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for dist in ("tensorflow-cpu", "keras", "numpy", "mlflow"):
        try:
            pins.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            continue
    return pins


class Blocks:
    """Per-step values as means over blocks of `every` steps, each logged at the block's last
    step (every 1: every step as it is). A block cut by a chunk boundary carries over."""

    def __init__(self, every: int = 1):
        self.every = max(1, every)
        self._sums: dict[str, float] = {}
        self._count = 0
        self._last = -1

    def add(self, series: Mapping[str, Any], first_step: int) -> list[tuple[str, float, int]]:
        columns = {k: np.asarray(v, dtype=np.float64) for k, v in series.items()}
        n = len(next(iter(columns.values()))) if columns else 0
        if self.every == 1:
            return [(k, float(v[i]), first_step + i) for k, v in columns.items() for i in range(n)]
        out = []
        for i in range(n):
            for key, values in columns.items():
                self._sums[key] = self._sums.get(key, 0.0) + float(values[i])
            self._count += 1
            self._last = first_step + i
            if (self._last + 1) % self.every == 0:
                out.extend(self._emit())
        return out

    def _emit(self) -> list[tuple[str, float, int]]:
        out = [(k, total / self._count, self._last) for k, total in self._sums.items()]
        self._sums, self._count = {}, 0
        return out

    def rest(self) -> list[tuple[str, float, int]]:
        """The last, partial block."""
        return self._emit() if self._count else []

    def state(self) -> dict[str, Any]:
        """The block under way, for a checkpoint."""
        return {"every": self.every, "sums": self._sums, "count": self._count, "last": self._last}

    def restore(self, state: dict[str, Any]) -> None:
        if state.get("every") == self.every:
            self._sums, self._count = dict(state["sums"]), state["count"]
            self._last = state["last"]


class RunLog:
    """Writes to one MLflow run: at once, or (background=True) through a :class:`Writer`, in
    order. Per-step metrics are grouped into full batches of 1000 (one log_metric call per step
    costs about 4 ms on sqlite, a batch of 1000 about 0.07 s) and, with `every` > 1, averaged
    over blocks of that many steps."""

    def __init__(self, client: MlflowClient, run_id: str, background: bool = False,
                 every: int = 1):  # fmt: skip
        self.client = client
        self.run_id = run_id
        self._pending: list[list[Any]] = []  # [key, value, timestamp, step]
        self._writer = Writer(client, run_id) if background else None
        self._closed_writer: Writer | None = None
        self._blocks = Blocks(every)
        self._logged_through = -1
        # Time the caller spent waiting on per-step metrics (queueing them, and the final
        # flush): what logging cost the training loop.
        self.blocked_seconds = 0.0
        # Files written here (figures, models) until their upload has run.
        self._files = tempfile.TemporaryDirectory(prefix="lstmlab-") if background else None

    def _write(self, record: dict[str, Any]) -> None:
        """One write, given as its spool record (tracking.spool.send makes it): now, or by
        the writer."""
        self._do(Write(functools.partial(send, self.client, self.run_id, record), record,
                       record["op"]))  # fmt: skip

    def _do(self, write: Write) -> None:
        if self._writer is None:
            write.call()
        else:
            self._writer.put(write)

    def _scratch(self) -> Path:
        if self._files is not None:
            return Path(tempfile.mkdtemp(dir=self._files.name))
        return Path(tempfile.mkdtemp(prefix="lstmlab-"))

    def params(self, params: Mapping[str, Any]) -> None:
        items = [[k, str(v)] for k, v in params.items()]
        for i in range(0, len(items), MAX_PARAMS_PER_BATCH):
            self._write({"op": "log_batch", "params": items[i : i + MAX_PARAMS_PER_BATCH]})

    def every(self, steps: int) -> None:
        """Average per-step metrics over blocks of `steps` from here on."""
        self._blocks = Blocks(steps)

    def history(self, series: Mapping[str, Any], first_step: int = 0) -> None:
        """Metrics over consecutive steps ({"train_loss": [...], ...}), sent in full batches;
        the rest waits for more or for :meth:`flush`, which every end of a run calls."""
        t0 = time.perf_counter()
        points = self._blocks.add(series, first_step)
        if self._logged_through >= 0:
            points = [p for p in points if p[2] > self._logged_through]
        self._queue(points)
        self.blocked_seconds += time.perf_counter() - t0

    def sync(self) -> None:
        """Wait until every point given so far is written, while the store answers; a block
        under way stays open (a checkpoint taken next is then not ahead of the store, unless
        the store is away: then the points wait in memory or the spool)."""
        while self._pending:
            self._send(MAX_METRICS_PER_BATCH)
        if self._writer is not None:
            self._writer.flush(Writer.STALLED, give_up=False)

    def blocks_state(self) -> dict[str, Any]:
        return self._blocks.state()

    def restore_blocks(self, state: dict[str, Any]) -> None:
        self._blocks.restore(state)

    def spool_end(self, status: str, reason: str | None = None) -> None:
        """After StoreGone: how the run ended, kept in its spool with the rest."""
        writer = self._closed_writer
        assert writer is not None
        now = int(time.time() * 1000)
        waited = [["time_logging_s", self.blocked_seconds, now, 0]]
        if status == "FINISHED":
            writer.spool_end({"op": "log_batch", "metrics": waited})
        if reason:
            writer.spool_end({"op": "set_tag", "key": "lstmlab.error", "value": reason})
        writer.spool_end({"op": "set_terminated", "status": status, "end_time": now})

    def continued(self) -> None:
        """This run continues from a checkpoint: the per-step points its earlier process logged
        after that checkpoint are computed again, identically, and not sent twice."""
        logged = self.client.get_metric_history(self.run_id, "train_loss")
        self._logged_through = max((m.step for m in logged), default=-1)

    def _queue(self, points: list[tuple[str, float, int]]) -> None:
        now = int(time.time() * 1000)
        self._pending.extend([key, value, now, step] for key, value, step in points)
        while len(self._pending) >= MAX_METRICS_PER_BATCH:
            self._send(MAX_METRICS_PER_BATCH)

    def flush(self, wait: float | None = None, give_up: bool = True) -> None:
        """Send everything logged so far and wait until it is written. wait: seconds to wait
        for a store that does not answer, then StoreGone (the writes left in a spool), or
        (give_up=False) no more waiting: the writer sends them when it can."""
        t0 = time.perf_counter()
        self._queue(self._blocks.rest())
        while self._pending:
            self._send(MAX_METRICS_PER_BATCH)
        if self._writer is not None:
            self._writer.flush(wait, give_up)
        self.blocked_seconds += time.perf_counter() - t0

    def settle(self) -> None:
        """Flush, waiting only while the store answers (the end of training: what training
        waited for logging, and no wait at all for a store that is away)."""
        self.flush(Writer.STALLED, give_up=False)

    def close(self, wait: float | None = None) -> None:
        """Flush, then stop the writer thread and remove the files it uploaded."""
        try:
            self.flush(wait)
        finally:
            if self._writer is not None:
                self._writer.close()
                self._closed_writer, self._writer = self._writer, None
            if self._files is not None:
                self._files.cleanup()

    def _send(self, count: int) -> None:
        batch, self._pending = self._pending[:count], self._pending[count:]
        self._write({"op": "log_batch", "metrics": batch})

    def metrics(self, values: Mapping[str, float], step: int = 0) -> None:
        now = int(time.time() * 1000)
        batch = [[k, float(v), now, step] for k, v in values.items()]
        self._write({"op": "log_batch", "metrics": batch})

    def tags(self, tags: Mapping[str, Any]) -> None:
        for key, value in tags.items():
            self._write({"op": "set_tag", "key": key, "value": str(value)})

    def untag(self, key: str) -> None:
        self._write({"op": "delete_tag", "key": key})

    def text(self, text: str, artifact_file: str) -> None:
        self._write({"op": "log_text", "text": text, "artifact_file": artifact_file})

    def figure(self, figure: Any, artifact_file: str) -> None:
        # Rendered here, in the caller's thread (matplotlib is not thread-safe); uploaded by
        # the writer.
        path = self._scratch() / Path(artifact_file).name
        figure.savefig(path)
        folder = str(Path(artifact_file).parent) if "/" in artifact_file else None
        self._write({"op": "log_artifact", "file": str(path), "artifact_path": folder})

    def directory(self, local_dir: Path, artifact_path: str) -> None:
        self._write({"op": "log_artifacts", "dir": str(local_dir), "artifact_path": artifact_path})

    def file(self, path: Path, artifact_path: str) -> None:
        """A copy of a file as an artifact (the file may be replaced or removed before the
        writer gets to it)."""
        import shutil

        copy = self._scratch() / path.name
        shutil.copy2(path, copy)
        self._write({"op": "log_artifact", "file": str(copy), "artifact_path": artifact_path})

    def json_file(self, value: Mapping[str, Any], artifact_file: str) -> None:
        self.text(json.dumps(dict(value), indent=2), artifact_file)

    def inputs(self, dataset: Dataset) -> None:
        """What the run trained and was tested on, as MLflow dataset inputs (the UI's Datasets
        column): per source file, its path and the digest of its content, in the context it
        served in; for generated data, the generator and its parameters."""
        from mlflow.data import from_numpy
        from mlflow.data.code_dataset_source import CodeDatasetSource
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.entities import DatasetInput, InputTag
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        entries = []
        for src in dataset.sources:
            if src.path is None:
                ds = MetaDataset(CodeDatasetSource(tags=src.params), src.name, src.digest)
            else:
                split = dataset.test if src.context == "testing" else dataset.train
                with warnings.catch_warnings():
                    # MLflow finds two registrations of its local-file source and says so; both
                    # are the same class.
                    warnings.simplefilter("ignore", UserWarning)
                    ds = from_numpy(split.x, source=src.path, targets=split.y, name=src.name,
                                    digest=src.digest)  # fmt: skip
            tags = [InputTag(MLFLOW_DATASET_CONTEXT, src.context)]
            entries.append(DatasetInput(ds._to_mlflow_entity(), tags))
        from google.protobuf.json_format import MessageToJson

        self._write({"op": "log_inputs", "inputs": [MessageToJson(e.to_proto()) for e in entries]})

    def expect_model(self) -> None:
        """Import MLflow's model machinery now, in a thread of its own, while the run trains
        (the XLA loop leaves the interpreter free): ~1.3 s the first time in a process, which
        :meth:`keras_model` would otherwise pay at the end of the run. (Python's import lock
        makes keras_model wait for it if it is not done.)"""

        def warm() -> None:
            import mlflow.keras  # noqa: F401
            import mlflow.models  # noqa: F401

            import lstmlab.tracking.serving  # noqa: F401

        threading.Thread(target=warm, name="lstmlab-imports", daemon=True).start()

    def keras_model(self, model: Any, task: Any, name: str = "model") -> None:
        """The model as an MLflow Model of the run (MLflow 3's logged model): Keras flavor,
        a signature, pinned requirements, and a pyfunc loader that knows lstmlab's layers
        (lstmlab.tracking.serving). Registrable, loadable with mlflow.pyfunc, servable."""
        signature, pins = model_signature(task), requirements()

        def log() -> None:
            from lstmlab.tracking.serving import log_model

            log_model(self.client, self.run_id, model, name, signature, pins)

        def spooled() -> dict[str, Any]:
            path = self._scratch() / "model.keras"
            model.save(path)
            return {"op": "log_model", "file": str(path), "name": name, "pins": pins,
                    "signature": signature.to_dict()}  # fmt: skip

        # Logged from memory; kept on disk (a .keras file) only if the store is away.
        self._do(Write(log, spooled, "the model"))


@contextmanager
def _first_contact(uri: str) -> Iterator[None]:
    """One process at a time opens a sqlite store: MLflow creates a fresh store's tables (and
    migrates an old one) on first contact, and two processes doing it at once fail ("table
    experiments already exists": two sweeps started together on a new store). A new store
    starts as a copy of an empty one (lstmlab.tracking.store_template)."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    from filelock import FileLock

    from lstmlab.tracking import store_template

    db = sqlite_file(uri)
    with FileLock(f"{db or uri.removeprefix('sqlite:///')}.lock", timeout=300):
        if db is not None:
            store_template.seed(db)
        yield


class Tracker:
    """An MLflow store and one experiment in it."""

    def __init__(self, uri: str, experiment: str):
        check_store(uri)
        self.uri = uri
        with _first_contact(uri):
            self.client = MlflowClient(tracking_uri=uri)
            self.experiment_id = self._experiment_id(experiment)

    def _experiment_id(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is None:
            try:
                return self._create_experiment(name)
            except MlflowException:
                # Another job created it between our lookup and create.
                found = self.client.get_experiment_by_name(name)
                if found is None:
                    raise
        if found.lifecycle_stage == "deleted":
            self.client.restore_experiment(found.experiment_id)
        if found.tags.get(EXPERIMENT_KIND) is None:
            # An experiment lstmlab did not create: say it is model training the first time
            # lstmlab uses it (a kind set by someone else is left alone).
            self.client.set_experiment_tag(found.experiment_id, EXPERIMENT_KIND, MODEL_TRAINING)
        return found.experiment_id

    def _create_experiment(self, name: str) -> str:
        """A new experiment; on a sqlite store, its files beside the store file
        (tracking.store.artifact_root, ``<store folder>/mlartifacts/<experiment id>``).
        MlflowClient takes no artifact root and the id is not known before the experiment
        exists, so it is created through a store of MLflow's whose default root is that
        folder; the experiment then derives ``<root>/<id>`` itself, in the same transaction."""
        tags = {EXPERIMENT_KIND: MODEL_TRAINING}
        root = artifact_root(self.uri)
        if root is None:
            return self.client.create_experiment(name, tags=tags)
        from mlflow.entities import ExperimentTag
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        # MLflow shares one engine per database among its stores: this one costs no connection.
        store = SqlAlchemyStore(self.uri, root)
        return store.create_experiment(name, tags=[ExperimentTag(k, v) for k, v in tags.items()])

    def create_run(
        self,
        name: str,
        tags: Mapping[str, str] | None = None,
        parent_run_id: str | None = None,
        background: bool = False,
    ) -> RunLog:
        tags = {**provenance(), **(tags or {})}
        if parent_run_id:
            # The tag MLflow's UI and search use to nest a run under its parent.
            tags["mlflow.parentRunId"] = parent_run_id
            tags["lstmlab.sweep"] = parent_run_id
            tags[member_tag(parent_run_id)] = "1"
        tags.update(liveness.this_process())
        run = self.client.create_run(self.experiment_id, run_name=name, tags=tags)
        liveness.Heartbeat.add(self.client, run.info.run_id)
        return RunLog(self.client, run.info.run_id, background=background)

    @contextmanager
    def run(
        self,
        name: str,
        tags: Mapping[str, str] | None = None,
        parent_run_id: str | None = None,
        system_metrics: bool = False,
        continue_run_id: str | None = None,
        outage_wait: float | None = None,
    ) -> Iterator[RunLog]:
        """A new run (or continue_run_id's, continued) that ends FINISHED when the block
        completes, KILLED on an interrupt and FAILED (with the traceback as ``error.txt`` and
        the reason as tag ``lstmlab.error``) on any other exception: never left RUNNING. Its
        writes go through a background writer while the block runs; the run ends once they are
        all done. outage_wait: seconds to wait for a store that stopped answering, after which
        the writes left, and the run's end, wait in a spool (StoreGone)."""
        if continue_run_id is None:
            log = self.create_run(name, tags, parent_run_id, background=True)
        else:
            log = self.reopen(continue_run_id, background=True)
            log.continued()
        monitor = self._system_metrics(log.run_id) if system_metrics else None
        try:
            yield log
            # What per-step logging cost the training loop (queueing batches, and the wait
            # for the last ones at :meth:`RunLog.flush`), before the final writes.
            waited = log.blocked_seconds
            try:
                log.close(outage_wait)
            except StoreGone:
                log.spool_end("FINISHED")
                raise
            self.client.log_metric(log.run_id, "time_logging_s", waited)
        except StoreGone:
            raise
        except KeyboardInterrupt:
            self._end(log, RunStatus.KILLED, str(sys.exc_info()[1]) or "interrupted",
                      outage_wait)  # fmt: skip
            raise
        except BaseException as exc:
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
            try:
                log.text(traceback.format_exc(), "error.txt")
            finally:
                self._end(log, RunStatus.FAILED, reason, outage_wait)
            raise
        else:
            self.client.set_terminated(log.run_id, RunStatus.to_string(RunStatus.FINISHED))
        finally:
            liveness.Heartbeat.remove(log.run_id)
            if monitor is not None:
                monitor.finish()

    def _system_metrics(self, run_id: str) -> Any:
        """MLflow's system-metrics monitor (psutil): CPU, memory, disk, network, and GPU where
        there is one, sampled every second into the run's System metrics tab."""
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        monitor = SystemMetricsMonitor(run_id, sampling_interval=1.0, tracking_uri=self.uri)
        monitor.start()
        return monitor

    def _end(self, log: RunLog, status: int, reason: str, wait: float | None = None) -> None:
        gone = None
        try:
            log.close(wait)  # every step trained before the stop or failure
        except StoreGone as exc:
            gone = exc
            log.spool_end(RunStatus.to_string(status), reason)
            print(f"lstmlab: {gone_message(self.uri, wait, gone)}", file=sys.stderr)
        finally:
            if gone is None:
                self.client.set_tag(log.run_id, "lstmlab.error", reason)
                self.client.set_terminated(log.run_id, RunStatus.to_string(status))

    def children(self, parent_run_id: str) -> list[Run]:
        """The runs of a sweep: its own jobs' and those it reused from other sweeps."""
        return self._search(f"tags.`{member_tag(parent_run_id)}` = '1'")

    def add_to_sweep(self, run_id: str, parent_run_id: str) -> None:
        """Count a FINISHED run of another sweep as this sweep's job, which it skipped."""
        self.client.set_tag(run_id, member_tag(parent_run_id), "1")

    def _search(self, where: str, max_results: int = 10_000) -> list[Run]:
        return self.client.search_runs(
            [self.experiment_id], where, max_results=max_results,
            order_by=["attributes.start_time DESC"],
        )  # fmt: skip

    def find_finished(self, config_hash: str) -> Run | None:
        """The latest FINISHED run of this experiment that computed the same config."""
        found = self._search(
            f"tags.`lstmlab.config_hash` = '{config_hash}' and attributes.status = 'FINISHED'", 1
        )
        return found[0] if found else None

    def latest_sweep(self, preset: str | None = None) -> Run | None:
        """The parent run of the latest sweep (of a preset)."""
        where = "tags.`lstmlab.kind` = 'sweep'"
        if preset:
            where += f" and tags.`lstmlab.preset` = '{preset}'"
        found = self._search(where, 1)
        return found[0] if found else None

    def find_sweep(self, sweep_key: str) -> Run | None:
        """The latest parent run of a sweep with the same definition (to resume it)."""
        found = self._search(f"tags.`lstmlab.sweep_key` = '{sweep_key}'", 1)
        return found[0] if found else None

    def reopen(self, run_id: str, background: bool = False) -> RunLog:
        """A run of an earlier process RUNNING again, as this process's."""
        self.client.update_run(run_id, status="RUNNING")
        if "lstmlab.error" in self.client.get_run(run_id).data.tags:
            self.client.delete_tag(run_id, "lstmlab.error")  # why it stopped last time
        log = RunLog(self.client, run_id, background=background)
        log.tags(liveness.this_process())
        liveness.Heartbeat.add(self.client, run_id)
        return log

    @property
    def remote(self) -> bool:
        """A store on a server: files written here are not where another machine looks."""
        return self.uri.startswith(("http://", "https://", "databricks"))

    def find_resumable(self, config_hash: str, fetch_to: Path) -> tuple[Run, Path] | None:
        """The latest run of the same config that a stop or a dead process ended before its
        end, with a checkpoint to continue from: its file on this machine, or (a remote store)
        its copy among the run's artifacts, downloaded to fetch_to."""
        # (MLflow's search has no IN for statuses.)
        found = self._search(f"tags.`lstmlab.config_hash` = '{config_hash}'", 50)
        for r in found:
            if r.info.status not in ("KILLED", "RUNNING"):
                continue
            if r.info.status == "RUNNING" and liveness.verdict(r) is None:
                continue  # its process is still at it
            path = r.data.tags.get(CHECKPOINT)
            if path and Path(path).is_file():
                return r, Path(path)
            copy = self.checkpoint_copy(r, fetch_to)
            if copy is not None:
                return r, copy
        return None

    def checkpoint_copy(self, run: Run, fetch_to: Path) -> Path | None:
        """A remote store's copy of a run's checkpoint, downloaded to fetch_to (None: not a
        remote store, or none was uploaded)."""
        path = run.data.tags.get(CHECKPOINT)
        if not path or not self.remote:
            return None
        fetch_to.mkdir(parents=True, exist_ok=True)
        try:
            got = self.client.download_artifacts(
                run.info.run_id, f"{CHECKPOINT_ARTIFACT}/{Path(path).name}", str(fetch_to)
            )
        except MlflowException:
            return None  # never uploaded
        return Path(got)

    def end_unusable(self, run: Run, reason: str) -> None:
        """A run whose checkpoint cannot be used: KILLED (a dead one at its last sign of
        life), the reason in tag lstmlab.error."""
        self.client.set_tag(run.info.run_id, "lstmlab.error", reason)
        if run.info.status == "RUNNING":
            found = liveness.verdict(run)
            end = int(found.last_seen * 1000) if found is not None else None
            self.client.set_terminated(run.info.run_id, "KILLED", end_time=end)

    def bury_dead(self, runs: list[Run]) -> list[str]:
        """End the RUNNING runs among `runs` whose process is gone KILLED (lstmlab-doctor's
        rule); one line per run ended."""
        found = liveness.dead(runs)
        liveness.bury(self.client, found)
        return [liveness.describe(v) for v in found]

    def end_parent(self, parent_run_id: str, interrupted: bool = False) -> tuple[int, list[str]]:
        """End a sweep's parent run: FINISHED if every configuration among its children has a
        FINISHED run (a resumed sweep keeps the KILLED run of the job it re-ran), FAILED if not,
        KILLED if the sweep itself was interrupted. Returns the number of configurations and
        one line per unfinished one, also kept on the parent (``failed_children.txt``, tags
        ``lstmlab.children`` and ``lstmlab.failed``)."""
        log = RunLog(self.client, parent_run_id)
        by_config: dict[str, list[Run]] = {}
        for r in self.children(parent_run_id):  # newest first
            by_config.setdefault(r.data.tags.get("lstmlab.config_hash", r.info.run_id), []).append(
                r
            )
        bad = [
            f"{runs[0].info.run_name}: {runs[0].info.status}"
            + (
                f" ({runs[0].data.tags['lstmlab.error']})"
                if "lstmlab.error" in runs[0].data.tags
                else ""
            )
            for runs in by_config.values()
            if all(r.info.status != "FINISHED" for r in runs)
        ]
        log.tags({"lstmlab.children": len(by_config), "lstmlab.failed": len(bad)})
        if bad:
            log.text("\n".join(bad) + "\n", "failed_children.txt")
        if interrupted:
            status = RunStatus.KILLED
        else:
            status = RunStatus.FAILED if bad else RunStatus.FINISHED
        self.client.set_terminated(parent_run_id, RunStatus.to_string(status))
        liveness.Heartbeat.remove(parent_run_id)
        return len(by_config), bad

    def share_sweep_view(self, parent_run_id: str, swept: list[str], held_out: str = "eval") -> str:
        """Publish a saved view of the runs page for a sweep and return its URL: only the
        sweep's runs, grouped by the first swept key other than the seed (the group rows show
        each configuration's mean over seeds, its runs listed under it), with the swept params
        and the metrics as columns (held_out: "test" for fixed test splits, "eval" for a
        generator's fresh sequences).

        MLflow's UI reads a view from the experiment tag ``mlflow.sharedViewState.<key>`` when
        the page's URL says ``?viewStateShareKey=<key>``. Grouping, not the parent/child
        nesting, because a shared view cannot say which parents are expanded."""
        from lstmlab.config import param_of

        by = next((param_of(k) for k in swept if k != "seed"), None)
        group = {"mode": "param", "groupByData": by} if by else {
            "mode": "tag", "groupByData": "lstmlab.sweep",
        }  # fmt: skip
        columns = (
            [f"params.`{param_of(key)}`" for key in dict.fromkeys([*swept, "seed"])]
            + [f"metrics.`{held_out}_{m}`" for m in ("acc", "seq_acc", "loss")]
            + ["metrics.`train_loss`"]
        )
        state = {
            "searchFilter": f"tags.`{member_tag(parent_run_id)}` = '1'",
            "orderByKey": "attributes.start_time",
            "orderByAsc": True,
            "groupBy": {"aggregateFunction": "average", "groupByKeys": [group]},
            "selectedColumns": columns,
        }
        self.client.set_experiment_tag(
            self.experiment_id, f"mlflow.sharedViewState.{parent_run_id}", json.dumps(state)
        )
        return f"{self._ui_base()}/runs?viewStateShareKey={parent_run_id}&{UI_WORKFLOW}"

    def _ui_base(self) -> str:
        base = self.uri.rstrip("/") if self.uri.startswith("http") else "http://127.0.0.1:5000"
        return f"{base}/#/experiments/{self.experiment_id}"

    def ui_url(self, run_id: str | None = None) -> str:
        """Where the run shows in `make ui` (or on the server itself for an http store), in
        the UI's model-training view."""
        path = f"{self._ui_base()}/runs/{run_id}" if run_id else f"{self._ui_base()}/runs"
        return f"{path}?{UI_WORKFLOW}"
