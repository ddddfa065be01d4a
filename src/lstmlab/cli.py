"""The Hydra entrypoint: compose -> validate -> load data -> run -> return the held-out loss
(for sweepers). The run itself is lstmlab.experiment."""

from __future__ import annotations

import atexit
import functools
import gc
import os
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from lstmlab.config import (
    CONF_DIR,
    Config,
    ConfigError,
    fingerprint,
    register_configs,
    to_settings,
)
from lstmlab.data import DataError
from lstmlab.experiment import Job, collector_paused, load_data, run
from lstmlab.sweeps.preflight import MULTIRUN_FLAGS, check, one_line
from lstmlab.tracking.console import copied_to, job_log_file
from lstmlab.training.signals import GracefulStop, Stopped

register_configs()
# The interpreter's last collection, as a process ends, would walk every object TensorFlow,
# Keras and MLflow made: ~2 s (4 s on a busy machine) in the CLI and in every sweep worker
# (which imports this module), for memory the process is about to give back anyway. Exit
# handlers run last-registered first, so this one runs after all the others.
atexit.register(gc.freeze)

# TensorFlow's C++ log lines, once per process and per parallel worker, drown the runs'
# output: start-up INFO lines, and ERROR lines on every load from the persistent XLA cache
# about CPU tuning flags it does not recognise (the prefix keys the cache by CPU, see
# experiment.xla_cache). Python exceptions are unaffected; TF_CPP_MIN_LOG_LEVEL=0 brings the
# lines back.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# A single run's composition happens between this import (the console script's first) and
# main(); it counts as lstmlab's own overhead. Jobs of a sweep count from main() on.
_IMPORTED = time.perf_counter()

# Overrides that say where a run is logged, not what it is: left out of run names.
_NOT_IN_NAME = ("experiment", "tracking.", "hydra.", "eval.show")


def run_name(overrides: list[str], preset: str | None, varying: set[str] | None = None) -> str:
    """What distinguishes the run, by the last part of each key: 'merge_mode=sum seed=3'.

    In a sweep only the swept keys (varying) are named; otherwise every override is."""
    parts = []
    for item in overrides:
        key, _, value = item.lstrip("+~").partition("=")
        if key.startswith(_NOT_IN_NAME) or (varying is not None and key not in varying):
            continue
        parts.append(f"{key.rsplit('.', 1)[-1]}={value}")
    if preset and not parts:
        return preset
    return " ".join(parts) or "default"


def sweep_shape(hc: DictConfig) -> tuple[set[str], int | None]:
    """The keys this job's multirun varies and its number of jobs (None for sweepers that
    choose jobs as they go), from the multirun.yaml Hydra writes first (a job's own overrides
    hold single values)."""
    from lstmlab.sweeps.callback import is_basic

    params = hc.sweeper.get("params") or {}
    keys, count = _sweep_shape(str(hc.sweep.dir), tuple(params.items()), is_basic(hc.sweeper))
    return set(keys), count


@functools.lru_cache(maxsize=4)
def _sweep_shape(
    sweep_dir: str, params: tuple[tuple[str, str], ...], basic: bool
) -> tuple[set[str], int | None]:
    # Once per sweep and worker process: every job of the sweep has the same answer.
    from lstmlab.sweeps.callback import expand, swept_keys

    saved = Path(sweep_dir) / "multirun.yaml"
    overrides = list(OmegaConf.load(saved).hydra.overrides.task) if saved.is_file() else []
    count = len(expand(overrides, dict(params))) if basic and saved.is_file() else None
    return swept_keys(overrides, dict(params)), count


