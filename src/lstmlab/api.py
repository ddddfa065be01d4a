"""lstmlab from Python (a notebook, a script): a run, a sweep, a sweep's runs as a table, a
logged model. The same composition, checks, one-line errors and MLflow records as the CLI.

    import lstmlab
    outcome = lstmlab.run(["model=lstm", "schedule.epochs=200"])
    outcome.run_id, outcome.metrics["eval_acc"]
    sweep = lstmlab.sweep(["model.merge_mode=sum,concat", "seed=range(0,3)"])
    table = lstmlab.runs(sweep=sweep.run_id)          # a pandas DataFrame
    model = lstmlab.load_model(outcome.run_id)        # the Keras model
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lstmlab.config import CONF_DIR, DEFAULT_TRACKING_URI
from lstmlab.errors import ConfigError  # noqa: F401  (lstmlab.ConfigError)

if TYPE_CHECKING:
    import pandas as pd

    from lstmlab.experiment import Outcome


class LstmlabError(Exception):
    """What the CLI would have said in its one `lstmlab: error:` line (the message): a key or
    option Hydra does not know, a sweep that failed, a run or experiment not in the store.
    A value that cannot work raises ConfigError (a ValueError), as in the CLI."""


def _searchpath(overrides: list[str], config_dir: str | os.PathLike | None) -> list[str]:
    overrides = list(overrides)
    if config_dir is not None:  # as the CLI's --config-dir: your groups beside lstmlab's
        overrides.append(f"hydra.searchpath=[file://{Path(config_dir).resolve()}]")
    return overrides


def run(overrides: list[str] | tuple[str, ...] = (),
        config_dir: str | os.PathLike | None = None) -> Outcome:  # fmt: skip
    """Train, validate and test one configuration in this process, logged as one MLflow run,
    as `lstmlab OVERRIDES...` would. Returns the outcome: .run_id, .metrics (the held-out
    ones). config_dir: a folder of your own config groups. Raises ConfigError (or DataError)
    with the CLI's one-line message for a config or data that cannot work; nothing is logged
    then. Hydra's files go where the CLI puts them (hydra.run.dir)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf, open_dict

    from lstmlab.cli import job_of
    from lstmlab.config import register_configs, to_settings
    from lstmlab.experiment import load_data
    from lstmlab.experiment import run as run_experiment
    from lstmlab.sweeps.preflight import one_line
    from lstmlab.tracking.runs import Tracker

    register_configs()
    overrides = _searchpath(list(overrides), config_dir)
    from omegaconf.errors import OmegaConfBaseException

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        try:
            cfg = compose("config", overrides, return_hydra_config=True)
        except Exception as exc:  # Hydra's: an unknown key or option, a sweep's a,b
            raise LstmlabError(one_line(exc)) from None
    hc = cfg.hydra
    output = Path(str(hc.run.dir))
    with open_dict(cfg):
        hc.runtime.output_dir = str(output)  # as Hydra's run_job sets it
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    try:
        settings = to_settings(cfg)
    except OmegaConfBaseException as exc:
        raise LstmlabError(one_line(exc)) from None
    # What Hydra's run_job writes, so that the run logs the same files as a CLI run's.
    hydra_dir = output / ".hydra"
    hydra_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, hydra_dir / "config.yaml")
    OmegaConf.save(OmegaConf.create(list(hc.overrides.task)), hydra_dir / "overrides.yaml")
    # Named, tagged and placed as the CLI's job; its setup time is not this call's to count.
    job = job_of(settings)
    job = replace(job, tags={**job.tags, "lstmlab.api": "run"}, setup_seconds=0.0)
    dataset = load_data(settings)
    tracker = Tracker(settings.tracking.uri, settings.tracking.experiment)
    return run_experiment(cfg, settings, job, tracker, None, dataset)


@dataclass
class SweepOutcome:
    """A finished sweep: its parent run (.run_id), and its runs (.runs, as lstmlab.runs)."""

    run_id: str
    runs: pd.DataFrame
    output: str  # what the sweep printed


