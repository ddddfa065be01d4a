"""Where a sweep's time goes (issue 26, before stacks are built): each sweep of the issue's
goals run through the CLI into a fresh store, its wall time beside the sum over its jobs of
every phase a run logs (``time_*_s``: train, compile, eval, logging, data, import, overhead).

Stacking a configuration's seeds can save training time (the batched products of
``benchmarks/stacks.py``) and compile time (one program a stack instead of one a worker and
configuration); the rest of a job (composition, the model built, evaluation, the run's
figure and writes) it saves only if a stack also builds, evaluates and logs its seeds
together. The last column is the sweep's wall time were training and compiling free: the
most a training-only stack could reach.

    .venv/bin/python benchmarks/sweep_phases.py
    .venv/bin/python benchmarks/sweep_phases.py --sweeps default claim_merge_modes
    .venv/bin/python benchmarks/sweep_phases.py --set hydra.launcher.stack_seeds=1  # no stacks
    .venv/bin/python benchmarks/sweep_phases.py --sweeps default --set \
        hydra.launcher.stack_seeds=null --timeline   # each run's start and end

A stacked job's wall time also holds its siblings' turns: its runs log that part as
``time_stack_wait_s`` (the stack_wait column), apart from its own phases.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# name -> (the overrides, the goal on its wall time as the issue words it)
SWEEPS = {
    "default": (["-m", "seed=range(0,10)"], "10 seeds <= 1.5x the wall time of one"),
    "claim_merge_modes": (
        ["experiment=claim_merge_modes", "seed=range(0,10)", "hydra/launcher=joblib"],
        "<= 12 s",
    ),  # fmt: skip
    "compare_cells": (["experiment=compare_cells", "hydra/launcher=joblib"], "<= 25 s"),
}
PHASES = ("train", "compile", "eval", "logging", "data", "import", "stack_wait", "overhead")


def run(overrides: list[str], folder: Path) -> tuple[float, Path, float]:
    """The command's wall time, its store, and when it started (seconds since the epoch)."""
    store = folder / "m.db"
    started, t0 = time.time(), time.perf_counter()
    subprocess.run(
        [str(BIN / "lstmlab"), *overrides, f"tracking.uri=sqlite:///{store}"],
        cwd=folder, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return time.perf_counter() - t0, store, started


def timeline(store: Path, started: float) -> list[str]:
    """Every run of the store (a sweep's parent too), when it started and ended, in seconds
    from the command's start, as the store recorded them: where the wall time went."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{store}")
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = sorted(client.search_runs(ids, max_results=5000), key=lambda r: r.info.start_time)
    return [f"  {r.info.run_name:<24} {r.info.start_time / 1000 - started:6.2f} -> "
            f"{(r.info.end_time or 0) / 1000 - started:6.2f} s" for r in runs]  # fmt: skip


def job_runs(store: Path) -> list:
    """The store's job runs (those that trained: not a sweep's parent), as MLflow Runs."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{store}")
    ids = [e.experiment_id for e in client.search_experiments()]
    return [r for r in client.search_runs(ids, max_results=5000)
            if "time_train_s" in r.data.metrics]  # fmt: skip


def phases(store: Path) -> tuple[int, dict[str, float]]:
    runs = job_runs(store)
    return len(runs), {p: sum(r.data.metrics.get(f"time_{p}_s", 0.0) for r in runs)
                       for p in PHASES}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sweeps", nargs="+", default=list(SWEEPS), choices=list(SWEEPS))
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="overrides for every sweep (stack_seeds=1: no stacks)")  # fmt: skip
    parser.add_argument("--timeline", action="store_true",
                        help="and every run's start and end, from the command's start")  # fmt: skip
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    rows, lines = [], []
    with tempfile.TemporaryDirectory() as tmp:
        if "default" in args.sweeps:
            one, store, started = run([], Path(tmp))
            rows.append(("default, one run", 1, one, phases(store)[1], 1, ""))
            if args.timeline:
                lines += ["default, one run:", *timeline(store, started)]
        for name in args.sweeps:
            folder = Path(tmp) / name
            folder.mkdir()
            overrides, goal = SWEEPS[name]
            wall, store, started = run([*overrides, *args.set], folder)
            jobs, spent = phases(store)
            workers = 2 if "hydra/launcher=joblib" in overrides else 1
            rows.append((name, jobs, wall, spent, workers, goal))
            if args.timeline:
                lines += [f"{name} (wall {wall:.1f} s):", *timeline(store, started)]
    print(f"\n{os.cpu_count()} CPUs; seconds, summed over a sweep's jobs\n")
    print("| sweep | jobs | wall | " + " | ".join(PHASES)
          + " | wall were train and compile free | goal |")  # fmt: skip
    print("| --- | ---: | ---: | " + " | ".join("---:" for _ in PHASES) + " | ---: | --- |")
    for name, jobs, wall, spent, workers, goal in rows:
        free = wall - (spent["train"] + spent["compile"]) / workers
        cells = " | ".join(f"{spent[p]:.2f}" for p in PHASES)
        print(f"| {name} | {jobs} | {wall:.1f} | {cells} | {free:.1f} | {goal} |")
    if args.timeline:
        print("\nEach run's start and end, seconds from its command's start:\n")
        print("\n".join(lines))


if __name__ == "__main__":
    main()
