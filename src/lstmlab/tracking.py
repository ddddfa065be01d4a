"""Everything that writes to MLflow: the run's lifecycle, batched metrics, params, artifacts.

Only ``MlflowClient`` is used, never the fluent API's global "active run": a sweep runs many
jobs in one process, and each job's run must end with its own status whatever happens.
"""

from __future__ import annotations

import json
import tempfile
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, Run, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

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


class RunLog:
    """Writes to one MLflow run."""

    def __init__(self, client: MlflowClient, run_id: str):
        self.client = client
        self.run_id = run_id

    def params(self, params: Mapping[str, Any]) -> None:
        items = [Param(k, str(v)) for k, v in params.items()]
        for i in range(0, len(items), MAX_PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, params=items[i : i + MAX_PARAMS_PER_BATCH])

    def history(self, key: str, values: Any, first_step: int = 0) -> None:
        """One metric over consecutive steps, in batches: one log_metric call per step costs
        about 4 ms on sqlite, a batch of 1000 about 0.07 s."""
        now = int(time.time() * 1000)
        metrics = [Metric(key, float(v), now, first_step + i) for i, v in enumerate(values)]
        for i in range(0, len(metrics), MAX_METRICS_PER_BATCH):
            self.client.log_batch(self.run_id, metrics=metrics[i : i + MAX_METRICS_PER_BATCH])

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
        except KeyboardInterrupt:
            self._end(log, RunStatus.KILLED, "interrupted")
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
        log.tags({"lstmlab.error": reason})
        self.client.set_terminated(log.run_id, RunStatus.to_string(status))

    def children(self, parent_run_id: str) -> list[Run]:
        return self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
            max_results=10_000,
        )

    def end_parent(self, parent_run_id: str, interrupted: bool = False) -> list[str]:
        """End a sweep's parent run: FINISHED if every child finished, FAILED if any did not
        (KILLED if the sweep itself was interrupted). Returns one line per unfinished child,
        also kept on the parent as ``failed_children.txt`` and the tag ``lstmlab.failed``."""
        log = RunLog(self.client, parent_run_id)
        children = self.children(parent_run_id)
        bad = [
            f"{r.info.run_name}: {r.info.status}"
            + (f" ({r.data.tags['lstmlab.error']})" if "lstmlab.error" in r.data.tags else "")
            for r in children
            if r.info.status != "FINISHED"
        ]
        log.tags({"lstmlab.children": len(children), "lstmlab.failed": len(bad)})
        if bad:
            log.text("\n".join(bad) + "\n", "failed_children.txt")
        if interrupted:
            status = RunStatus.KILLED
        else:
            status = RunStatus.FAILED if bad else RunStatus.FINISHED
        self.client.set_terminated(parent_run_id, RunStatus.to_string(status))
        return bad

    def share_sweep_view(self, parent_run_id: str, swept: list[str]) -> str:
        """Publish a saved view of the runs page for a sweep and return its URL: only the
        sweep's runs, grouped by the first swept key other than the seed (the group rows show
        each configuration's mean over seeds, its runs listed under it), with the swept params
        and the metrics as columns.

        MLflow's UI reads a view from the experiment tag ``mlflow.sharedViewState.<key>`` when
        the page's URL says ``?viewStateShareKey=<key>``. Grouping, not the parent/child
        nesting, because a shared view cannot say which parents are expanded."""
        by = next((k for k in swept if k != "seed"), None)
        group = {"mode": "param", "groupByData": by} if by else {
            "mode": "tag", "groupByData": "lstmlab.sweep",
        }  # fmt: skip
        columns = [f"params.`{key}`" for key in dict.fromkeys([*swept, "seed"])] + [
            f"metrics.`{m}`" for m in ("eval_acc", "eval_seq_acc", "eval_loss", "train_loss")
        ]
        state = {
            "searchFilter": f"tags.`lstmlab.sweep` = '{parent_run_id}'",
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
