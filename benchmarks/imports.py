"""What Python's garbage collector costs while a run's libraries import, and after.

lstmlab imports TensorFlow, Keras and MLflow with the cyclic collector paused and freezes what
they made (experiment.collector_paused). This imports the same modules (experiment.import_run)
in fresh processes, alternately: with the collector left on, paused and not frozen, and
paused then frozen; then it makes 300 000 small objects that live a while, as a run's records
do. It prints the medians of the import's seconds, and of the collector's own seconds
(gc.callbacks) and full collections, during the import and after it:

    .venv/bin/python benchmarks/imports.py
    .venv/bin/python benchmarks/imports.py --repeats 7
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

VARIANTS = {
    "on": "collector on (Python's default)",
    "paused": "paused, not frozen",
    "frozen": "paused, then frozen (lstmlab)",
}


def measure(variant: str) -> dict[str, float]:
    """The import's seconds, then the collector's seconds and full collections, in and after."""
    spent = {"import": [0.0, 0], "after": [0.0, 0]}
    phase, started = "import", 0.0

    def watch(event: str, info: dict) -> None:
        nonlocal started
        if event == "start":
            started = time.perf_counter()
        else:
            spent[phase][0] += time.perf_counter() - started
            spent[phase][1] += info["generation"] == 2

    gc.callbacks.append(watch)
    from lstmlab import experiment

    if variant == "on":
        experiment.collector_paused = contextlib.nullcontext  # import_run as it was before
    elif variant == "paused":
        experiment.FREEZE_ABOVE = sys.maxsize
    t0 = time.perf_counter()
    experiment.import_run()
    seconds = time.perf_counter() - t0
    phase = "after"
    kept = [[i] for i in range(300_000)]  # what a run keeps (its arrays' lists, its records)
    del kept
    return {"import_s": seconds, "gc_import_s": spent["import"][0],
            "full_import": spent["import"][1], "gc_after_s": spent["after"][0],
            "full_after": spent["after"][1]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # one process
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(measure(args.variant)))
        return
    found: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    for _ in range(args.repeats):
        for variant in VARIANTS:
            out = subprocess.run([sys.executable, __file__, "--variant", variant],
                                 capture_output=True, text=True, check=True).stdout  # fmt: skip
            found[variant].append(json.loads(out.strip().splitlines()[-1]))
    print(f"importing a run's libraries (experiment.import_run), median of {args.repeats} "
          "processes each:")  # fmt: skip
    print(f"  {'':<34} {'import s':>9} {'gc s':>6} {'full':>5} | after: {'gc s':>6} {'full':>5}")
    for variant, runs in found.items():
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"  {VARIANTS[variant]:<34} {med['import_s']:>9.2f} {med['gc_import_s']:>6.2f} "
              f"{med['full_import']:>5.0f} | after: {med['gc_after_s']:>6.2f} "
              f"{med['full_after']:>5.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
