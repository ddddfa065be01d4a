"""One run's pipeline: data -> model -> schedule (with validation) -> test -> tracking.

Called by the CLI for every job, by ``lstmlab-rerun`` and by tests. The data is loaded and
checked before any MLflow run exists, so bad data leaves nothing behind.
"""

from __future__ import annotations

import gc
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from omegaconf import DictConfig, OmegaConf

from lstmlab.config import (
    MB,
    BulkConfig,
    Config,
    ConfigError,
    CustomModelConfig,
    RocketConfig,
    fingerprint,
)
from lstmlab.data import DataError, Dataset, load, rngs

if TYPE_CHECKING:
    from lstmlab.tracking.runs import Tracker


# The tag of a run whose test metrics saw the test data (the airline tutorial's scaler).
LEAK = "lstmlab.leak"

# tracking.log_every=null: per-step metrics keep about this many points a run (the UI's charts
# draw no more; sending more costs store time for nothing).
POINTS_PER_RUN = 10_000


@dataclass
class Outcome:
    run_id: str
    metrics: dict[str, float]
    # "eval" (fresh sequences of a generator) or "test" (a fixed test split).
    prefix: str = "eval"
    # eval.objective: the metric returned to Hydra (None: the held-out loss).
    objective: str | None = None

    @property
    def loss(self) -> float:
        """What a sweeper optimises: eval.objective, or the held-out loss."""
        key = self.objective or f"{self.prefix}_loss"
        if key not in self.metrics:
            raise ConfigError("eval.objective", key, "this run logged no such metric; it logged "
                              + ", ".join(sorted(self.metrics)))  # fmt: skip
        return self.metrics[key]


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
    # In a sweep: this job's number and the sweep's count of jobs (None if not known ahead).
    number: tuple[int, int | None] | None = None


def load_data(settings: Config) -> Dataset:
    """The run's dataset, checked against the schedule and the model's head; DataError or
    ConfigError (one line) if they cannot work together."""
    t0 = time.perf_counter()
    dataset = load(settings)
    dataset.seconds = time.perf_counter() - t0
    sched = settings.schedule
    model = settings.model
    if getattr(model, "head", None) is not None and dataset.task.per_timestep:
        raise ConfigError(
            "model.head", model.head,
            f"only applies to one label per sequence; {dataset.task.name} has one per "
            "timestep: set model.head=null",
        )  # fmt: skip
    batch = sched.batch_size * dataset.task.sequence_bytes
    if batch > sched.max_chunk_mb * MB:
        raise ConfigError(
            "schedule.batch_size", sched.batch_size,
            f"one batch of {dataset.task.name} takes {batch / MB:.1f} MB, more than "
            f"schedule.max_chunk_mb={sched.max_chunk_mb:g}; lower schedule.batch_size or raise "
            "schedule.max_chunk_mb",
        )  # fmt: skip
    fixed = dataset.train is not None and isinstance(sched, BulkConfig)
    if fixed and sched.batch_size > len(dataset.train) and sched.fit_batch:
        sched.batch_size = len(dataset.train)
    if fixed and sched.batch_size > len(dataset.train):
        raise DataError(
            f"schedule.batch_size={sched.batch_size}: must be at most the "
            f"{len(dataset.train)} sequences of the training split"
        )
    return dataset


# The config keys a compiled program takes as inputs at run time rather than baking in: jobs
# that differ only in these (and the data) share their programs.
PROGRAM_INPUTS = ("seed", "model.learning_rate")


def program_key(settings: Config, task) -> str:
    """What a job's compiled programs depend on: the architecture, the task's shapes and the
    compiler; not the PROGRAM_INPUTS or the data (all passed in at run time)."""
    model = {k: v for k, v in vars(settings.model).items()
             if f"model.{k}" not in PROGRAM_INPUTS}  # fmt: skip
    return repr((sorted(model.items(), key=str), task, settings.schedule.jit))


