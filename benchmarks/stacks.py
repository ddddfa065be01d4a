"""Seeds stacked in one program (issue 26), measured before it is built: training steps/s of K
BiLSTM(20) seeds stepped together in one XLA program, against one seed alone.

Three programs, each an XLA-compiled ``tf.while_loop`` over the steps of a chunk, online
cumsum batches (the default run's shapes: batch 1, 10 steps, 1 feature, per-timestep labels):

- ``keras``: one seed, lstmlab's own compiled loop (``schedules.compiled_loop``) on the Keras
  model, as a run trains today;
- ``stacked``: every weight with a leading seed axis; the gates of all K seeds in one batched
  product (``einsum('kbf,kfg->kbg')``); one Adam over the stacked variables (Adam is
  elementwise, and the loss is the sum of the seeds' losses, so seed k's update is exactly its
  own);
- ``blockdiag``: the K seeds side by side as one wide network, every kernel block-diagonal
  over the seeds (one large matrix product per gate computation instead of K small ones; the
  off-diagonal blocks' gradients zeroed, so Adam leaves them at zero);
- ``vmap``: Keras 3's ``model.stateless_call`` vectorised over the seed axis with
  ``tf.vectorized_map`` (the gradient taken through the vectorised call), as a plain graph:
  XLA cannot compile it.

It also checks that the stack computes what each seed computes alone: seed k of a K-stack
against a 1-stack of seed k (same initial weights, same batches), and the 1-stack against the
Keras model in lstmlab's loop.

Measured 2026-12-07 (2 cores, `--stacks 1 10 --steps 1000 --no-vmap`): one Keras seed 11,598
steps/s; stacked K=10 2,004 steps/s (1.73x one seed's seed-steps/s; 2.55x on 11-30); blockdiag
K=10 1,132 steps/s (0.98x): the wide products cost what the K small ones saved. A 10-seed step
takes 5.8x one seed's: at batch 1 the stack's cost grows with K almost linearly on XLA's CPU
backend, so the issue's 5x needs the per-step cost profiled first (which ops grow with K).
Run:

    .venv/bin/python benchmarks/stacks.py
    .venv/bin/python benchmarks/stacks.py --stacks 1 10 --steps 2000 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

UNITS, TIMESTEPS, FEATURES, BATCH = 20, 10, 1, 1


def cumsum_batches(rng: np.random.Generator, steps: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(steps, k, batch, T, 1) inputs and labels: the cumulative-sum problem (seed 001)."""
    x = rng.random((steps, k, BATCH, TIMESTEPS, FEATURES)).astype(np.float32)
    y = (np.cumsum(x, axis=3) > TIMESTEPS / 4.0).astype(np.float32)
    return x, y


def keras_model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((TIMESTEPS, FEATURES))
    h = keras.layers.Bidirectional(keras.layers.LSTM(UNITS, return_sequences=True))(inputs)
    outputs = keras.layers.Dense(1, activation="sigmoid")(h)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(0.001), loss=keras.losses.BinaryCrossentropy(),
                  metrics=["accuracy"])  # fmt: skip
    return model


def stacked_weights(models: list[keras.Model]) -> list[tf.Variable]:
    """The K models' weights with a leading seed axis: forward kernel, recurrent, bias,
    backward kernel, recurrent, bias, dense kernel, bias (Keras' order)."""
    per_model = [m.get_weights() for m in models]
    return [tf.Variable(np.stack(ws)) for ws in zip(*per_model, strict=True)]


