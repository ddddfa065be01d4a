"""Training schedules: online (one Adam step per batch of sequences) and bulk (minibatch epochs).

Both schedules reduce to the same thing: a stream of chunks, each a stack of batches of shape
(steps, batch, ...), and one optimizer step per batch. The fast path runs a whole chunk inside
one XLA-compiled ``tf.while_loop``; calling ``model.fit`` once per sequence, as the tutorials do,
spends almost all of its time in per-call overhead. The plain path (``schedule.fast=false``)
calls Keras' ``train_on_batch`` once per step on the same batches, in the same order.

Validation (``eval.every``) cuts the stream at multiples of its interval; early stopping
(``schedule.early_stopping``) ends it and puts the best weights back.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from lstmlab.config import MB, BulkConfig, EarlyStoppingConfig, Monitor, OnlineConfig
from lstmlab.data import Dataset, Sequences, Task
from lstmlab.models.recurrent import accuracy
from lstmlab.training.checkpoints import Checkpoint
from lstmlab.training.lr_schedules import LearningRates
from lstmlab.training.program_names import stable

# Called after every chunk with the index of its first step and its per-step loss, accuracy
# and learning rate.
StepsCallback = Callable[[int, np.ndarray, np.ndarray, np.ndarray], None]
# Called every eval.every steps with the number of steps done; returns validation metrics.
Validate = Callable[[int], dict[str, float]]
Chunk = tuple[np.ndarray, np.ndarray]


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


@dataclass
class Training:
    losses: np.ndarray
    accs: np.ndarray
    # Wall time of the optimizer steps, and of tracing + XLA compilation, apart.
    seconds: float
    compile_seconds: float
    # (steps done, metrics) of every validation.
    validations: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    # Early stopping: the steps done at the best validation, and its monitored value.
    best_step: int | None = None
    best_value: float | None = None
    stopped_early: bool = False

    @property
    def steps(self) -> int:
        return len(self.losses)


def _batches(task: Task, seqs: Sequences, idx: np.ndarray) -> Chunk:
    """Sequences idx (steps, batch) as stacked batches of inputs and the loss's targets."""
    return seqs.x[idx], task.targets(seqs.y[idx])


def chunk_steps(cfg: OnlineConfig | BulkConfig, task: Task) -> int:
    """Steps per chunk: cfg.chunk, or as many as fit in cfg.max_chunk_mb (at least one; a
    batch larger than the budget is refused before training, by experiment.load_data)."""
    fits = int(cfg.max_chunk_mb * MB // (cfg.batch_size * task.sequence_bytes))
    return max(1, min(cfg.chunk, fits))


def online_chunks(
    data: Dataset, cfg: OnlineConfig, rng: np.random.Generator, first: int = 0
) -> Iterator[tuple[np.ndarray, np.ndarray, dict[str, int]]]:
    """cfg.epochs batches of cfg.batch_size sequences, chunk_steps() at a time, made when they
    are needed: fresh from a generator, or drawn at random from the training split. Each chunk
    comes with the stream's position after it (where a checkpoint continues); first: the step
    to start at (a chunk boundary, with rng as it stood there)."""
    size = cfg.batch_size
    chunk = chunk_steps(cfg, data.task)
    for start in range(first, cfg.epochs, chunk):
        steps = min(chunk, cfg.epochs - start)
        if data.sampler is not None:
            # Fresh sequences are already in order: reshaped, not copied.
            seqs = data.sampler(rng, steps * size)
            targets = data.task.targets(seqs.y)
            xs = seqs.x.reshape(steps, size, *seqs.x.shape[1:])
            ys = targets.reshape(steps, size, *targets.shape[1:])
            del seqs, targets
        else:
            idx = rng.integers(0, len(data.train), size=(steps, size))
            xs, ys = _batches(data.task, data.train, idx)
        yield xs, ys, {"next": start + steps}


def bulk_chunks(
    data: Dataset,
    cfg: BulkConfig,
    rng: np.random.Generator,
    resume: dict[str, Any] | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray, dict[str, Any]]]:
    """The training set (generators: dataset.samples sequences drawn once), reshuffled every
    epoch, as batches of cfg.batch_size; the last, smaller batch of an epoch (as in model.fit)
    comes as a chunk of its own. Each chunk comes with the stream's position after it: the
    epoch and the batch it continues at, and that epoch's order when it is under way. resume:
    such a position, with the generator's state there ("rng")."""
    seqs = data.training_set(rng)  # drawn from the start of the stream, resumed or not
    samples = len(seqs)
    size = cfg.batch_size
    full = samples // size
    rest = full * size < samples
    chunk = chunk_steps(cfg, data.task)
    epoch, start, order = 0, 0, None
    if resume is not None:
        epoch, start, order = resume["epoch"], resume["start"], resume.get("order")
        rng.bit_generator.state = resume["rng"]
    while epoch < cfg.epochs:
        if order is None:
            order = rng.permutation(samples)
        if start < full:
            steps = min(chunk, full - start)
            idx = order[start * size : (start + steps) * size].reshape(steps, size)
            start += steps
        else:  # the remainder of the epoch
            idx = order[full * size :][None]
            start += 1
        xs, ys = _batches(data.task, seqs, idx)
        if start > full or (start == full and not rest):
            epoch, start, order = epoch + 1, 0, None
        position = {"epoch": epoch, "start": start}
        yield xs, ys, position if order is None else {**position, "order": order}


