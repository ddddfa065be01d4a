"""Seeds stacked in one program (issue 26): training steps/s of K BiLSTM(20) seeds stepped
together by ``lstmlab.training.stacks.Stack``, against one seed in lstmlab's compiled loop
(``loops.compiled_loop``, as a run trains today).

The models are lstmlab's own (``build_model``) for the default run's shapes: online cumsum
batches, batch 1, 10 steps, 1 feature, per-timestep labels. Each program runs one chunk of
``--steps`` steps after a zero-step call that compiles it.

Explored before the stack was built (12-07, same shapes): the K seeds side by side as one wide
network with block-diagonal kernels stepped at 0.98x one seed's seed-steps/s (the wide
products cost what the K small ones saved); Keras 3's ``stateless_call`` vectorised with
``tf.vectorized_map`` compiles under XLA only with the recurrent loop unrolled, and then gave
1.4x at K=10 (without a padding mask). Run:

    .venv/bin/python benchmarks/stacks.py
    .venv/bin/python benchmarks/stacks.py --stacks 1 10 --steps 2000 --repeats 3 --json
    .venv/bin/python benchmarks/stacks.py --shape japanese-vowels --stacks 1 5 --steps 200
    .venv/bin/python benchmarks/stacks.py --dropout 0.2 --stacks 1 10   # dropout's masks too
    .venv/bin/python benchmarks/stacks.py --no-jit   # TensorFlow's graph mode, not XLA
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from lstmlab.config import Direction, ModelConfig  # noqa: E402
from lstmlab.data import Task  # noqa: E402
from lstmlab.models import build_model  # noqa: E402
from lstmlab.training.loops import compiled_loop  # noqa: E402
from lstmlab.training.stacks import Stack  # noqa: E402

# name -> (units, timesteps, features, batch, classes, per timestep, padded)
SHAPES = {
    # The default run's: online cumsum, batch 1, per-timestep labels.
    "cumsum": (20, 10, 1, 1, 2, True, False),
    # compare_cells': JapaneseVowels' padded series, batches of 16, nine classes.
    "japanese-vowels": (32, 29, 12, 16, 9, False, True),
}


@dataclass
class Shape:
    units: int
    timesteps: int
    features: int
    batch: int
    classes: int
    per_timestep: bool
    padded: bool

    @property
    def task(self) -> Task:
        return Task("bench", timesteps=self.timesteps, features=self.features,
                    classes=self.classes, per_timestep=self.per_timestep,
                    masked=self.padded)  # fmt: skip


def models(shape: Shape, k: int, dropout: float = 0.0) -> list[keras.Model]:
    cfg = ModelConfig(units=shape.units, direction=Direction.bidirectional, dropout=dropout)
    out = []
    for seed in range(k):
        keras.utils.set_random_seed(seed)
        out.append(build_model(cfg, shape.task, seed))
    return out


def batches(shape: Shape, steps: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(steps, k, batch, T, F) inputs and their targets: the cumulative-sum problem (seed 001)
    for cumsum; random series padded after step 20, random classes, for the padded shape."""
    rng = np.random.default_rng(0)
    size = (steps, k, shape.batch, shape.timesteps, shape.features)
    if not shape.padded:
        x = rng.random(size).astype(np.float32)
        y = (np.cumsum(x, axis=3) > shape.timesteps / 4.0).astype(np.float32)
        return x, y
    x = rng.normal(size=size).astype(np.float32)
    x[:, :, :, 20:] = 0.0
    return x, shape.task.targets(rng.integers(0, shape.classes, size[:3]))


def timed(call, zero, full) -> tuple[float, float]:
    """(compile seconds, steps/s): call(*zero) compiles, call(*full) runs the chunk."""
    t0 = time.perf_counter()
    call(*zero)
    compiled = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = call(*full)
    np.asarray(out[0])
    return compiled, len(full[0]) / (time.perf_counter() - t0)


def one_seed(shape: Shape, steps: int, dropout: float, jit: bool = True) -> tuple[float, float]:
    (model,) = models(shape, 1, dropout)
    xs, ys = batches(shape, steps, 1)
    lrs = np.full(steps, 0.001, np.float32)
    run = compiled_loop(model, shape.task, jit=jit)
    x, y = xs[:, 0], ys[:, 0]
    return timed(run, (x, y, np.int32(0), lrs), (x, y, np.int32(steps), lrs))


def stacked(shape: Shape, k: int, steps: int, dropout: float,
            jit: bool = True) -> tuple[float, float]:  # fmt: skip
    stack = Stack(models(shape, k, dropout), shape.task, jit)
    xs, ys = batches(shape, steps, k)
    lrs = np.full((steps, k), 0.001, np.float32)
    return timed(stack.run, (xs, ys, [0] * k, lrs), (xs, ys, [steps] * k, lrs))


def measure(name: str, stacks: list[int], steps: int, repeats: int, dropout: float = 0.0,
            jit: bool = True) -> dict:  # fmt: skip
    shape = Shape(*SHAPES[name])
    one = [one_seed(shape, steps, dropout, jit) for _ in range(repeats)]
    base = statistics.median(s for _, s in one)
    rows = [{"program": "one seed (compiled loop)", "seeds": 1,
             "compile_s": statistics.median(c for c, _ in one), "steps_per_s": base}]  # fmt: skip
    for k in stacks:
        seen = [stacked(shape, k, steps, dropout, jit) for _ in range(repeats)]
        rows.append({"program": "stack", "seeds": k,
                     "compile_s": statistics.median(c for c, _ in seen),
                     "steps_per_s": statistics.median(s for _, s in seen)})  # fmt: skip
    for row in rows:
        row["seed_steps_per_s"] = row["steps_per_s"] * row["seeds"]
        row["vs_one_seed"] = row["seed_steps_per_s"] / base
    return {"shape": name, "units": shape.units, "batch": shape.batch, "steps": steps,
            "repeats": repeats, "cpus": os.cpu_count(), "dropout": dropout, "jit": jit,
            "rows": rows}  # fmt: skip


def table(result: dict) -> str:
    lines = [
        f"BiLSTM({result['units']})"
        + (f" with dropout {result['dropout']:g}" if result.get("dropout") else "")
        + f" on {result['shape']} batches of {result['batch']}, "
        + ("" if result.get("jit", True) else "graph mode (no XLA), ")
        + f"{result['steps']} steps a chunk, "
        f"{result['cpus']} CPUs, median of {result['repeats']}",
        "",
        "| program | seeds | compile s | steps/s | seed-steps/s | vs one seed |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['program']} | {r['seeds']} | {r['compile_s']:.2f} | {r['steps_per_s']:,.0f} "
            f"| {r['seed_steps_per_s']:,.0f} | {r['vs_one_seed']:.2f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stacks", type=int, nargs="+", default=[1, 2, 5, 10])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--shape", choices=list(SHAPES), default="cumsum")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--dropout", type=float, default=0.0, help="the models' model.dropout")
    parser.add_argument("--no-jit", dest="jit", action="store_false",
                        help="TensorFlow's graph mode (one graph whatever K), not XLA")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="and the result as JSON, last line")
    args = parser.parse_args()
    result = measure(args.shape, args.stacks, args.steps, args.repeats, args.dropout, args.jit)
    print(table(result))
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
