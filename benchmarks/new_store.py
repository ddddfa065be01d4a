"""What the first open of a new sqlite MLflow store costs, with and without lstmlab's template.

A new store's first open is MLflow's: it runs every schema migration. lstmlab copies an empty
store built once per MLflow version (lstmlab.tracking.store_template) instead. This times the open
alone (imports done first), each in a fresh process, alternately: MLflow's client on a new
store, lstmlab's Tracker on a new store (the template already built), and lstmlab's Tracker on
the store it has just made (an existing store, for comparison). Prints the medians:

    .venv/bin/python benchmarks/new_store.py
    .venv/bin/python benchmarks/new_store.py --repeats 7
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VARIANTS = {
    "mlflow": "new store, MLflow's migrations",
    "lstmlab": "new store, lstmlab's template",
    "existing": "existing store",
}


def open_store(variant: str, db: Path) -> float:
    """Seconds of one first open in this process."""
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401 (imports are not the open)
    from mlflow.tracking import MlflowClient

    from lstmlab.tracking.runs import Tracker

    t0 = time.perf_counter()
    if variant == "mlflow":
        MlflowClient(f"sqlite:///{db}").search_experiments()
    else:
        Tracker(f"sqlite:///{db}", "bench")
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # one process
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(open_store(args.variant, args.db)))
        return
    from lstmlab.tracking import store_template

    store_template.template()  # built once, as on any machine after its first new store
    found: dict[str, list[float]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            for variant in VARIANTS:
                db = Path(tmp) / f"{'lstmlab' if variant == 'existing' else variant}{i}.db"
                out = subprocess.run(
                    [sys.executable, __file__, "--variant", variant, "--db", str(db)],
                    capture_output=True, text=True, check=True,
                ).stdout  # fmt: skip
                found[variant].append(json.loads(out.strip().splitlines()[-1]))
    print(f"first open of a sqlite store in a fresh process, median of {args.repeats}:")
    for variant, seconds in found.items():
        print(f"  {VARIANTS[variant]:<32} {statistics.median(seconds):.2f} s")


if __name__ == "__main__":
    main()