def _direction(x, kernel, recurrent, bias, reverse: bool):
    """One LSTM direction over (K, B, T, F), Keras' gate order (i, f, c, o), outputs in input
    order."""
    k, b = tf.shape(x)[0], tf.shape(x)[1]
    h = tf.zeros((k, b, UNITS))
    c = tf.zeros((k, b, UNITS))
    outputs = []
    steps = range(TIMESTEPS - 1, -1, -1) if reverse else range(TIMESTEPS)
    for t in steps:
        z = (tf.einsum("kbf,kfg->kbg", x[:, :, t], kernel)
             + tf.einsum("kbu,kug->kbg", h, recurrent) + bias[:, None, :])  # fmt: skip
        i, f, g, o = tf.split(z, 4, axis=-1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        h = tf.sigmoid(o) * tf.tanh(c)
        outputs.append(h)
    if reverse:
        outputs.reverse()
    return tf.stack(outputs, axis=2)


def stacked_forward(weights, x):
    fk, fr, fb, bk, br, bb, dk, db = weights
    h = tf.concat([_direction(x, fk, fr, fb, False), _direction(x, bk, br, bb, True)], -1)
    return tf.sigmoid(tf.einsum("kbtu,kuo->kbto", h, dk) + db[:, None, None, :])


def stacked_loop(weights: list[tf.Variable], forward=None, masks=None):
    """The XLA loop over a chunk's steps of a stack: forward(weights, x) -> (K, B, T, 1)
    (stacked_forward by default); masks, when given, multiply the gradients (blockdiag's
    off-diagonal zeros)."""
    forward = forward or stacked_forward
    optimizer = keras.optimizers.Adam(0.001)
    optimizer.build(weights)

    @tf.function(jit_compile=True, autograph=False)
    def run(xs, ys, n):
        def body(i, losses):
            x, y = tf.gather(xs, i), tf.gather(ys, i)
            with tf.GradientTape() as tape:
                p = tf.clip_by_value(forward(weights, x), 1e-7, 1 - 1e-7)
                per_seed = -tf.reduce_mean(y * tf.math.log(p) + (1 - y) * tf.math.log(1 - p),
                                           axis=[1, 2, 3])  # fmt: skip
                loss = tf.reduce_sum(per_seed)
            grads = tape.gradient(loss, weights)
            if masks is not None:
                grads = [g * m for g, m in zip(grads, masks, strict=True)]
            optimizer.apply_gradients(zip(grads, weights, strict=True))
            at = tf.reshape(i, (1, 1))
            return i + 1, tf.tensor_scatter_nd_update(losses, at, per_seed[None])

        zeros = tf.zeros((tf.shape(xs)[0], tf.shape(xs)[1]))
        _, losses = tf.while_loop(lambda i, _: i < n, body, (tf.constant(0), zeros))
        return losses

    return run


def _block_diagonal(blocks: np.ndarray) -> np.ndarray:
    """(K, rows, cols) per-seed kernels -> (K * rows, K * cols), seed k's block on the
    diagonal (its columns keep the seed's own gate order, i, f, c, o)."""
    k, rows, cols = blocks.shape
    out = np.zeros((k * rows, k * cols), blocks.dtype)
    for j in range(k):
        out[j * rows : (j + 1) * rows, j * cols : (j + 1) * cols] = blocks[j]
    return out


def blockdiag_weights(models: list[keras.Model]) -> tuple[list[tf.Variable], list[tf.Tensor]]:
    """The K seeds as one wide network: every kernel block-diagonal over the seeds (inputs,
    states and outputs side by side, seed after seed), biases concatenated; and the masks that
    keep the off-diagonal blocks at zero (their gradients are zeroed, and Adam leaves a weight
    whose gradients are all zero where it is)."""
    stacked = [np.stack(ws) for ws in zip(*(m.get_weights() for m in models), strict=True)]
    weights, masks = [], []
    for w in stacked:
        if w.ndim == 3:
            wide = _block_diagonal(w)
            weights.append(tf.Variable(wide))
            masks.append(tf.constant(_block_diagonal(np.ones_like(w))))
        else:
            weights.append(tf.Variable(w.reshape(-1)))
            masks.append(tf.ones(w.size))
    return weights, masks


def _wide_direction(x, kernel, recurrent, bias, k: int, reverse: bool):
    """One LSTM direction of K side-by-side seeds: x (B, T, K*F) -> (B, T, K*U)."""
    b = tf.shape(x)[0]
    h = tf.zeros((b, k * UNITS))
    c = tf.zeros((b, k * UNITS))
    projected = tf.einsum("btf,fg->btg", x, kernel) + bias
    outputs = []
    steps = range(TIMESTEPS - 1, -1, -1) if reverse else range(TIMESTEPS)
    for t in steps:
        z = tf.reshape(projected[:, t] + tf.matmul(h, recurrent), (b, k, 4, UNITS))
        i, f, g, o = tf.unstack(z, axis=2)
        c = tf.sigmoid(f) * tf.reshape(c, (b, k, UNITS)) + tf.sigmoid(i) * tf.tanh(g)
        h = tf.reshape(tf.sigmoid(o) * tf.tanh(c), (b, k * UNITS))
        c = tf.reshape(c, (b, k * UNITS))
        outputs.append(h)
    if reverse:
        outputs.reverse()
    return tf.stack(outputs, axis=1)


def blockdiag_forward(weights, x, k: int):
    """x (K, B, T, F) -> (K, B, T, 1)."""
    fk, fr, fb, bk, br, bb, dk, db = weights
    kb, b = tf.shape(x)[1], TIMESTEPS
    wide = tf.reshape(tf.transpose(x, (1, 2, 0, 3)), (kb, b, k * FEATURES))
    fw = _wide_direction(wide, fk, fr, fb, k, False)
    bw = _wide_direction(wide, bk, br, bb, k, True)
    # Keras' Bidirectional concatenates per seed: [forward_k, backward_k]; the dense kernel's
    # rows are seed after seed, each forward then backward.
    h = tf.concat([tf.reshape(fw, (kb, b, k, UNITS)), tf.reshape(bw, (kb, b, k, UNITS))], -1)
    out = tf.einsum("btg,go->bto", tf.reshape(h, (kb, b, k * 2 * UNITS)), dk) + db
    return tf.sigmoid(tf.transpose(out, (2, 0, 1))[..., None])


def blockdiag_loop(weights: list[tf.Variable], masks: list[tf.Tensor], k: int):
    return stacked_loop(weights, lambda w, x: blockdiag_forward(w, x, k), masks)


def vmap_loop(models: list[keras.Model]):
    """Keras 3's stateless call of one model, vectorised over the seeds' stacked weights. As a
    plain graph: XLA cannot compile it (measured: the vectorised recurrent loop keeps its
    per-step outputs in TensorLists of variants, "No registered 'TensorListReserve' OpKernel
    for XLA_CPU_JIT")."""
    model = models[0]
    weights = [tf.Variable(np.stack([m.get_weights()[i] for m in models]))
               for i in range(len(model.trainable_variables))]  # fmt: skip
    optimizer = keras.optimizers.Adam(0.001)
    optimizer.build(weights)
    loss_fn = keras.losses.BinaryCrossentropy()
    # The layers' seed states (dropout), shared: no dropout here.
    fixed = [v.value for v in model.non_trainable_variables]

    def one(args):
        params, x, y = args
        p, _ = model.stateless_call(list(params), fixed, x, training=True)
        return loss_fn(y, p)

    @tf.function(jit_compile=False, autograph=False)
    def run(xs, ys, n):
        def body(i, losses):
            x, y = tf.gather(xs, i), tf.gather(ys, i)
            with tf.GradientTape() as tape:
                per_seed = tf.vectorized_map(one, (tuple(weights), x, y))
                loss = tf.reduce_sum(per_seed)
            optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights, strict=True))
            at = tf.reshape(i, (1, 1))
            return i + 1, tf.tensor_scatter_nd_update(losses, at, per_seed[None])

        zeros = tf.zeros((tf.shape(xs)[0], tf.shape(xs)[1]))
        _, losses = tf.while_loop(lambda i, _: i < n, body, (tf.constant(0), zeros))
        return losses

    return run, weights


