"""Unrolled against looped recurrent layers in lstmlab's compiled training loop.

Keras' ``unroll=True`` writes the time loop out step by step instead of a symbolic while loop;
its documentation says that can speed up short sequences. Measured here on lstmlab's XLA loop
(``schedules.compiled_loop``) for the tutorials' sequences (10 timesteps, one feature): each
setting in a fresh process, tracing + compilation and the steps/s of a chunk of steps apart,
the loss at the end printed to show both compute the same model.

    .venv/bin/python benchmarks/unroll.py
    .venv/bin/python benchmarks/unroll.py --units 50 --batch 10 --steps 3000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

ONE = """
import json, sys, time
unroll, (units, batch, steps) = sys.argv[1] == "1", map(int, sys.argv[2:5])
import keras, numpy as np, tensorflow as tf
from lstmlab.data import Task
from lstmlab.training.loops import compiled_loop
keras.utils.set_random_seed(0)
task = Task("cumsum", 10, 1, 2, True)
inputs = keras.Input((task.timesteps, 1))
lstm = keras.layers.LSTM(units, return_sequences=True, unroll=unroll)
outputs = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Bidirectional(lstm)(inputs))
model = keras.Model(inputs, outputs)
model.compile(optimizer=keras.optimizers.Adam(0.001), loss="binary_crossentropy")
run = compiled_loop(model, task, jit=True)
xs = np.random.default_rng(0).random((steps, batch, task.timesteps, 1), dtype=np.float32)
ys = (np.cumsum(xs, axis=2) > task.timesteps / 4).astype(np.float32)
t0 = time.perf_counter(); run(xs[:1], ys[:1], tf.constant(0)); t1 = time.perf_counter()
losses = run(xs, ys, tf.constant(steps))[0].numpy(); t2 = time.perf_counter()
print(json.dumps({"compile": t1 - t0, "steps_per_s": steps / (t2 - t1),
                  "loss": float(losses[-50:].mean())}))
"""


def measure(unroll: bool, units: int, batch: int, steps: int) -> dict:
    # No persistent XLA cache: the compile time is the compilation's own.
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_XLA_FLAGS": ""}
    out = subprocess.run(
        [sys.executable, "-c", ONE, str(int(unroll)), str(units), str(batch), str(steps)],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, nargs="+", default=[20, 50])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"BiLSTM on 10-step sequences, {args.steps} steps a run, median of {args.repeats} "
          f"fresh processes, {os.cpu_count()} CPUs\n")  # fmt: skip
    print("| units | batch | unroll | compile s | steps/s | loss of the last 50 steps |")
    print("| ---: | ---: | --- | ---: | ---: | ---: |")
    for units in args.units:
        for batch in args.batch:
            for unroll in (False, True):
                got = [measure(unroll, units, batch, args.steps) for _ in range(args.repeats)]
                print(
                    f"| {units} | {batch} | {unroll} | "
                    f"{statistics.median(g['compile'] for g in got):.2f} | "
                    f"{statistics.median(g['steps_per_s'] for g in got):,.0f} | "
                    f"{got[0]['loss']:.4f} |"
                )


if __name__ == "__main__":
    main()
