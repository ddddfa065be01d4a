"""Training speed by TensorFlow's thread count: one thread against all cores, per model width and
batch size.

Each batch size and thread setting is one lstmlab process (a basic-launcher sweep over the
widths: one TensorFlow import, thread caps set before its first op), training a bulk BiLSTM on
cumsum for the same number of steps; the speed is steps / the run's time_train_s (compilation
excluded). The two settings alternate, --repeats times; the table has the medians:

    .venv/bin/python benchmarks/threads.py
    .venv/bin/python benchmarks/threads.py --units 50 256 --batches 10 --steps 5000 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BIN = Path(sys.executable).parent


def speeds(folder: Path, batch: int, threads: int, units: list[int], steps: int) -> dict:
    """Steps per second of each width's run, in one process capped at `threads` (0: all)."""
    from mlflow.tracking import MlflowClient

    store = f"sqlite:///{folder}/bench.db"
    experiment = f"b{batch}-t{threads}-{len(list(folder.iterdir()))}"
    subprocess.run(
        [str(BIN / "lstmlab"), "-m", "experiment=seed_bulk_bilstm", "hydra/launcher=basic",
         f"model.units={','.join(map(str, units))}", f"schedule.batch_size={batch}",
         f"dataset.samples={steps * batch}", "eval.samples=200", "eval.show=0",
         "tracking.log_model=false", f"threads={threads}", f"tracking.uri={store}",
         f"tracking.experiment={experiment}", f"hydra.sweep.dir={folder}/{experiment}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    client = MlflowClient(store)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return {
        int(r.data.params["model.units"]): steps / r.data.metrics["time_train_s"]
        for r in runs
        if "time_train_s" in r.data.metrics
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, nargs="+", default=[20, 50, 128, 256])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 10, 64])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    seen: dict[tuple[int, int, int], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for batch in args.batches:
                for threads in (1, 0):
                    for width, speed in speeds(
                        Path(tmp), batch, threads, args.units, args.steps
                    ).items():
                        seen.setdefault((width, batch, threads), []).append(speed)
    print(f"BiLSTM bulk training on {cores} CPUs, {args.steps} steps a run, "
          f"median of {args.repeats}\n")  # fmt: skip
    print(f"| units | batch | steps/s, 1 thread | steps/s, all {cores} | all / 1 |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for width in args.units:
        for batch in args.batches:
            one = statistics.median(seen[(width, batch, 1)])
            every = statistics.median(seen[(width, batch, 0)])
            print(f"| {width} | {batch} | {one:,.0f} | {every:,.0f} | {every / one:.2f} |")


if __name__ == "__main__":
    main()
