"""How fast LSTM-FCN's training step could be on this machine, against how fast it is.

Issue 24 asks lstmlab's loop to train LSTM-FCN on JapaneseVowels >= 3x faster than Keras'
``model.fit`` of the same network. Both run the same TensorFlow kernels; what bounds them is
the arithmetic. This prints, for the network ``bench.py``'s LSTM-FCN case builds (batches of
128, 29 steps, 12 features):

- the floating-point operations of one training step (forward, gradients, Adam), counted by
  TensorFlow's profiler on the traced step, with the recurrent layer unrolled so that its
  time loop is counted step by step (unrolled, it computes the same loss: printed);
- this machine's matrix-product rate (a 2048x2048 float32 product, best of --repeats), and
  each convolution's rate forward and backward at the network's shapes;
- full-batch steps/s of lstmlab's compiled loop (as a plain graph, as ``experiment=archive``
  runs it) and of ``model.fit``, each on the same batches;
- the ceiling: the steps/s at which a step's operations would all run at the product rate,
  and what multiple of fit's steps/s that is; and the same for fit timed as ``bench.py``
  times it (the whole training split, its last batch smaller, tracing included).

    .venv/bin/python benchmarks/roofline.py
    .venv/bin/python benchmarks/roofline.py --steps 60 --repeats 5
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def product_rate(tf, repeats: int, n: int = 2048) -> float:
    """GFLOP/s of an n x n float32 matrix product, the best of repeats."""
    a, b = tf.random.normal((n, n)), tf.random.normal((n, n))
    product = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))
    product(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        product(a, b).numpy()
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def convolution_rates(tf, model, batch: int, steps: int, repeats: int) -> list[tuple]:
    """(layer, GFLOP/s) of each Conv1D forward and backward (input and kernel gradients) at
    its shape in the network."""
    import keras

    rates = []
    for layer in model.layers:
        if not isinstance(layer, keras.layers.Conv1D):
            continue
        (k, c_in, c_out) = layer.kernel.shape
        x = tf.random.normal((batch, steps, c_in))
        w = tf.Variable(layer.kernel)

        @tf.function
        def both(x, w=w):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = tf.nn.conv1d(x, w, 1, "SAME")
                loss = tf.reduce_sum(y * y)
            return tape.gradient(loss, [x, w])

        both(x)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(5):
                out = both(x)
            [o.numpy() for o in out]
            best = min(best, (time.perf_counter() - t0) / 5)
        flops = 3 * 2 * batch * steps * c_in * c_out * k
        rates.append((f"{layer.name} {c_in}->{c_out} k{k}", flops / best / 1e9, flops))
    return rates


def counted_flops(tf, model, x, y) -> tuple[float, float]:
    """(FLOPs, loss) of one training step of model on (x, y), the recurrent layers unrolled
    for the count; the weights are put back afterwards."""
    import keras
    from tensorflow.python.profiler import model_analyzer, option_builder

    recurrent = [
        layer
        for layer in model._flatten_layers()
        if isinstance(layer, keras.layers.RNN) and not layer.unroll
    ]
    for layer in recurrent:
        layer.unroll = True
    saved = [v.numpy() for v in model.variables]
    loss_fn, optimizer = model.loss, keras.optimizers.Adam(1e-3)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    concrete = step.get_concrete_function(x, y)
    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    flops = model_analyzer.profile(concrete.graph, options=options).total_float_ops
    loss = float(step(x, y))
    for layer in recurrent:
        layer.unroll = False
    for v, value in zip(model.variables, saved, strict=True):
        v.assign(value)
    return float(flops), loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40, help="timed full-batch steps a loop")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20, help="epochs of the whole-split fit")
    args = parser.parse_args()

    from bench import LSTM_FCN
    from hydra import compose, initialize_config_dir

    from lstmlab.config import CONF_DIR, register_configs, to_settings
    from lstmlab.data import load
    from lstmlab.models import build_model

    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        settings = to_settings(compose("config", [*LSTM_FCN, "seed=0"]))
    data = load(settings)
    import keras
    import numpy as np
    import tensorflow as tf

    from lstmlab.training.loops import compiled_loop

    keras.utils.set_random_seed(0)
    model = build_model(settings.model, data.task)
    batch = settings.schedule.batch_size
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(data.train), (args.steps, batch))
    xs = data.train.x[picks]
    ys = np.asarray(data.task.targets(data.train.y))[picks]
    timesteps = xs.shape[2]

    flops, unrolled_loss = counted_flops(tf, model, tf.constant(xs[0]), tf.constant(ys[0]))
    peak = product_rate(tf, args.repeats)
    convs = convolution_rates(tf, model, batch, timesteps, args.repeats)

    start = [v.numpy() for v in model.variables]

    def restart():
        for v, value in zip(model.variables, start, strict=True):
            v.assign(value)

    run = compiled_loop(model, data.task, jit=False)
    run(tf.constant(xs), tf.constant(ys), tf.constant(1))  # traced at the timed shape
    lab, looped_loss = float("inf"), None
    for _ in range(args.repeats):
        restart()
        t0 = time.perf_counter()
        losses, _ = run(tf.constant(xs), tf.constant(ys), tf.constant(args.steps))
        looped_loss = float(losses.numpy()[0])
        lab = min(lab, time.perf_counter() - t0)

    x_fit, y_fit = xs.reshape(-1, *xs.shape[2:]), ys.reshape(-1, *ys.shape[2:])
    model.fit(x_fit[: 2 * batch], y_fit[: 2 * batch], batch_size=batch, epochs=1, verbose=0)
    fit = float("inf")
    for _ in range(args.repeats):
        restart()
        t0 = time.perf_counter()
        model.fit(x_fit, y_fit, batch_size=batch, epochs=1, verbose=0, shuffle=False)
        fit = min(fit, time.perf_counter() - t0)

    # As bench.py times fit: a new model, the whole training split (its last batch smaller),
    # epoch after epoch, its tracing included.
    keras.utils.set_random_seed(0)
    fresh = build_model(settings.model, data.task)
    targets = data.task.targets(data.train.y)
    t0 = time.perf_counter()
    fresh.fit(data.train.x, targets, batch_size=batch, epochs=args.epochs, verbose=0)
    fit_epochs = args.epochs / (time.perf_counter() - t0)
    epoch_flops = flops * len(data.train) / batch

    ceiling = peak * 1e9 / flops
    lab_rate, fit_rate = args.steps / lab, args.steps / fit
    print(f"LSTM-FCN ({model.name}) on JapaneseVowels' batches: {batch} x {timesteps} steps "
          f"x {xs.shape[3]} features; best of {args.repeats}, {args.steps} steps each")  # fmt: skip
    print(f"  one training step: {flops / 1e9:.2f} GFLOP (profiler, recurrent layer unrolled; "
          f"its loss {unrolled_loss:.6f}, the loop's {looped_loss:.6f})")  # fmt: skip
    print(f"  matrix product 2048x2048 float32: {peak:.0f} GFLOP/s")
    share = sum(f for *_, f in convs) / flops
    print(f"  convolutions, forward and backward ({share:.0%} of a step's operations):")
    for name, rate, _ in convs:
        print(f"    {name:<28} {rate:6.0f} GFLOP/s ({rate / peak:.0%} of the product's)")
    print(f"  {'':<24}{'steps/s':>9}{'GFLOP/s':>9}{'of peak':>9}{'x fit':>7}")
    for name, rate in (("model.fit", fit_rate), ("lstmlab graph loop", lab_rate),
                       ("ceiling (all at peak)", ceiling)):  # fmt: skip
        gflops = rate * flops / 1e9
        print(f"  {name:<24}{rate:9.1f}{gflops:9.0f}{gflops / peak:9.0%}{rate / fit_rate:7.2f}")
    need = 3 * fit_rate * flops / 1e9
    print(f"  3x fit needs {3 * fit_rate:.1f} steps/s: {need:.0f} GFLOP/s, "
          f"{need / peak:.0%} of the product rate for the whole step")  # fmt: skip
    top = peak * 1e9 / epoch_flops
    print(f"  as bench.py times fit ({len(data.train)} sequences an epoch, batches of {batch}, "
          f"{args.epochs} epochs, tracing included): {fit_epochs:.2f} epochs/s; all at peak "
          f"{top:.2f} epochs/s, {top / fit_epochs:.2f}x fit")  # fmt: skip


if __name__ == "__main__":
    main()