def sweep(overrides: list[str] | tuple[str, ...],
          config_dir: str | os.PathLike | None = None, timeout: float | None = None,
          quiet: bool = True) -> SweepOutcome:  # fmt: skip
    """`lstmlab -m OVERRIDES...`: every job checked first, then run by the launcher the
    overrides choose (hydra/launcher=joblib: in parallel), under one parent run, its report
    when tracking.report=true. A sweep's jobs run in processes of their own (as a launcher
    does), so this runs the CLI; raises LstmlabError with its one-line error when it fails."""
    from omegaconf import OmegaConf

    cmd = [sys.executable, "-m", "lstmlab", "-m", *_searchpath(list(overrides), config_dir)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})  # fmt: skip
    if not quiet:
        print(done.stdout, end="")
        print(done.stderr, end="", file=sys.stderr)
    if done.returncode != 0:
        said = [line for line in done.stderr.splitlines() if line.startswith("lstmlab")]
        raise LstmlabError(said[-1] if said else done.stderr.strip()[-2000:])
    # The store and experiment the jobs logged to, as the command line composed them.
    from hydra import compose, initialize_config_dir

    from lstmlab.config import register_configs

    register_configs()
    plain = [o for o in _searchpath(list(overrides), config_dir) if "," not in o
             and "range(" not in o and "glob(" not in o]  # fmt: skip
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", plain)
    tracking = OmegaConf.to_container(cfg.tracking, resolve=True)
    parent = _latest_sweep(tracking["uri"], tracking["experiment"], done.stdout)
    table = runs(experiment=tracking["experiment"], sweep=parent, uri=tracking["uri"])
    return SweepOutcome(parent, table, done.stdout)


def _latest_sweep(uri: str, experiment: str, printed: str) -> str:
    from lstmlab.tracking.runs import Tracker

    latest = Tracker(uri, experiment).latest_sweep()
    if latest is None:
        raise LstmlabError(f"the sweep logged no parent run to {uri}: {printed[-500:]}")
    return latest.info.run_id


def runs(experiment: str = "lstmlab", sweep: str | None = None,
         uri: str | None = None) -> pd.DataFrame:  # fmt: skip
    """An experiment's runs (or one sweep's: its parent's run id, or "latest") as a pandas
    DataFrame, one row a run, newest first: run_id, run_name, status, start_time, end_time,
    then params.*, metrics.* (each run's last value) and tags.*, as mlflow.search_runs names
    them. uri: the tracking store (None: the default sqlite store)."""
    import pandas as pd
    from mlflow.tracking import MlflowClient

    from lstmlab.tracking.runs import member_tag

    uri = uri or DEFAULT_TRACKING_URI
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise LstmlabError(f"experiment={experiment}: no such experiment in {uri}")
    where = ""
    if sweep == "latest":
        found = client.search_runs(
            [exp.experiment_id], "tags.`lstmlab.kind` = 'sweep'", max_results=1,
            order_by=["attributes.start_time DESC"],
        )  # fmt: skip
        if not found:
            raise LstmlabError(f"sweep=latest: experiment {experiment} has no sweep")
        sweep = found[0].info.run_id
    if sweep is not None:
        where = f"tags.`{member_tag(sweep)}` = '1'"
    rows: list[dict[str, Any]] = []
    token = None
    while True:
        page = client.search_runs(
            [exp.experiment_id], where, max_results=1000,
            order_by=["attributes.start_time DESC"], page_token=token,
        )  # fmt: skip
        for r in page:
            row: dict[str, Any] = {
                "run_id": r.info.run_id,
                "run_name": r.info.run_name,
                "status": r.info.status,
                "start_time": pd.to_datetime(r.info.start_time, unit="ms", utc=True),
                "end_time": pd.to_datetime(r.info.end_time, unit="ms", utc=True)
                if r.info.end_time else pd.NaT,
            }  # fmt: skip
            row |= {f"params.{k}": v for k, v in r.data.params.items()}
            row |= {f"metrics.{k}": v for k, v in r.data.metrics.items()}
            row |= {f"tags.{k}": v for k, v in r.data.tags.items()}
            rows.append(row)
        token = page.token
        if not token:
            break
    columns = ["run_id", "run_name", "status", "start_time", "end_time"]
    frame = pd.DataFrame(rows, columns=None if rows else columns)
    rest = sorted(c for c in frame.columns if c not in columns)
    return frame[columns + rest]


def load_model(run_id: str, uri: str | None = None):
    """The Keras model a run logged (tracking.log_model=true), loaded with lstmlab's layers
    registered. uri: the tracking store (None: the default sqlite store)."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from lstmlab.models import register_layers

    uri = uri or DEFAULT_TRACKING_URI
    client = MlflowClient(tracking_uri=uri)
    try:
        found = client.get_run(run_id)
    except mlflow.exceptions.MlflowException as exc:
        raise LstmlabError(f"run {run_id}: {str(exc).splitlines()[0]}") from None
    outputs = found.outputs.model_outputs if found.outputs else []
    if not outputs:
        raise LstmlabError(f"run {run_id} logged no model (tracking.log_model=false?)")
    import tempfile

    register_layers()
    with tempfile.TemporaryDirectory(prefix="lstmlab-model-") as tmp:
        # models:/<id> would be resolved through the process-wide tracking URI: the logged
        # model's own location instead, fetched from this store.
        location = client.get_logged_model(outputs[0].model_id).artifact_location
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=location, dst_path=tmp, tracking_uri=uri
        )
        return mlflow.keras.load_model(local)