def xla_cache(folder: str | None) -> None:
    """Point TensorFlow's persistent XLA compilation cache at folder (before the process's
    first XLA compilation; later calls change nothing). The cache key TensorFlow computes covers
    the program; the prefix adds what it does not: the TensorFlow version, the XLA flags, and
    this CPU's instruction sets (a program compiled for one CPU can crash on another)."""
    import hashlib

    import tensorflow as tf

    flags = os.environ.get("TF_XLA_FLAGS", "")
    if folder is None or "tf_xla_persistent_cache_directory" in flags:
        return  # off, or set by the user
    try:
        text = Path("/proc/cpuinfo").read_text()
        cpu = next(line for line in text.splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    tag = hashlib.sha256(f"{cpu}|{flags}|{os.environ.get('XLA_FLAGS', '')}".encode())
    prefix = f"tf{tf.__version__}_{tag.hexdigest()[:10]}"
    Path(folder).mkdir(parents=True, exist_ok=True)
    os.environ["TF_XLA_FLAGS"] = (
        f"{flags} --tf_xla_persistent_cache_directory={folder} "
        f"--tf_xla_persistent_cache_prefix={prefix}"
    ).strip()


def prepare_tensorflow(seed: int, threads: int, tf_seed: bool = True) -> np.random.Generator:
    """Fresh Keras state, thread caps, seeds for Python, numpy, Keras (weights, dropout) and,
    with tf_seed, TensorFlow's stateful random ops; deterministic TF ops; returns the training
    data's random stream."""
    import random

    import keras
    import tensorflow as tf
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from keras.src.utils import rng_utils

    # A process may run many jobs (the basic launcher, reused joblib workers): start each
    # from a clean Keras state (layer-name counters, settings), the global state
    # keras.backend.clear_session resets. Not clear_session itself: its full garbage
    # collection took 0.4 s a job (the models kept for reuse stay alive anyway), and it also
    # empties TensorFlow's kernel cache, after which every compiled function kept with a
    # reused model instantiates its graph again on its next call (0.1 s a job for predict).
    # This thread's part only: the seeds of a stack (training/stacks.py) prepare in threads
    # of one process, each keeping its own.
    global_state.GLOBAL_STATE_TRACKER.__dict__.clear()
    global_state.GLOBAL_SETTINGS_TRACKER.__dict__.clear()
    # Each job builds its own compiled loop; TF would warn about "retracing" from the second
    # job of a process on.
    tf.get_logger().setLevel("ERROR")
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:
            pass  # TF is already running in this worker, with the caps of its first job
    if tf_seed:
        keras.utils.set_random_seed(seed)
    else:
        # keras.utils.set_random_seed less TensorFlow's global seed, which lstmlab's own
        # models never draw from (Keras' seed generators give their weights and dropout) and
        # whose setting also empties TensorFlow's kernel caches (0.1 s a job, as above).
        global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, seed)
        global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
        random.seed(seed)
        np.random.seed(seed)
    tf.config.experimental.enable_op_determinism()
    return rngs(seed)[0]


def _describe(log, cfg: DictConfig, resolved: dict, job: Job, dataset: Dataset,
              batch_size: int) -> None:  # fmt: skip
    """What a new run is: params, config, Hydra's files, the data it sees (batch_size: the one
    used, which schedule.fit_batch may have shrunk to the training split)."""
    from lstmlab.tracking.runs import flatten

    log.params({
        **flatten(resolved),
        **{f"choices.{k}": v for k, v in job.choices.items()},
        **{f"data.{k}": v for k, v in dataset.summary().items()},
        "data.batch_size": batch_size,
    })  # fmt: skip
    log.text(OmegaConf.to_yaml(resolved), "config.yaml")
    if job.hydra_dir is not None and job.hydra_dir.is_dir():
        log.directory(job.hydra_dir, "hydra")
    log.inputs(dataset)
    log.json_file({"classes": dict(enumerate(dataset.classes))}, "dataset/classes.json")
    if dataset.normalization is not None:
        log.json_file(dataset.normalization, "dataset/normalization.json")
    if dataset.forecast is not None:
        log.json_file(dataset.forecast.as_json(), "dataset/transforms.json")
    if dataset.target_scale is not None:
        mean, std = dataset.target_scale
        log.json_file({"mean": mean, "std": std, "fitted_on": "training split"},
                      "dataset/target_scale.json")  # fmt: skip