def planned_steps(cfg: OnlineConfig | BulkConfig, samples: int) -> int:
    """Optimizer steps of a schedule; samples: the training set's size (bulk only)."""
    if isinstance(cfg, OnlineConfig):
        steps = cfg.epochs
    else:
        steps = cfg.epochs * math.ceil(samples / cfg.batch_size)
    return min(steps, cfg.max_steps or steps)


class EarlyStopping:
    """Tracks the monitored validation metric; says when it has not improved by min_delta for
    `patience` validations in a row, and keeps the best weights to put back."""

    def __init__(self, cfg: EarlyStoppingConfig):
        self.cfg = cfg
        self.key = cfg.monitor.value
        # Loss and RMSE: lower is better; accuracy: higher.
        self.sign = -1.0 if cfg.monitor is Monitor.val_acc else 1.0
        self.best: float | None = None
        self.best_step: int | None = None
        self.weights: list[np.ndarray] | None = None
        self.waited = 0

    def update(self, step: int, metrics: dict[str, float], model: keras.Model) -> bool:
        """Record a validation; True when training should stop."""
        value = metrics[self.key]
        if self.best is None or self.sign * (self.best - value) > self.cfg.min_delta:
            self.best, self.best_step, self.waited = value, step, 0
            self.weights = model.get_weights()
            return False
        self.waited += 1
        return self.waited >= self.cfg.patience

    def restore(self, model: keras.Model) -> None:
        if self.weights is not None:
            model.set_weights(self.weights)

    def state(self) -> dict[str, Any]:
        """For a checkpoint (the best weights go apart, as arrays)."""
        return {"best": self.best, "best_step": self.best_step, "waited": self.waited}

    def load(self, state: dict[str, Any], weights: list[np.ndarray] | None) -> None:
        self.best, self.best_step, self.waited = state["best"], state["best_step"], state["waited"]
        self.weights = weights


@dataclass
class _TrainingState:
    """A training under way: what a checkpoint keeps of it besides the model and the stream."""

    result: Training
    stopper: EarlyStopping | None
    rates: LearningRates
    step: int = 0
    # Chunk length per batch shape: the first chunk of a shape sets it, later ones are padded
    # to it (or cut to it), so a shape compiles once.
    widths: dict[tuple[int, ...], int] = field(default_factory=dict)
    losses: list[np.ndarray] = field(default_factory=list)
    accs: list[np.ndarray] = field(default_factory=list)


# Per process, one model per architecture with its compiled programs (the training loop of
# each batch shape, Keras' predict function): a later job of the same architecture takes the
# model over instead of tracing and compiling it all again. Least recently used first out.
_PROGRAMS: OrderedDict[str, keras.Model] = OrderedDict()
_LOOPS: dict[tuple[int, bool], Callable] = {}
_KEEP = 8


def reuse(fresh: keras.Model, key: str) -> keras.Model:
    """The model to train for a job whose newly built model is `fresh`: an earlier job's
    model of the same architecture (`key`), given fresh's initial weights, dropout seeds and
    learning rate and a zeroed optimizer state, so that the job computes exactly what fresh
    would; or fresh itself, kept for later jobs."""
    cached = _PROGRAMS.get(key)
    if cached is None:
        _PROGRAMS[key] = fresh
        while len(_PROGRAMS) > _KEEP:
            _, old = _PROGRAMS.popitem(last=False)
            for jit in (True, False):
                _LOOPS.pop((id(old), jit), None)
        return fresh
    _PROGRAMS.move_to_end(key)
    copy_weights(fresh, cached)
    optimizer = cached.optimizer
    for variable in optimizer.variables:
        variable.assign(keras.ops.zeros_like(variable))
    optimizer.learning_rate = float(keras.ops.convert_to_numpy(fresh.optimizer.learning_rate))
    return cached