def timed(run, xs, ys) -> tuple[float, float]:
    """(compile seconds, steps/s) of a loop over the chunk xs, ys."""
    t0 = time.perf_counter()
    run(xs, ys, tf.constant(0))
    compiled = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = run(xs, ys, tf.constant(len(xs)))
    np.asarray(out[0] if isinstance(out, tuple) else out)
    return compiled, len(xs) / (time.perf_counter() - t0)


def keras_speed(steps: int) -> tuple[float, float]:
    from lstmlab.data import Task
    from lstmlab.training.loops import compiled_loop

    task = Task(name="cumsum", timesteps=TIMESTEPS, features=FEATURES, classes=2,
                per_timestep=True)  # fmt: skip
    model = keras_model(0)
    xs, ys = cumsum_batches(np.random.default_rng(0), steps, 1)
    return timed(compiled_loop(model, task), xs[:, 0], ys[:, 0])


def _diagonal(wide: np.ndarray, k: int, j: int) -> np.ndarray:
    """Seed j's block of a blockdiag weight (a kernel's diagonal block, a bias's slice)."""
    if wide.ndim == 1:
        return wide.reshape(k, -1)[j]
    rows, cols = wide.shape[0] // k, wide.shape[1] // k
    return wide[j * rows : (j + 1) * rows, j * cols : (j + 1) * cols]