def _resumable(settings: Config, tracker: Tracker, model, config_hash: str,
               folder: Path | None):  # fmt: skip
    """(run, path) of the run to continue and its checkpoint, read and checked, or
    (None, None) for a new run, as schedule.resume says; folder: where checkpoints are kept
    (None: this run keeps none). A local checkpoint that cannot be used gives way to the
    tracking server's copy; with neither, the dead run ends KILLED and ConfigError says why."""
    import tempfile

    from lstmlab.config import Resume
    from lstmlab.training import checkpoints

    mode = settings.schedule.resume
    if folder is None or mode is Resume.never:
        return None, None
    found = tracker.find_resumable(config_hash, folder)
    if found is None:
        if mode is Resume.must:
            raise ConfigError(
                "schedule.resume", "must",
                "no KILLED or dead run of this configuration has a checkpoint to continue; "
                "schedule.resume=auto starts a new run when there is none",
            )  # fmt: skip
        return None, None
    run, path = found
    shapes = [list(v.shape) for v in model.variables]
    try:
        return found, checkpoints.load(path, config_hash, shapes)
    except checkpoints.CheckpointError as exc:
        reason = str(exc)
    with tempfile.TemporaryDirectory(prefix="lstmlab-checkpoint-") as tmp:
        copy = tracker.checkpoint_copy(run, Path(tmp))
        if copy is not None and copy != path:
            try:
                resume = checkpoints.load(copy, config_hash, shapes)
            except checkpoints.CheckpointError as exc:
                reason += f"; the tracking server's copy too: {exc}"
            else:
                print(f"lstmlab: {reason}; continuing from the tracking server's copy of the "
                      "checkpoint", file=sys.stderr, flush=True)  # fmt: skip
                # Training writes its checkpoints to the local path again.
                return found, resume
    tracker.end_unusable(run, f"checkpoint unusable: {reason}")
    raise ConfigError(
        "schedule.resume", mode.value,
        f"cannot continue run {run.info.run_id}: {reason}; schedule.resume=never starts a "
        "new run (and leaves the file alone)",
    )  # fmt: skip


def _per_class(log, result, dataset: Dataset, title: str) -> dict[str, float]:
    """A test split's confusion matrix (figure and JSON, with the class names of
    dataset/classes.json) and its predicted probabilities, for a sweep's ensemble of seeds
    (sweeps.report); returns test_f1_macro."""

    from lstmlab.evaluation import plots

    found = result.per_class(dataset.classes)
    log.json_file(found.as_json(), "confusion_matrix.json")
    fig = plots.confusion_matrix(found.matrix, dataset.classes, f"{title}, test split")
    log.figure(fig, "confusion_matrix.png")
    plots.close(fig)
    _predictions(log, p=result.p.astype(np.float32), y=result.y, mask=result.mask)
    return {"test_f1_macro": found.f1_macro}


def _forecast_figures(log, result, dataset: Dataset, folds: int, title: str) -> dict[str, float]:
    """A forecast's figure (the first series and target: one-step-ahead test forecasts, the
    baselines', the actuals) and, with eval.backtest folds, each fold's errors (backtest.json)
    and their mean and spread."""
    from lstmlab.evaluation import plots

    forecast = dataset.forecast
    first = result.series == 0
    steps = result.origins[first] + 1
    table = forecast.table
    fig = plots.forecast(
        table.times[0], table.y[0][:, 0], steps, result.yhat[first, 0, 0],
        {name: values[first, 0, 0] for name, values in result.baselines.items()},
        forecast.bounds[0][1], f"{title}: {table.targets[0]}, test part one step ahead",
    )  # fmt: skip
    log.figure(fig, "forecast.png")
    plots.close(fig)
    if not folds:
        return {}
    rows = result.backtest(folds)
    log.json_file({"folds": rows, "refitted": False}, "backtest.json")
    rmse = np.array([r["rmse"] for r in rows])
    best = np.min([[r[f"{b}_rmse"] for b in result.baselines] for r in rows], axis=1)
    return {"backtest_rmse_mean": float(rmse.mean()), "backtest_rmse_std": float(rmse.std()),
            "backtest_wins": float((rmse < best).mean())}  # fmt: skip


