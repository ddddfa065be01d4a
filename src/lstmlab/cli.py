"""The Hydra entrypoint: compose -> validate -> run -> return eval_loss (for sweepers)."""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import hydra
import numpy as np
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
from lstmlab.interrupts import GracefulStop, Stopped
from lstmlab.preflight import MULTIRUN_FLAGS, check, one_line

if TYPE_CHECKING:
    from lstmlab.tracking import Tracker

register_configs()

# conf/hydra/launcher/ray.yaml completes hydra-ray-launcher's own "ray" option (same name, so
# `hydra/launcher=ray` works as documented); Hydra checks it against the plugin's schema and
# says that matching by name is deprecated, on every run.
warnings.filterwarnings("ignore", message=".*validated against ConfigStore schema with the same")

# TensorFlow's C++ start-up INFO lines, once per process and per parallel worker, drown the
# runs' output; TF_CPP_MIN_LOG_LEVEL=0 brings them back.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# A single run's composition happens between this import (the console script's first) and
# main(); it counts as lstmlab's own overhead. Jobs of a sweep count from main() on.
_IMPORTED = time.perf_counter()

# Overrides that say where a run is logged, not what it is: left out of run names.
_NOT_IN_NAME = ("experiment", "tracking.", "hydra.", "eval.show")


@dataclass
class Outcome:
    run_id: str
    metrics: dict[str, float]


@dataclass
class Job:
    """One run as the launcher sees it: how it is named and tagged, where Hydra put its files."""

    name: str
    tags: dict[str, str] = field(default_factory=dict)
    hydra_dir: Path | None = None
    threads: int = 0
    in_sweep: bool = False
    # Hydra's group choices (model=lstm_backward, ...), logged as params choices.<group>.
    choices: dict[str, str] = field(default_factory=dict)
    # Time spent before run() (composition), counted in the logged overhead.
    setup_seconds: float = 0.0


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


def swept_keys(hc: DictConfig) -> set[str]:
    """The keys this job's multirun varies, from the multirun.yaml Hydra writes first (a job's
    own overrides hold single values)."""
    from lstmlab.sweeps import swept_keys as from_overrides

    saved = Path(hc.sweep.dir) / "multirun.yaml"
    overrides = OmegaConf.load(saved).hydra.overrides.task if saved.is_file() else []
    return from_overrides(overrides, hc.sweeper.get("params"))


