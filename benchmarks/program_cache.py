"""What a persistent XLA cache hit saves a run, and that a program is found whatever its process
traced before it (lstmlab.training.program_names).

Each variant starts from an empty cache folder of its own and times one single run of a
BiLSTM(20) with merge_mode=mul (the test sizes of tests/test_programs.py) by the run's own
time_compile_s metric (tracing, XLA compilation or loading it from the cache):

- cold: nothing in the cache;
- after the same run: a first identical run filled the cache;
- after a sweep: a `model.merge_mode=sum,mul` sweep in one process filled it, tracing mul
  second (before lstmlab.training.program_names, its names differed from a lone run's: no hit).

Every run is a fresh lstmlab process; prints the medians and the cache entries each timed run
added:

    .venv/bin/python benchmarks/program_cache.py
    .venv/bin/python benchmarks/program_cache.py --repeats 5
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
SIZES = ["schedule.epochs=30", "schedule.chunk=16", "eval.samples=50", "eval.show=0",
         "tracking.log_model=false"]  # fmt: skip
VARIANTS = {
    "cold": ("empty cache", None),
    "same": ("after the same run", ["model.merge_mode=mul", "seed=2"]),
    "sweep": (
        "after a sum,mul sweep",
        ["-m", "model.merge_mode=sum,mul", "seed=0,1", "hydra/launcher=basic"],
    ),  # fmt: skip
}


def _lstmlab(folder: Path, *args: str) -> None:
    # The cache named by xla_cache, not one this shell may have set.
    env = {k: v for k, v in os.environ.items() if k != "TF_XLA_FLAGS"}
    subprocess.run(
        [str(BIN / "lstmlab"), *args, f"tracking.uri=sqlite:///{folder}/bench.db",
         f"xla_cache={folder}/xla", f"hydra.run.dir={folder}/run",
         f"hydra.sweep.dir={folder}/sweep", *SIZES],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip


def timed(folder: Path, before: list[str] | None) -> tuple[float, int]:
    """The mul run's time_compile_s and the cache entries it added, after `before`."""
    from mlflow.tracking import MlflowClient

    if before is not None:
        _lstmlab(folder, *before, "tracking.experiment=before")
    cache = folder / "xla"
    had = set(cache.iterdir()) if cache.is_dir() else set()
    _lstmlab(folder, "model.merge_mode=mul", "seed=2", "tracking.experiment=timed")
    client = MlflowClient(f"sqlite:///{folder}/bench.db")
    (run,) = client.search_runs([client.get_experiment_by_name("timed").experiment_id])
    return run.data.metrics["time_compile_s"], len(set(cache.iterdir()) - had)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    found: dict[str, list[tuple[float, int]]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            for variant, (_, before) in VARIANTS.items():
                folder = Path(tmp) / f"{variant}{i}"
                folder.mkdir()
                found[variant].append(timed(folder, before))
    print(f"merge_mode=mul, one run in a fresh process, median of {args.repeats}:")
    print("| cache before the run | time_compile_s | cache entries the run added |")
    print("| --- | ---: | ---: |")
    for variant, results in found.items():
        seconds = statistics.median(s for s, _ in results)
        added = "/".join(str(n) for _, n in results)
        print(f"| {VARIANTS[variant][0]} | {seconds:.2f} | {added} |")


if __name__ == "__main__":
    main()