def _fit_ridge(log, model, dataset: Dataset, rng: np.random.Generator, alphas,
               validate: Callable[[int], dict[str, float]], target_std: float):  # fmt: skip
    """ROCKET's head fitted in closed form, its one "step" logged: the training loss, RMSE
    (in the target's units) or accuracy, and the penalty leave-one-out chose."""
    from lstmlab.training import ridge

    task = dataset.task
    training, alpha = ridge.fit(model, task, dataset, rng, alphas,
                                validate if dataset.validation is not None else None)  # fmt: skip
    name = "train_rmse" if task.regression else "train_acc"
    score = training.accs[0] * (target_std if task.regression else 1.0)
    log.metrics({"train_loss": training.losses[0], name: score, "ridge_alpha": alpha}, step=1)
    return training


def _predictions(log, **arrays: np.ndarray) -> None:
    """The test split's predictions as the artifact evaluation.PREDICTIONS: a classification's
    probabilities (p), a regression's values in the target's units (yhat), with y and mask."""
    import tempfile

    from lstmlab.evaluation import PREDICTIONS

    with tempfile.TemporaryDirectory(prefix="lstmlab-") as tmp:
        path = Path(tmp) / PREDICTIONS.split("/")[-1]
        np.savez_compressed(path, **arrays)
        log.file(path, PREDICTIONS.rsplit("/", 1)[0])


def _check_task(settings: Config, task) -> None:
    """Keys that only one kind of task has: a ConfigError before anything is built."""
    from lstmlab.config import Monitor

    sched = settings.schedule
    watched = [("schedule.early_stopping.monitor", sched.early_stopping.monitor.value,
                sched.early_stopping.patience > 0)]  # fmt: skip
    if sched.lr_schedule.value == "reduce_on_plateau":
        watched.append(("schedule.plateau.monitor", sched.plateau.monitor.value, True))
    for key, value, used in watched:
        if not used:
            continue
        if task.regression and value == Monitor.val_acc.value:
            raise ConfigError(key, value, f"{task.name} is a regression: watch val_loss or "
                              "val_rmse")  # fmt: skip
        if not task.regression and value == Monitor.val_rmse.value:
            raise ConfigError(key, value, f"{task.name} is a classification: watch val_loss or "
                              "val_acc")  # fmt: skip


# Objects a block of imports must have made (net) for collector_paused to freeze them: the
# first import of TensorFlow, Keras and MLflow makes ~0.9 million; a repeated import none.
FREEZE_ABOVE = 100_000


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for a block of big imports, and what they made
    frozen out of its reach afterwards. TensorFlow's, Keras' and MLflow's imports make ~0.9
    million objects that live as long as the process; the collector would walk the growing
    heap in full about ten times on the way, freeing next to nothing, and, turned back on, walk
    all of it again from its young generation up (2.7 s of the collector's time in and after
    the import, against 0.07 s paused and frozen: benchmarks/imports.py). A block that made few
    objects (its modules were imported already) freezes nothing: a test process calling run()
    again and again must not freeze its garbage."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc.get_count()[0] > FREEZE_ABOVE:
            gc.freeze()
        if enabled:
            gc.enable()


def import_run() -> None:
    """Import what a run needs (TensorFlow, Keras, MLflow and lstmlab's modules around them),
    with the collector paused: as run() starts, and in the launcher's workers before their
    first job arrives."""
    with collector_paused():
        import keras  # noqa: F401
        import mlflow  # noqa: F401
        import mlflow.store.tracking.sqlalchemy_store  # noqa: F401 (a database store's, ~1 s)
        import tensorflow  # noqa: F401

        from lstmlab.evaluation import classification, plots  # noqa: F401
        from lstmlab.models import recurrent  # noqa: F401
        from lstmlab.tracking import runs  # noqa: F401
        from lstmlab.training import checkpoints, loops, progress  # noqa: F401