def prepare_tensorflow(seed: int, threads: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Fresh Keras state, thread caps, seeds for Python, numpy and TensorFlow (weights),
    deterministic TF ops; returns independent generators for training and evaluation data."""
    import keras
    import tensorflow as tf

    # A process may run many jobs (the basic launcher, reused joblib workers): start each
    # from a clean Keras graph and name scope.
    keras.backend.clear_session()
    # Each job builds its own compiled loop; TF would warn about "retracing" from the second
    # job of a process on.
    tf.get_logger().setLevel("ERROR")
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:
            pass  # TF is already running in this worker, with the caps of its first job
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    train_seq, eval_seq = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(train_seq), np.random.default_rng(eval_seq)


def run(
    cfg: DictConfig,
    settings: Config,
    job: Job,
    tracker: Tracker | None = None,
    stop: Callable[[], None] | None = None,
) -> Outcome:
    """Train and evaluate one configuration, logged as one MLflow run. stop: called between
    training chunks and before evaluation; raises to end the run early."""
    started = time.perf_counter()
    # Imported here, not at the top: a bad config is reported before TensorFlow's ~5 s import.
    from lstmlab import plots
    from lstmlab.evaluation import evaluate
    from lstmlab.models import build_model
    from lstmlab.problems import make_problem
    from lstmlab.schedules import planned_steps, train
    from lstmlab.tracking import Tracker, flatten

    imported = time.perf_counter()
    stop = stop or (lambda: None)
    problem = make_problem(settings.dataset)
    tracker = tracker or Tracker(cfg.tracking.uri, cfg.tracking.experiment)
    resolved = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    tags = {**job.tags, "lstmlab.config_hash": fingerprint(resolved)}
    with tracker.run(job.name, tags, settings.tracking.parent_run_id) as log:
        log.params({**flatten(resolved), **{f"choices.{k}": v for k, v in job.choices.items()}})
        log.text(OmegaConf.to_yaml(resolved), "config.yaml")
        if job.hydra_dir is not None and job.hydra_dir.is_dir():
            log.directory(job.hydra_dir, "hydra")
        train_rng, eval_rng = prepare_tensorflow(settings.seed, job.threads)
        model = build_model(settings.model, problem)
        steps = planned_steps(settings.schedule, settings.dataset.samples)
        print(f"training {model.name} on {problem.name}: {steps} steps ({settings.schedule.name})")

        def log_steps(first: int, losses: np.ndarray, accs: np.ndarray) -> None:
            log.history({"train_loss": losses, "train_acc": accs}, first)
            stop()

        training = train(
            model, problem, settings.schedule, settings.dataset.samples, train_rng, log_steps
        )
        stop()
        t0 = time.perf_counter()
        result = evaluate(model, problem, eval_rng, settings.eval.samples)
        eval_seconds = time.perf_counter() - t0
        for line in result.examples(settings.eval.show):
            print(line)
        metrics = result.metrics()
        log.metrics(metrics)
        fig = plots.loss_curve(training.losses, f"{job.name}: {model.name} on {problem.name}")
        log.figure(fig, "loss_curve.png")
        plots.close(fig)
        if cfg.tracking.log_model:
            log.keras_model(model)
        total = time.perf_counter() - started
        timing = {
            "time_import_s": imported - started,
            "time_compile_s": training.compile_seconds,
            "time_train_s": training.seconds,
            "time_eval_s": eval_seconds,
        }
        timing["time_overhead_s"] = total - sum(timing.values()) + job.setup_seconds
        log.metrics(timing)
    print(
        f"run {log.run_id} FINISHED  eval_acc={metrics['eval_acc']:.4f}  "
        f"eval_seq_acc={metrics['eval_seq_acc']:.4f}  eval_loss={metrics['eval_loss']:.4f}\n"
        f"  time: train {training.seconds:.2f}s, compile {training.compile_seconds:.2f}s, "
        f"eval {eval_seconds:.2f}s, import {timing['time_import_s']:.2f}s, "
        f"lstmlab overhead {timing['time_overhead_s']:.2f}s\n"
        f"  store: {tracker.uri}  experiment: {cfg.tracking.experiment}\n"
        f"  open:  make ui, then {tracker.ui_url(log.run_id)}"
    )
    return Outcome(log.run_id, metrics)


def _job(settings: Config) -> Job:
    hc = HydraConfig.get()
    preset = hc.runtime.choices.get("experiment")
    preset = None if preset in (None, "null") else preset
    tags = {"lstmlab.preset": preset or "none"}
    in_sweep = hc.mode is not None and hc.mode.name == "MULTIRUN"
    varying = None
    if in_sweep:
        tags["lstmlab.job"] = str(hc.job.num)
        varying = swept_keys(hc)
    threads = settings.threads
    if not threads and "joblib" in str(hc.launcher.get("_target_", "")):
        # Parallel workers share the cores instead of each spinning up a pool of all of them.
        workers = hc.launcher.n_jobs if hc.launcher.n_jobs > 0 else os.cpu_count() or 1
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
        setup_seconds=0.0 if in_sweep else time.perf_counter() - _IMPORTED,
    )


def _fail(message: str, code: int = 2) -> NoReturn:
    print(f"lstmlab: error: {message}", file=sys.stderr)
    sys.exit(code)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> float:
    from lstmlab.tracking import StoreUnavailable, Tracker

    try:
        settings = to_settings(cfg)
    except (ConfigError, OmegaConfBaseException) as exc:
        _fail(one_line(exc))
    job = _job(settings)
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
            return done.data.metrics.get("eval_loss", float("nan"))
    try:
        with GracefulStop() as stop:
            return run(cfg, settings, job, tracker, stop.check).metrics["eval_loss"]
    except Exception as exc:
        if not job.in_sweep:
            raise
        # The run is already FAILED in MLflow with its traceback; the sweep goes on, and the
        # parent run lists this job among the failed ones.
        print(f"lstmlab: job {job.name!r} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return float("nan")


def entry() -> None:
    """The `lstmlab` command: check every job's config, then hand over to Hydra."""
    args = sys.argv[1:]
    flags = [a for a in args if a.startswith("-")]
    # Other Hydra flags (--help, --cfg, --config-dir, ...) change what runs: Hydra alone.
    if all(f in MULTIRUN_FLAGS for f in flags):
        problem = check([a for a in args if a not in MULTIRUN_FLAGS], multirun=bool(flags))
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