def kept(own: keras.Model, key: str, build: Callable[[], keras.Model]) -> keras.Model:
    """The model kept for architecture `key` (reuse()), for a job that trains `own` itself
    (a seed of a stack) and predicts with the kept one (copy_weights first); build: a model
    of the architecture, to keep when none is (never `own`, which its stack steps)."""
    if key in _PROGRAMS:
        _PROGRAMS.move_to_end(key)
        return _PROGRAMS[key]
    return reuse(build(), key)


def copy_weights(source: keras.Model, into: keras.Model) -> None:
    for mine, theirs in zip(into.variables, source.variables, strict=True):
        mine.assign(theirs)


def copy_seed_states(source: keras.Model, into: keras.Model) -> None:
    """source's seed generators' states (its variables that are not weights: what dropout
    draws its masks from) into `into`, a model of the same architecture."""
    weights = {id(w) for w in source.weights}
    for mine, theirs in zip(into.variables, source.variables, strict=True):
        if id(theirs) not in weights:
            mine.assign(theirs)


def _program(model: keras.Model) -> str | None:
    """The key reuse() keeps model under (None: not kept)."""
    return next((key for key, kept in _PROGRAMS.items() if kept is model), None)


def _loop(model: keras.Model, task: Task, jit: bool, program: str | None) -> Callable:
    """compiled_loop(model), traced once per model kept by reuse() (under key `program`)."""
    if program is None:
        return compiled_loop(model, task, jit)
    key = (id(model), jit)
    if key not in _LOOPS:
        _LOOPS[key] = compiled_loop(model, task, jit)
    return _LOOPS[key]


def compiled_loop(model: keras.Model, task: Task, jit: bool = True) -> Callable:
    """``run(xs, ys, n, lrs=None) -> (losses, accs)``: n optimizer steps, step i on batch
    (xs[i], ys[i]) at learning rate lrs[i] (None: the optimizer's own), in one XLA program.
    xs may be padded past n, so that every chunk has the same shape and the loop compiles once.
    jit=False: the same loop as a plain TensorFlow graph (XLA's
    compilation of it costs ~220 MiB of peak memory for a BiLSTM(50); the graph runs it at
    about a third of XLA's speed)."""
    loss_fn = model.loss  # as compiled: the task's (and model.loss's)
    optimizer = model.optimizer
    variables = model.trainable_variables
    # Slot variables must exist before tracing: a tf.function may not create variables on
    # its second trace.
    optimizer.build(variables)

    def step(x, y, lr):
        if lr is not None:
            optimizer.learning_rate.assign(lr)
        with tf.GradientTape() as tape:
            p = model(x, training=True)
            loss = loss_fn(y, p)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss, accuracy(task, x, y, p)

    # No AutoGraph: the loop is an explicit tf.while_loop and every branch here is on the
    # config, not on tensors (Keras' own layers are never converted). Converting it cost the
    # first trace of a process ~0.1 s (benchmarks/trace.py).
    @tf.function(jit_compile=jit, autograph=False)
    def run(xs, ys, n, lrs=None):
        def body(i, losses, accs):
            lr = None if lrs is None else tf.gather(lrs, i)
            loss, acc = step(tf.gather(xs, i), tf.gather(ys, i), lr)
            at = tf.reshape(i, (1, 1))
            return (
                i + 1,
                tf.tensor_scatter_nd_update(losses, at, tf.reshape(loss, (1,))),
                tf.tensor_scatter_nd_update(accs, at, tf.reshape(acc, (1,))),
            )

        zeros = tf.zeros(tf.shape(xs)[:1], tf.float32)
        _, losses, accs = tf.while_loop(lambda i, *_: i < n, body, (tf.constant(0), zeros, zeros))
        return losses, accs

    return run


def _pad(a: np.ndarray, size: int) -> np.ndarray:
    if len(a) == size:
        return a
    return np.concatenate([a, np.zeros((size - len(a), *a.shape[1:]), a.dtype)])


def _cut(
    chunks: Iterator[tuple[np.ndarray, np.ndarray, dict[str, Any]]],
    every: int,
    limit: int | None = None,
    done: int = 0,
) -> Iterator[tuple[np.ndarray, np.ndarray, dict[str, Any] | None]]:
    """The same steps, cut so that a piece ends at every multiple of `every` (0: uncut), and
    ending after `limit` steps (None: all); done: steps before the first chunk. A chunk's
    position comes with its last piece only (None with the others): only there can a
    checkpoint continue the stream."""
    for xs, ys, position in chunks:
        if limit is not None:
            if done >= limit:
                return
            if done + len(xs) > limit:
                xs, ys, position = xs[: limit - done], ys[: limit - done], None
        while len(xs):
            take = len(xs) if not every else min(len(xs), every - done % every)
            last = take == len(xs)
            yield xs[:take], ys[:take], position if last else None
            xs, ys = xs[take:], ys[take:]
            done += take