def equivalence(steps: int, k: int) -> tuple[float, float, float]:
    """(max |seed j of a k-stack - seed j alone|, max |1-stack - Keras in lstmlab's loop|,
    max |seed j of a k-blockdiag - seed j of the k-stack|) over all weights after `steps`
    steps."""
    from lstmlab.data import Task
    from lstmlab.training.loops import compiled_loop

    models = [keras_model(s) for s in range(k)]
    xs, ys = cumsum_batches(np.random.default_rng(1), steps, k)
    together = stacked_weights(models)
    stacked_loop(together)(xs, ys, tf.constant(steps))
    worst = 0.0
    for j in range(k):
        alone = stacked_weights([models[j]])
        stacked_loop(alone)(xs[:, j : j + 1], ys[:, j : j + 1], tf.constant(steps))
        for a, b in zip(together, alone, strict=True):
            worst = max(worst, float(np.max(np.abs(a.numpy()[j] - b.numpy()[0]))))
    task = Task(name="cumsum", timesteps=TIMESTEPS, features=FEATURES, classes=2,
                per_timestep=True)  # fmt: skip
    compiled_loop(models[0], task)(xs[:, 0], ys[:, 0], tf.constant(steps))
    one = stacked_weights([keras_model(0)])
    stacked_loop(one)(xs[:, :1], ys[:, :1], tf.constant(steps))
    keras_gap = max(float(np.max(np.abs(a - b.numpy()[0])))
                    for a, b in zip(models[0].get_weights(), one, strict=True))  # fmt: skip
    wide, masks = blockdiag_weights([keras_model(s) for s in range(k)])
    blockdiag_loop(wide, masks, k)(xs, ys, tf.constant(steps))
    block_gap = max(float(np.max(np.abs(_diagonal(w.numpy(), k, j) - t.numpy()[j])))
                    for j in range(k) for w, t in zip(wide, together, strict=True))  # fmt: skip
    return worst, keras_gap, block_gap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stacks", type=int, nargs="+", default=[1, 2, 5, 10, 20])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-vmap", action="store_true")
    args = parser.parse_args()
    rows = []
    one = [keras_speed(args.steps) for _ in range(args.repeats)]
    base = statistics.median(s for _, s in one)
    rows.append(("keras (lstmlab's loop)", 1, statistics.median(c for c, _ in one), base))
    for name in ("stacked", "blockdiag", "vmap"):
        if name == "vmap" and args.no_vmap:
            continue
        for k in args.stacks:
            seen = []
            for _ in range(args.repeats):
                models = [keras_model(s) for s in range(k)]
                xs, ys = cumsum_batches(np.random.default_rng(0), args.steps, k)
                try:
                    if name == "stacked":
                        run = stacked_loop(stacked_weights(models))
                    elif name == "blockdiag":
                        run = blockdiag_loop(*blockdiag_weights(models), k)
                    else:
                        run = vmap_loop(models)[0]
                    seen.append(timed(run, xs, ys))
                except Exception as exc:  # a program TensorFlow cannot build: say which
                    print(f"{name} K={k}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
                    break
            if seen:
                rows.append((name, k, statistics.median(c for c, _ in seen),
                             statistics.median(s for _, s in seen)))  # fmt: skip
    print(
        f"\nBiLSTM({UNITS}) online cumsum, batch {BATCH}, {args.steps} steps a chunk, "
        f"{os.cpu_count()} CPUs, median of {args.repeats}\n"
    )
    print("| program | seeds | compile s | steps/s | seed-steps/s | vs one Keras seed |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, k, compiled, speed in rows:
        print(
            f"| {name} | {k} | {compiled:.2f} | {speed:,.0f} | {speed * k:,.0f} | "
            f"{speed * k / base:.2f}x |"
        )
    worst, gap, block = equivalence(min(args.steps, 300), 4)
    print(f"\nseed k of a 4-stack vs alone, 300 steps: max |weight difference| {worst:.2e}")
    print(f"1-stack vs the Keras model in lstmlab's loop: max |weight difference| {gap:.2e}")
    print(f"seed k of a 4-blockdiag vs of the 4-stack: max |weight difference| {block:.2e}")


if __name__ == "__main__":
    main()