def run(
    cfg: DictConfig,
    settings: Config,
    job: Job,
    tracker: Tracker | None = None,
    stop: Callable[[], None] | None = None,
    dataset: Dataset | None = None,
) -> Outcome:
    """Train, validate and test one configuration, logged as one MLflow run. stop: called
    between training chunks and before testing; raises to end the run early. dataset: already
    loaded (by the CLI, before the store was touched). ConfigError or DataError before the run
    exists when the data or the model cannot work."""
    started = time.perf_counter()
    # Imported here, not at the top: a bad config is reported before TensorFlow's ~5 s import.
    import_run()
    from lstmlab.evaluation import evaluate, plots
    from lstmlab.models import build_model
    from lstmlab.tracking.runs import (
        CHECKPOINT,
        CHECKPOINT_ARTIFACT,
        CHECKPOINT_ERROR,
        CHECKPOINT_STEP,
        STACK,
        Tracker,
    )
    from lstmlab.training import checkpoints, stacks
    from lstmlab.training.loops import (
        copy_seed_states,
        copy_weights,
        kept,
        planned_steps,
        reuse,
        train,
    )
    from lstmlab.training.progress import Progress

    imported = time.perf_counter()
    loaded_before = dataset is not None
    dataset = dataset or load_data(settings)
    task = dataset.task
    stop = stop or (lambda: None)
    xla_cache(settings.xla_cache)
    # A custom model's code may draw from TensorFlow's own random ops: it gets TF's seed.
    custom = isinstance(settings.model, CustomModelConfig)
    train_rng = prepare_tensorflow(settings.seed, job.threads, tf_seed=custom)
    # Built before the MLflow run: a model that does not fit the task (model.head on
    # per-timestep labels, a custom model with the wrong output) is a ConfigError, no run.
    _check_task(settings, task)
    model = build_model(settings.model, task, settings.seed)
    # ROCKET's layers depend on its seed's kernels (how many of each length and dilation),
    # and it has no training program to keep.
    closed_form = isinstance(settings.model, RocketConfig)
    # A seed of a stack trains the model it built (the stack steps the K seeds' own models),
    # and validates and tests with the model kept for its architecture, given its weights
    # first: that one's predict programs are traced already.
    member = stacks.member()
    judge = model
    if not closed_form:
        if member is None:
            model = judge = reuse(model, program_key(settings, task))
        else:
            judge = kept(model, program_key(settings, task),
                         lambda: build_model(settings.model, task, settings.seed))  # fmt: skip

    def judged():
        if judge is not model:
            copy_weights(model, judge)
        return judge

    if tracker is None:
        tracker = Tracker(cfg.tracking.uri, cfg.tracking.experiment)
    resolved = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    tags = {**job.tags, "lstmlab.config_hash": fingerprint(resolved)}
    if dataset.forecast is not None and dataset.forecast.leak:
        tags[LEAK] = "dataset.scale_on=all: the scaler was fitted on the test part too"
        print(f"lstmlab: warning: {tags[LEAK]}; its test metrics are optimistic",
              file=sys.stderr, flush=True)  # fmt: skip
    prefix = "eval" if dataset.generated else "test"
    objective = settings.eval.objective
    size = len(dataset.train) if dataset.train is not None else dataset.samples
    every = settings.eval.every
    if settings.eval.every_epoch:  # bulk only (config.validate): the steps of one epoch
        every = math.ceil(size / settings.schedule.batch_size)
    saving = settings.schedule.checkpoint_every > 0 and job.hydra_dir is not None
    found, resume = _resumable(settings, tracker, model, tags["lstmlab.config_hash"],
                               job.hydra_dir.parent if saving else None)  # fmt: skip
    with tracker.run(job.name, tags, settings.tracking.parent_run_id,
                     settings.tracking.system_metrics, found[0].info.run_id if found else None,
                     settings.tracking.outage_wait) as log:  # fmt: skip
        if found is None:
            _describe(log, cfg, resolved, job, dataset, settings.schedule.batch_size)
        else:
            if settings.tracking.parent_run_id:  # a resumed sweep, or another one
                tracker.add_to_sweep(log.run_id, settings.tracking.parent_run_id)
            print(f"continuing run {log.run_id} ({found[0].info.status}) from its checkpoint "
                  f"at step {resume.step}: {found[1]}", flush=True)  # fmt: skip
        if cfg.tracking.log_model:
            log.expect_model()
        steps = planned_steps(settings.schedule, size)
        log.every(settings.tracking.log_every or math.ceil(steps / POINTS_PER_RUN))
        if resume is not None and "blocks" in resume.extra:
            log.restore_blocks(resume.extra["blocks"])
        if not job.in_sweep and closed_form:
            print(f"fitting {model.name} ({settings.model.kernels} kernels) on {task.name} by "
                  "ridge regression (no steps: the schedule's keys do not apply)")  # fmt: skip
        elif not job.in_sweep:
            validating = f", validating every {every}" if every else ""
            print(f"training {model.name} on {task.name}: {steps} steps "
                  f"({settings.schedule.name}){validating}")  # fmt: skip
        progress = Progress(0 if closed_form else steps, job.name,
                            Progress.mode_for(job.in_sweep or closed_form))  # fmt: skip

        scheduled = settings.schedule.lr_schedule.value != "none"
        target_std = dataset.target_scale[1] if dataset.target_scale else 1.0

        def log_steps(first: int, losses: np.ndarray, accs: np.ndarray, lrs: np.ndarray) -> None:
            if task.regression:  # the batch RMSE, in the target's units
                series = {"train_loss": losses, "train_rmse": accs * target_std}
            else:
                series = {"train_loss": losses, "train_acc": accs}
            if scheduled:  # a constant rate is the param model.learning_rate
                series["lr"] = lrs
            log.history(series, first)
            progress.update(first + len(losses), float(np.mean(losses)))

        # Beside the run's Hydra output (a continued run keeps its file); the run's tags say
        # where, for the next process. A file there already is another run's (a folder used
        # again, schedule.resume=never): left alone, this run's gets its own name.
        path = None
        if saving:
            path = found[1] if found else job.hydra_dir.parent / checkpoints.FILE
            if not found and path.exists():
                path = path.with_name(f"{path.stem}-{log.run_id}{path.suffix}")

        unwritten: list[str] = []  # why the last checkpoint could not be written

        def save(state: checkpoints.Checkpoint) -> None:
            # Every step up to the checkpoint in the store first: a continuation logs only
            # what comes after what the store has.
            log.sync()
            state.extra["blocks"] = log.blocks_state()
            try:
                checkpoints.save(state, path, tags["lstmlab.config_hash"])
            except OSError as exc:
                # No space, no permission: training goes on; the previous checkpoint (if
                # any) is whole, and the run says why the newer ones are missing.
                reason = f"cannot write {path}: {exc.strerror or exc}"
                if not unwritten:
                    print(f"lstmlab: warning: {reason}; training goes on, the last checkpoint "
                          "written (if any) is kept", file=sys.stderr, flush=True)  # fmt: skip
                unwritten[:] = [reason]
                log.tags({CHECKPOINT_ERROR: f"{reason} (at step {state.step})"})
                return
            if unwritten:
                unwritten.clear()
                log.untag(CHECKPOINT_ERROR)
            log.tags({CHECKPOINT: path, CHECKPOINT_STEP: state.step})
            if tracker.remote:  # for a machine that does not have this one's disk
                log.file(path, CHECKPOINT_ARTIFACT)

        def validate(done: int) -> dict[str, float]:
            metrics = evaluate(judged(), dataset, "validation").metrics("val")
            if judge is not model:
                # Keras' RNN.call draws dropout masks in inference too: the model a run alone
                # validates with is the one it trains, whose seeds move on with it.
                copy_seed_states(judge, model)
            log.metrics(metrics, step=done)
            return metrics

        try:
            if closed_form:
                training = _fit_ridge(log, model, dataset, train_rng, settings.model.alphas,
                                      validate, target_std)  # fmt: skip
            else:
                training = train(
                    model, task, settings.schedule, dataset, train_rng, log_steps,
                    validate if every else None, every, stop, save if saving else None, resume,
                    None if member is None else member.loop(
                        model, task, settings.schedule.jit, settings.schedule.max_chunk_mb
                    ),
                )  # fmt: skip
        finally:
            progress.close()
        if member is not None:
            log.tags({STACK: member.trained()})
        # Every per-step metric written before the rest: what training waited for logging.
        log.settle()
        if path is not None:
            path.unlink(missing_ok=True)  # trained to the end: nothing left to continue
        if training.best_step is not None:
            monitor = settings.schedule.early_stopping.monitor.value
            log.metrics({"best_step": training.best_step, f"best_{monitor}": training.best_value})
            if training.stopped_early:
                print(
                    f"stopped early after {training.steps} steps; restored the weights of "
                    f"step {training.best_step} ({monitor} {training.best_value:.4f})"
                )
        stop()
        t0 = time.perf_counter()
        result = evaluate(judged(), dataset, "test")
        eval_seconds = time.perf_counter() - t0
        classes = None if dataset.generated else dataset.classes
        for line in [] if job.in_sweep else result.examples(settings.eval.show, classes):
            print(line)
        metrics = result.metrics(prefix)
        if dataset.forecast is not None:
            title = f"{job.name}: {model.name} on {task.name}"
            metrics.update(_forecast_figures(log, result, dataset, settings.eval.backtest, title))
        if task.regression:
            _predictions(log, **result.arrays())
        elif not dataset.generated:
            metrics.update(_per_class(log, result, dataset, f"{job.name}: {model.name}"))
        log.metrics(metrics)
        if not closed_form:  # a closed-form fit has no curve
            fig = plots.loss_curve(
                training.losses, f"{job.name}: {model.name} on {task.name}",
                training.accs * target_std if task.regression else training.accs,
                training.validations, training.best_step,
                "rmse" if task.regression else "acc",
            )  # fmt: skip
            log.figure(fig, "loss_curve.png")
            plots.close(fig)
        if cfg.tracking.log_model:
            served = model
            if dataset.target_scale is not None:  # predictions in the target's units
                from lstmlab.models.blocks import in_target_units

                served = in_target_units(model, task, dataset.target_scale)
            log.keras_model(served, task)
        total = time.perf_counter() - started
        timing = {
            "time_import_s": imported - started,
            "time_data_s": dataset.seconds,
            "time_compile_s": training.compile_seconds,
            "time_train_s": training.seconds,
            "time_eval_s": eval_seconds,
        }
        # Data loaded before run() (by the CLI) is in neither total nor setup_seconds.
        spent = total + job.setup_seconds + (dataset.seconds if loaded_before else 0.0)
        if member is not None:  # the time its siblings had their turns, apart
            timing["time_stack_wait_s"] = member.waited
        timing["time_overhead_s"] = spent - sum(timing.values())
        log.metrics(timing)
    shown = "  ".join(f"{k}={v:.4f}" for k, v in metrics.items())
    if job.number is not None:
        k, n = job.number
        print(f"[{k}/{n or '?'}] {job.name}: FINISHED  {shown}  "
              f"({time.perf_counter() - started:.1f} s, run {log.run_id})", flush=True)  # fmt: skip
        return Outcome(log.run_id, metrics, prefix, objective)
    print(
        f"run {log.run_id} FINISHED  {shown}\n"
        f"  time: train {training.seconds:.2f}s, compile {training.compile_seconds:.2f}s, "
        f"eval {eval_seconds:.2f}s, import {timing['time_import_s']:.2f}s, "
        f"lstmlab overhead {timing['time_overhead_s']:.2f}s\n"
        f"  store: {tracker.uri}  experiment: {cfg.tracking.experiment}\n"
        f"  open:  make ui, then {tracker.ui_url(log.run_id)}"
    )
    return Outcome(log.run_id, metrics, prefix, objective)