def job_of(settings: Config) -> Job:
    """The job Hydra is running (its name, tags, folder, threads), from HydraConfig."""
    hc = HydraConfig.get()
    preset = hc.runtime.choices.get("experiment")
    preset = None if preset in (None, "null") else preset
    tags = {"lstmlab.preset": preset or "none"}
    in_sweep = hc.mode is not None and hc.mode.name == "MULTIRUN"
    varying, count = None, None
    if in_sweep:
        tags["lstmlab.job"] = str(hc.job.num)
        varying, count = sweep_shape(hc)
    threads = settings.threads
    if not threads and in_sweep:
        from hydra_plugins.lstmlab.launcher import parallel_workers

        # Parallel workers share the cores instead of each spinning up a pool of all of them.
        workers = parallel_workers(hc.launcher)
        if workers > 1:
            threads = max(1, (os.cpu_count() or 1) // workers)
    tags["lstmlab.threads"] = str(threads or "all")
    choices = {k: str(v) for k, v in hc.runtime.choices.items()
               if v is not None and not k.startswith("hydra")}  # fmt: skip
    return Job(
        name=run_name(list(hc.overrides.task), preset, varying),
        choices=choices,
        tags=tags,
        hydra_dir=Path(hc.runtime.output_dir) / ".hydra",
        threads=threads,
        in_sweep=in_sweep,
        number=(hc.job.num + 1, count) if in_sweep else None,
        setup_seconds=0.0 if in_sweep else time.perf_counter() - _IMPORTED,
    )


def _fail(message: str, code: int = 2) -> NoReturn:
    print(f"lstmlab: error: {message}", file=sys.stderr)
    sys.exit(code)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> float:
    with copied_to(job_log_file(HydraConfig.get())):
        return _job(cfg)


def _job(cfg: DictConfig) -> float:
    try:
        settings = to_settings(cfg)
    except (ConfigError, OmegaConfBaseException) as exc:
        _fail(one_line(exc))
    job = job_of(settings)
    try:
        dataset = load_data(settings)
    except (ConfigError, DataError) as exc:
        _fail(str(exc))
    # The store before TensorFlow's import: one that cannot be used fails in ~2 s, not ~8.
    with collector_paused():
        from lstmlab.tracking.runs import Tracker
        from lstmlab.tracking.store import StoreUnavailable
        from lstmlab.tracking.writer import StoreGone, gone_message

        try:
            tracker = Tracker(cfg.tracking.uri, cfg.tracking.experiment)
        except StoreUnavailable as exc:
            _fail(str(exc))
    if job.in_sweep and not settings.tracking.rerun:
        resolved = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
        done = tracker.find_finished(fingerprint(resolved))
        if done is not None:
            print(f"skipping {job.name!r}: already FINISHED as run {done.info.run_id} "
                  "(tracking.rerun=true runs it again)")  # fmt: skip
            if settings.tracking.parent_run_id:
                tracker.add_to_sweep(done.info.run_id, settings.tracking.parent_run_id)
            found = done.data.metrics
            return found.get("test_loss", found.get("eval_loss", float("nan")))
    try:
        with GracefulStop() as stop:
            return run(cfg, settings, job, tracker, stop.check, dataset).loss
    except StoreGone as gone:
        # Trained and tested; the store has not got everything yet.
        message = gone_message(cfg.tracking.uri, settings.tracking.outage_wait, gone)
        if job.in_sweep:
            print(f"lstmlab: job {job.name!r}: {message}", file=sys.stderr, flush=True)
            return float("nan")
        _fail(message, code=3)
    except (ConfigError, DataError) as exc:
        # Raised before the job's run was created (a model that does not fit its data): a
        # single run stops with one line and nothing logged; in a sweep, which has started
        # already, the job gets a FAILED run, so that its parent counts it.
        if not job.in_sweep:
            _fail(str(exc))
        resolved = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
        tags = {**job.tags, "lstmlab.config_hash": fingerprint(resolved)}
        with (
            suppress(ConfigError, DataError),
            tracker.run(job.name, tags, settings.tracking.parent_run_id),
        ):
            raise exc
        print(f"lstmlab: job {job.name!r} failed: {exc}", file=sys.stderr)
        return float("nan")
    except Exception as exc:
        if not job.in_sweep:
            raise
        # The run is already FAILED in MLflow with its traceback; the sweep goes on, and the
        # parent run lists this job among the failed ones.
        print(f"lstmlab: job {job.name!r} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return float("nan")


def _warm_workers(config: DictConfig) -> None:
    """A multirun's config has passed the pre-flight check: its joblib workers can start."""
    from hydra_plugins.lstmlab.launcher import warm_up

    warm_up(config)


def _checkable(args: list[str]) -> tuple[list[str], bool] | None:
    """The overrides the pre-flight check composes, and whether it is a multirun; None when a
    flag makes Hydra do something else than run (--help, --cfg, --info, ...). --config-dir
    (a folder of the user's own config groups) becomes the equivalent hydra.searchpath."""
    overrides, multirun, rest = [], False, iter(args)
    for arg in rest:
        if arg in MULTIRUN_FLAGS:
            multirun = True
        elif arg in ("--config-dir", "-cd") or arg.startswith("--config-dir="):
            folder = arg.partition("=")[2] if "=" in arg else next(rest, "")
            overrides.append(f"hydra.searchpath=[file://{Path(folder).resolve()}]")
        elif arg.startswith("-"):
            return None
        else:
            overrides.append(arg)
    return overrides, multirun


def _schema_free_completion() -> None:
    """Hydra's shell completion, less the dataclass schemas it would offer as options
    (model=model_schema): they are what the YAML options extend, not choices."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main()
    words = [w for w in out.getvalue().split() if not w.split("=", 1)[-1].endswith("_schema")]
    print(" ".join(words))


def entry() -> None:
    """The `lstmlab` command: check every job's config, then hand over to Hydra."""
    args = sys.argv[1:]
    if args and args[0] in ("--help", "-h"):
        from lstmlab.help import text

        try:
            print(text(args[1:]))
        except ValueError as exc:
            _fail(str(exc))
        return
    if len(args) >= 2 and args[0] in ("-sc", "--shell-completion") and args[1].startswith("query"):
        _schema_free_completion()
        return
    checkable = _checkable(args)
    if checkable is not None:
        problem = check(*checkable, valid=_warm_workers)
        if problem:
            _fail(problem)
    try:
        main()
    except Stopped as stopped:
        print(f"lstmlab: {stopped}; the run ended KILLED", file=sys.stderr)
        sys.exit(128 + stopped.signum)
    except KeyboardInterrupt:
        print("lstmlab: interrupted", file=sys.stderr)
        sys.exit(130)
