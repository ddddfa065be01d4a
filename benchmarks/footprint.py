"""What a run's libraries cost before it does anything: seconds and resident memory after each
import, in the order a run meets them, against the plain Keras script's two.

Each step is cumulative (everything above it imported too), a plain `import` with Python's
collector on (a run imports the big ones with it paused: experiment.collector_paused); every
repeat is a fresh process; the table has the medians. The plain Keras script of `make bench`
stops at the keras row; the last row is a floor under any lstmlab run, before its data, model,
compilation and store.

    .venv/bin/python benchmarks/footprint.py
    .venv/bin/python benchmarks/footprint.py --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

STEPS = [
    ("numpy", "import numpy"),
    ("hydra, omegaconf", "import hydra, omegaconf"),
    ("tensorflow", "import tensorflow"),
    ("keras", "import keras"),
    ("mlflow", "import mlflow"),
    ("MLflow's SQLAlchemy store", "import mlflow.store.tracking.sqlalchemy_store"),
    ("matplotlib", "import matplotlib.pyplot"),
    ("lstmlab's modules", "import lstmlab.cli, lstmlab.experiment as e\ne.import_run()"),
]
# The same, the way a run imports: lstmlab first, the big libraries with the collector paused.
AS_A_RUN = [
    (
        "all of the above, as a run imports them (collector paused)",
        "import lstmlab.cli; from lstmlab.experiment import collector_paused, import_run\n"
        "with collector_paused(): import mlflow.store.tracking.sqlalchemy_store\n"
        "import_run()",
    ),
]

CHILD = """
import json, time, sys
t0 = time.perf_counter()
out = []
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
for name, code in json.loads(sys.argv[1]):
    exec(code)
    out.append((name, time.perf_counter() - t0, rss()))
print(json.dumps(out))
"""


def once(steps: list[tuple[str, str]]) -> list[tuple[str, float, float]]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(steps)],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    # Alternating, so that a slow minute of the machine falls on both.
    runs = [(once(STEPS), once(AS_A_RUN)) for _ in range(args.repeats)]
    print(f"cumulative, median of {args.repeats} fresh processes\n")
    print("| after importing | seconds | resident MiB |")
    print("| --- | ---: | ---: |")
    for column, steps in enumerate((STEPS, AS_A_RUN)):
        for i, (name, _) in enumerate(steps):
            seconds = statistics.median(run[column][i][1] for run in runs)
            mib = statistics.median(run[column][i][2] for run in runs)
            print(f"| {name} | {seconds:.2f} | {mib:.0f} |")


if __name__ == "__main__":
    main()
