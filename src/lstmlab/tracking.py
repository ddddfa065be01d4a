"""Everything that writes to MLflow: the run's lifecycle, batched metrics, params, artifacts.

Only ``MlflowClient`` is used, never the fluent API's global "active run": a sweep runs many
jobs in one process, and each job's run must end with its own status whatever happens.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow.entities import Metric, Param, Run, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

if TYPE_CHECKING:
    from lstmlab.data import Dataset

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


class StoreUnavailable(RuntimeError):
    """The tracking store cannot be reached or written; the message is one line."""


def check_store(uri: str, timeout: float = 5.0) -> None:
    """Fail fast, before any work, on a store that cannot be used: MLflow's client would retry
    an unreachable server for minutes, and sqlite fails only at the first write."""
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout):
                return
        except urllib.error.HTTPError as exc:
            raise StoreUnavailable(f"tracking.uri={uri}: the server answered {exc.code}") from None
        except OSError as exc:
            reason = getattr(exc, "reason", exc)
            raise StoreUnavailable(
                f"tracking.uri={uri}: no MLflow server answers ({reason}); start one or set "
                "tracking.uri to another store"
            ) from None
    elif uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        if not db.parent.is_dir():
            raise StoreUnavailable(f"tracking.uri={uri}: folder {db.parent} does not exist")
        if not os.access(db if db.exists() else db.parent, os.W_OK):
            raise StoreUnavailable(f"tracking.uri={uri}: {db} is not writable")


class RunLog:
    """Writes to one MLflow run."""

    def __init__(self, client: MlflowClient, run_id: str):
        self.client = client
        self.run_id = run_id
        self._pending: list[Metric] = []

    def params(self, params: Mapping[str, Any]) -> None:
        items = [Param(k, str(v)) for k, v in params.items()]
        for i in range(0, len(items), MAX_PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, params=items[i : i + MAX_PARAMS_PER_BATCH])

    def history(self, series: Mapping[str, Any], first_step: int = 0) -> None:
        """Metrics over consecutive steps ({"train_loss": [...], ...}). Sent in full batches
        of 1000 (one log_metric call per step costs about 4 ms on sqlite, a batch of 1000
        about 0.07 s); the rest waits for more or for :meth:`flush`, which every end of a
        run calls."""
        now = int(time.time() * 1000)
        self._pending.extend(
            Metric(key, float(v), now, first_step + i)
            for key, values in series.items()
            for i, v in enumerate(values)
        )
        while len(self._pending) >= MAX_METRICS_PER_BATCH:
            self._send(MAX_METRICS_PER_BATCH)

    def flush(self) -> None:
        while self._pending:
            self._send(MAX_METRICS_PER_BATCH)

    def _send(self, count: int) -> None:
        batch, self._pending = self._pending[:count], self._pending[count:]
        self.client.log_batch(self.run_id, metrics=batch)

    def metrics(self, values: Mapping[str, float], step: int = 0) -> None:
        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step) for k, v in values.items()]
        self.client.log_batch(self.run_id, metrics=batch)

    def tags(self, tags: Mapping[str, Any]) -> None:
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, str(value))

    def text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.run_id, text, artifact_file)

    def figure(self, figure: Any, artifact_file: str) -> None:
        self.client.log_figure(self.run_id, figure, artifact_file)

    def directory(self, local_dir: Path, artifact_path: str) -> None:
        self.client.log_artifacts(self.run_id, str(local_dir), artifact_path)

    def json_file(self, value: Mapping[str, Any], artifact_file: str) -> None:
        self.client.log_dict(self.run_id, dict(value), artifact_file)

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
        # The store looks a dataset up by name and digest and inserts it when missing, in two
        # steps: parallel jobs logging the same dataset for the first time race, and the loser
        # fails on the unique key. Its second try finds the winner's row.
        for attempt in range(5):
            try:
                self.client.log_inputs(self.run_id, datasets=entries)
                return
            except MlflowException as exc:
                text = str(exc).lower()
                if attempt == 4 or not ("unique constraint" in text or "duplicate" in text):
                    raise
                time.sleep(0.05 * (attempt + 1))

    def keras_model(self, model: Any, artifact_path: str = "model") -> None:
        # A native .keras file: MLflow's keras flavor adds seconds of environment inference
        # per run, and `keras.saving.load_model` reads this file directly.
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.keras"
            model.save(path)
            self.client.log_artifact(self.run_id, str(path), artifact_path)


class Tracker:
    """An MLflow store and one experiment in it."""

    def __init__(self, uri: str, experiment: str):
        check_store(uri)
        self.uri = uri
        self.client = MlflowClient(tracking_uri=uri)
        self.experiment_id = self._experiment_id(experiment)

    def _experiment_id(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is None:
            try:
                return self.client.create_experiment(name)
            except MlflowException:
                # Another job created it between our lookup and create.
                found = self.client.get_experiment_by_name(name)
                if found is None:
                    raise
        if found.lifecycle_stage == "deleted":
            self.client.restore_experiment(found.experiment_id)
        return found.experiment_id

    def create_run(self, name: str, tags: Mapping[str, str] | None = None,
                   parent_run_id: str | None = None) -> RunLog:  # fmt: skip
        tags = dict(tags or {})
        if parent_run_id:
            # The tag MLflow's UI and search use to nest a run under its parent.
            tags["mlflow.parentRunId"] = parent_run_id
            tags["lstmlab.sweep"] = parent_run_id
            tags[member_tag(parent_run_id)] = "1"
        run = self.client.create_run(self.experiment_id, run_name=name, tags=tags)
        return RunLog(self.client, run.info.run_id)

    @contextmanager
    def run(
        self, name: str, tags: Mapping[str, str] | None = None, parent_run_id: str | None = None
    ) -> Iterator[RunLog]:
        """A new run that ends FINISHED when the block completes, KILLED on an interrupt and
        FAILED (with the traceback as ``error.txt`` and the reason as tag ``lstmlab.error``)
        on any other exception: never left RUNNING."""
        log = self.create_run(name, tags, parent_run_id)
        try:
            yield log
            log.flush()
        except KeyboardInterrupt:
            self._end(log, RunStatus.KILLED, str(sys.exc_info()[1]) or "interrupted")
            raise
        except BaseException as exc:
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
            try:
                log.text(traceback.format_exc(), "error.txt")
            finally:
                self._end(log, RunStatus.FAILED, reason)
            raise
        else:
            self.client.set_terminated(log.run_id, RunStatus.to_string(RunStatus.FINISHED))

    def _end(self, log: RunLog, status: int, reason: str) -> None:
        log.flush()  # every step trained before the stop or failure
        log.tags({"lstmlab.error": reason})
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

    def find_sweep(self, sweep_key: str) -> Run | None:
        """The latest parent run of a sweep with the same definition (to resume it)."""
        found = self._search(f"tags.`lstmlab.sweep_key` = '{sweep_key}'", 1)
        return found[0] if found else None

    def reopen(self, run_id: str) -> RunLog:
        self.client.update_run(run_id, status="RUNNING")
        return RunLog(self.client, run_id)

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
        return f"{self.ui_url()}/runs?viewStateShareKey={parent_run_id}"

    def ui_url(self, run_id: str | None = None) -> str:
        """Where the run shows in `make ui` (or on the server itself for an http store)."""
        base = self.uri.rstrip("/") if self.uri.startswith("http") else "http://127.0.0.1:5000"
        path = f"#/experiments/{self.experiment_id}"
        return f"{base}/{path}/runs/{run_id}" if run_id else f"{base}/{path}"
