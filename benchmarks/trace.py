"""What tracing lstmlab's compiled training loop costs, with and without AutoGraph.

lstmlab traces its loop with autograph=False (schedules.compiled_loop). This times tracing
alone (get_concrete_function: no XLA compilation, no step run) of that loop, and of the same
Python function traced with AutoGraph, each in fresh processes, alternately: the first trace
of a process (AutoGraph converts a function's code once per process) and a second one, on a
new model of the same config. Prints the median of each:

    .venv/bin/python benchmarks/trace.py                     # BiLSTM(20) on cumsum, 10 steps
    .venv/bin/python benchmarks/trace.py --units 50 --repeats 5
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

VARIANTS = {"lstmlab": "without AutoGraph (lstmlab)", "autograph": "with AutoGraph"}


def trace(variant: str, units: int, timesteps: int) -> list[float]:
    """Seconds of two traces, in this process, of the loop of two fresh models."""
    import tensorflow as tf

    from lstmlab.config import CumsumConfig, ModelConfig
    from lstmlab.data import cumsum, generated
    from lstmlab.models.recurrent import build_model
    from lstmlab.training.loops import compiled_loop

    data_cfg = CumsumConfig(timesteps=timesteps)
    data = generated.build(data_cfg, cumsum.task(data_cfg), cumsum.sampler(data_cfg),
                           np.random.default_rng(0), 10, None)  # fmt: skip
    xs = np.zeros((250, 1, timesteps, 1), np.float32)
    ys = np.zeros((250, 1, timesteps), np.float32)
    seconds = []
    for _ in range(2):
        run = compiled_loop(build_model(ModelConfig(units=units), data.task), data.task)
        if variant == "autograph":
            run = tf.function(run.python_function, jit_compile=True, autograph=True)
        gc.collect()  # the earlier model's garbage is not this trace's cost
        t0 = time.perf_counter()
        run.get_concrete_function(xs, ys, tf.constant(250))
        seconds.append(time.perf_counter() - t0)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=20)
    parser.add_argument("--timesteps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # one process
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(trace(args.variant, args.units, args.timesteps)))
        return
    found: dict[str, list[list[float]]] = {v: [] for v in VARIANTS}
    for _ in range(args.repeats):
        for variant in VARIANTS:
            out = subprocess.run(
                [sys.executable, __file__, "--variant", variant, "--units", str(args.units),
                 "--timesteps", str(args.timesteps)],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            found[variant].append(json.loads(out.strip().splitlines()[-1]))
    print(f"tracing the training loop of a BiLSTM({args.units}), {args.timesteps} timesteps, "
          f"median of {args.repeats} processes each:")  # fmt: skip
    for variant, runs in found.items():
        first = statistics.median(r[0] for r in runs)
        second = statistics.median(r[1] for r in runs)
        print(f"  {VARIANTS[variant]:28s} first trace {first:.2f} s, second {second:.2f} s")


if __name__ == "__main__":
    main()
