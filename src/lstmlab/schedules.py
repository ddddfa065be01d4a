"""Training schedules: online (one Adam step per fresh sequence) and bulk (minibatch epochs).

Both schedules reduce to the same thing: a stream of chunks, each a stack of batches of shape
(steps, batch, ...), and one optimizer step per batch. The fast path runs a whole chunk inside
one XLA-compiled ``tf.while_loop``; calling ``model.fit`` once per sequence, as the tutorials do,
spends almost all of its time in per-call overhead. The plain path (``schedule.fast=false``)
calls Keras' ``train_on_batch`` once per step on the same batches, in the same order.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from lstmlab.config import BulkConfig, OnlineConfig
from lstmlab.models import accuracy, loss_for
from lstmlab.problems import Problem

# Called after every chunk with the index of its first step and its per-step loss and accuracy.
StepsCallback = Callable[[int, np.ndarray, np.ndarray], None]
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

    @property
    def steps(self) -> int:
        return len(self.losses)


def online_chunks(problem: Problem, cfg: OnlineConfig, rng: np.random.Generator) -> Iterator[Chunk]:
    """cfg.epochs batches of cfg.batch_size fresh sequences, cfg.chunk steps at a time."""
    size = cfg.batch_size
    for start in range(0, cfg.epochs, cfg.chunk):
        steps = min(cfg.chunk, cfg.epochs - start)
        x, y = problem.sample(rng, steps * size)
        yield x.reshape(steps, size, *x.shape[1:]), y.reshape(steps, size, *y.shape[1:])


def bulk_chunks(
    problem: Problem, cfg: BulkConfig, samples: int, rng: np.random.Generator
) -> Iterator[Chunk]:
    """samples sequences drawn once, reshuffled every epoch, as batches of cfg.batch_size; the
    last, smaller batch of an epoch (as in model.fit) comes as a chunk of its own."""
    x, y = problem.sample(rng, samples)
    size = cfg.batch_size
    full = samples // size
    for _ in range(cfg.epochs):
        order = rng.permutation(samples)
        for start in range(0, full, cfg.chunk):
            steps = min(cfg.chunk, full - start)
            idx = order[start * size : (start + steps) * size]
            yield (
                x[idx].reshape(steps, size, *x.shape[1:]),
                y[idx].reshape(steps, size, *y.shape[1:]),
            )
        if full * size < samples:
            idx = order[full * size :]
            yield x[idx][None], y[idx][None]


def planned_steps(cfg: OnlineConfig | BulkConfig, samples: int) -> int:
    if isinstance(cfg, OnlineConfig):
        return cfg.epochs
    return cfg.epochs * math.ceil(samples / cfg.batch_size)


def compiled_loop(model: keras.Model, problem: Problem, jit: bool = True) -> Callable:
    """``run(xs, ys, n) -> (losses, accs)``: n optimizer steps, step i on batch (xs[i], ys[i]),
    in one XLA program. xs may be padded past n, so that every chunk has the same shape and
    the loop compiles once. jit=False: the same loop as a plain TensorFlow graph (XLA's
    compilation of it costs ~220 MiB of peak memory for a BiLSTM(50); the graph runs it at
    about a third of XLA's speed)."""
    loss_fn = loss_for(problem)
    optimizer = model.optimizer
    variables = model.trainable_variables
    # Slot variables must exist before tracing: a tf.function may not create variables on
    # its second trace.
    optimizer.build(variables)

    def step(x, y):
        with tf.GradientTape() as tape:
            p = model(x, training=True)
            loss = loss_fn(y, p)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss, accuracy(problem, y, p)

    @tf.function(jit_compile=jit)
    def run(xs, ys, n):
        def body(i, losses, accs):
            loss, acc = step(tf.gather(xs, i), tf.gather(ys, i))
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


def train(
    model: keras.Model,
    problem: Problem,
    cfg: OnlineConfig | BulkConfig,
    samples: int,
    rng: np.random.Generator,
    on_steps: StepsCallback | None = None,
) -> Training:
    """Train model under the schedule cfg; samples is dataset.samples (bulk only)."""
    if isinstance(cfg, OnlineConfig):
        chunks = online_chunks(problem, cfg, rng)
    else:
        chunks = bulk_chunks(problem, cfg, samples, rng)
    run = compiled_loop(model, problem, cfg.jit) if cfg.fast else None
    # Chunk length per batch shape: later chunks are padded to the first one's length, so a
    # shape compiles once (the first chunk of a shape is its longest).
    widths: dict[tuple[int, ...], int] = {}
    losses: list[np.ndarray] = []
    accs: list[np.ndarray] = []
    seconds = compile_seconds = 0.0
    step = 0
    for xs, ys in chunks:
        n = len(xs)
        if run is not None:
            shape = xs.shape[1:]
            if shape not in widths:
                widths[shape] = n
                # A zero-step call traces and compiles without touching the weights, so the
                # compilation is timed apart from training.
                t0 = time.perf_counter()
                run(xs, ys, tf.constant(0))
                compile_seconds += time.perf_counter() - t0
            xs, ys = _pad(xs, widths[shape]), _pad(ys, widths[shape])
            t0 = time.perf_counter()
            chunk_losses, chunk_accs = (a.numpy()[:n] for a in run(xs, ys, tf.constant(n)))
        else:
            t0 = time.perf_counter()
            chunk_losses, chunk_accs = _plain_steps(model, xs, ys)
        seconds += time.perf_counter() - t0
        losses.append(chunk_losses)
        accs.append(chunk_accs)
        if on_steps is not None:
            on_steps(step, chunk_losses, chunk_accs)
        bad = np.flatnonzero(~np.isfinite(chunk_losses))
        if bad.size:
            at = step + int(bad[0])
            raise TrainingDiverged(f"train_loss is {chunk_losses[bad[0]]} at step {at}")
        step += n
    return Training(np.concatenate(losses), np.concatenate(accs), seconds, compile_seconds)


def _plain_steps(model: keras.Model, xs: np.ndarray, ys: np.ndarray) -> Chunk:
    logs = [model.train_on_batch(x, y, return_dict=True) for x, y in zip(xs, ys, strict=True)]
    return (
        np.array([log["loss"] for log in logs], np.float32),
        np.array([log["accuracy"] for log in logs], np.float32),
    )
