"""The Hydra entrypoint: compose -> validate -> run -> return eval_loss (for sweepers)."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import hydra
import numpy as np
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from lstmlab.config import CONF_DIR, Config, ConfigError, register_configs, to_settings

register_configs()

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
    name: str,
    tags: dict[str, str] | None = None,
    hydra_dir: Path | None = None,
    setup_seconds: float = 0.0,
    threads: int = 0,
) -> Outcome:
    """Train and evaluate one configuration, logged as one MLflow run. setup_seconds: time
    spent before the call (composition), counted in the logged overhead."""
    started = time.perf_counter()
    # Imported here, not at the top: a bad config is reported before TensorFlow's ~5 s import.
    from lstmlab import plots
    from lstmlab.evaluation import evaluate
    from lstmlab.models import build_model
    from lstmlab.problems import make_problem
    from lstmlab.schedules import planned_steps, train
    from lstmlab.tracking import Tracker, flatten

    imported = time.perf_counter()
    problem = make_problem(settings.dataset)
    tracker = Tracker(cfg.tracking.uri, cfg.tracking.experiment)
    resolved = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    with tracker.run(name, tags, settings.tracking.parent_run_id) as log:
        log.params(flatten(resolved))
        log.text(OmegaConf.to_yaml(resolved), "config.yaml")
        if hydra_dir is not None and hydra_dir.is_dir():
            log.directory(hydra_dir, "hydra")
        train_rng, eval_rng = prepare_tensorflow(settings.seed, threads)
        model = build_model(settings.model, problem)
        steps = planned_steps(settings.schedule, settings.dataset.samples)
        print(f"training {model.name} on {problem.name}: {steps} steps ({settings.schedule.name})")

        def log_steps(first: int, losses: np.ndarray, accs: np.ndarray) -> None:
            log.history("train_loss", losses, first)
            log.history("train_acc", accs, first)

        training = train(
            model, problem, settings.schedule, settings.dataset.samples, train_rng, log_steps
        )
        t0 = time.perf_counter()
        result = evaluate(model, problem, eval_rng, settings.eval.samples)
        eval_seconds = time.perf_counter() - t0
        for line in result.examples(settings.eval.show):
            print(line)
        metrics = result.metrics()
        log.metrics(metrics)
        fig = plots.loss_curve(training.losses, f"{name}: {model.name} on {problem.name}")
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
        timing["time_overhead_s"] = total - sum(timing.values()) + setup_seconds
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


@dataclass
class Job:
    """What Hydra tells a job about itself."""

    name: str
    tags: dict[str, str]
    hydra_dir: Path
    threads: int
    in_sweep: bool


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
    name = run_name(list(hc.overrides.task), preset, varying)
    return Job(name, tags, Path(hc.runtime.output_dir) / ".hydra", threads, in_sweep)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> float:
    try:
        settings = to_settings(cfg)
    except (ConfigError, OmegaConfBaseException) as exc:
        print(f"lstmlab: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        sys.exit(2)
    job = _job(settings)
    setup = 0.0 if job.in_sweep else time.perf_counter() - _IMPORTED
    try:
        outcome = run(cfg, settings, job.name, job.tags, job.hydra_dir, setup, job.threads)
        return outcome.metrics["eval_loss"]
    except Exception as exc:
        if not job.in_sweep:
            raise
        # The run is already FAILED in MLflow with its traceback; the sweep goes on, and the
        # parent run lists this job among the failed ones.
        print(f"lstmlab: job {job.name!r} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return float("nan")