def train(
    model: keras.Model,
    task: Task,
    cfg: OnlineConfig | BulkConfig,
    data: Dataset,
    rng: np.random.Generator,
    on_steps: StepsCallback | None = None,
    validate: Validate | None = None,
    every: int = 0,
    stop: Callable[[], None] | None = None,
    save: Callable[[Checkpoint], None] | None = None,
    resume: Checkpoint | None = None,
    loop: Callable | None = None,
) -> Training:
    """Train model under the schedule cfg on data's training stream or split. With validate
    and every > 0: validate after every `every` steps and at the end, and stop early as
    cfg.early_stopping says. stop: called after every piece of training; raises to end it.
    save: given a checkpoint every cfg.checkpoint_every steps (at the next chunk end) and when
    stop raises at a chunk end. resume: a checkpoint to continue from (rng seeded as at first:
    a generator's bulk training set is drawn from it before the stream's state is restored).
    loop: the compiled loop to run the chunks with (a stack member's: stacks.Member.loop), in
    place of the model's own."""
    every = every if validate is not None else 0
    stopper = EarlyStopping(cfg.early_stopping) if every and cfg.early_stopping.patience else None
    program = _program(model)
    run = (loop or _loop(model, task, cfg.jit, program)) if cfg.fast else None
    compiled: set[tuple[int, ...]] = set()
    # The rate the model was built (or reused) with: read before a checkpoint's optimizer
    # state, which holds the last step's rate, is put back.
    base = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    size = len(data.train) if data.train is not None else data.samples
    rates = LearningRates(cfg, base, planned_steps(cfg, size))
    under = _TrainingState(Training(np.zeros(0), np.zeros(0), 0.0, 0.0), stopper, rates)
    result, widths, losses, accs = under.result, under.widths, under.losses, under.accs
    if resume is not None:
        _restore(resume, under, model)
    step = under.step
    if isinstance(cfg, OnlineConfig):
        if resume is not None:
            rng.bit_generator.state = resume.rng
        chunks = online_chunks(data, cfg, rng, resume.position["next"] if resume else 0)
    else:
        at = None
        if resume is not None:
            at = {**resume.position, "rng": resume.rng}
            if resume.order is not None:
                at["order"] = resume.order
        chunks = bulk_chunks(data, cfg, rng, at)
    saved = step

    def checkpoint(position: dict[str, Any]) -> None:
        nonlocal saved
        under.step = step
        save(_capture(under, position, rng, model))
        saved = step

    for piece_xs, piece_ys, position in _cut(chunks, every, cfg.max_steps, step):
        shape = piece_xs.shape[1:]
        width = widths.setdefault(shape, len(piece_xs))
        for at in range(0, len(piece_xs), width):
            xs, ys = piece_xs[at : at + width], piece_ys[at : at + width]
            n = len(xs)
            lrs = rates.rates(step, n)
            if run is not None:
                if shape not in compiled:
                    compiled.add(shape)
                    # A zero-step call traces and compiles without touching the weights, so
                    # the compilation is timed apart from training.
                    t0 = time.perf_counter()
                    # Named from the program, so a later process finds it in the XLA cache.
                    names = stable(f"{program}|{width}x{shape}") if program else nullcontext()
                    with names:
                        run(_pad(xs, width), _pad(ys, width), tf.constant(0), _pad(lrs, width))
                    result.compile_seconds += _seconds(run, t0)
                t0 = time.perf_counter()
                out = run(_pad(xs, width), _pad(ys, width), tf.constant(n), _pad(lrs, width))
                chunk_losses, chunk_accs = (a.numpy()[:n] for a in out)
            else:
                t0 = time.perf_counter()
                chunk_losses, chunk_accs = _plain_steps(model, xs, ys, lrs, task)
            result.seconds += _seconds(run, t0)
            losses.append(chunk_losses)
            accs.append(chunk_accs)
            rates.trained(chunk_losses)
            if on_steps is not None:
                on_steps(step, chunk_losses, chunk_accs, lrs)
            bad = np.flatnonzero(~np.isfinite(chunk_losses))
            if bad.size:
                at_step = step + int(bad[0])
                raise TrainingDiverged(f"train_loss is {chunk_losses[bad[0]]} at step {at_step}")
            step += n
        if _ends_epoch(cfg, position):
            rates.epoch_ended()
        if every and step % every == 0 and _validate(under, validate, step, model):
            result.stopped_early = True
            break
        checkpointing = save is not None and position is not None
        if checkpointing and step - saved >= cfg.checkpoint_every:
            checkpoint(position)
        if stop is not None:
            try:
                stop()
            except KeyboardInterrupt:
                if checkpointing and step > saved:
                    checkpoint(position)
                raise
    else:
        if every and step % every:
            _validate(under, validate, step, model)
    if stopper is not None:
        stopper.restore(model)
        result.best_step, result.best_value = stopper.best_step, stopper.best
    result.losses, result.accs = np.concatenate(losses), np.concatenate(accs)
    return result


def _seconds(run: Callable | None, t0: float) -> float:
    """The time of the chunk just run: since t0, or a stack member's share of its stack's
    program (the loop says; stacks.Member)."""
    share = getattr(run, "seconds", None)
    return time.perf_counter() - t0 if share is None else share


def _capture(
    under: _TrainingState, position: dict[str, Any], rng: np.random.Generator, model: keras.Model
) -> Checkpoint:
    stopper = under.stopper
    return Checkpoint(
        step=under.step,
        position={k: v for k, v in position.items() if k != "order"},
        rng=rng.bit_generator.state,
        widths=[(list(shape), width) for shape, width in under.widths.items()],
        losses=np.concatenate(under.losses),
        accs=np.concatenate(under.accs),
        validations=list(under.result.validations),
        variables=[keras.ops.convert_to_numpy(v) for v in model.variables],
        optimizer=[keras.ops.convert_to_numpy(v) for v in model.optimizer.variables],
        order=position.get("order"),
        stopper={} if stopper is None else stopper.state(),
        best_weights=None if stopper is None else stopper.weights,
        rates=under.rates.state(),
    )


def _restore(ckpt: Checkpoint, under: _TrainingState, model: keras.Model) -> None:
    """Put a checkpoint's state back (the data stream's is the chunk generators' part)."""
    model.optimizer.build(model.trainable_variables)  # its variables exist on the plain path too
    for mine, saved in zip(model.variables, ckpt.variables, strict=True):
        mine.assign(saved)
    for mine, saved in zip(model.optimizer.variables, ckpt.optimizer, strict=True):
        mine.assign(saved)
    under.step = ckpt.step
    under.widths.update({tuple(shape): width for shape, width in ckpt.widths})
    under.losses.append(ckpt.losses)
    under.accs.append(ckpt.accs)
    under.result.validations = list(ckpt.validations)
    if under.stopper is not None and ckpt.stopper:
        under.stopper.load(ckpt.stopper, ckpt.best_weights)
    under.rates.load(ckpt.rates)


def _ends_epoch(cfg: OnlineConfig | BulkConfig, position: dict[str, Any] | None) -> bool:
    """Whether a piece ends an epoch of a bulk schedule: its position (given with a chunk's
    last piece) starts the next epoch, with no order drawn for it yet."""
    return (
        isinstance(cfg, BulkConfig)
        and position is not None
        and position.get("start") == 0
        and "order" not in position
    )


def _validate(under: _TrainingState, validate: Validate, step: int, model: keras.Model) -> bool:
    """Validate after `step` steps; True when early stopping says stop."""
    metrics = validate(step)
    under.result.validations.append((step, metrics))
    under.rates.validated(metrics)
    stopper = under.stopper
    return stopper is not None and stopper.update(step, metrics, model)


def _plain_steps(model: keras.Model, xs: np.ndarray, ys: np.ndarray, lrs: np.ndarray,
                 task: Task | None = None) -> Chunk:  # fmt: skip
    logs, rmses = [], []
    for x, y, lr in zip(xs, ys, lrs, strict=True):
        model.optimizer.learning_rate.assign(lr)
        if task is not None and task.regression:
            # Keras' RMSE metric weighs a masked batch's padded steps its own way: the batch
            # RMSE over real steps, as the compiled loop computes it, from the outputs before
            # the step (inference mode: equal without dropout and batch norm).
            rmses.append(float(accuracy(task, x, y, model(x, training=False))))
        logs.append(model.train_on_batch(x, y, return_dict=True))
    return (
        np.array([log["loss"] for log in logs], np.float32),
        np.array(rmses or [log["accuracy"] for log in logs], np.float32),
    )
