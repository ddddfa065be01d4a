"""What logging a run's model costs at the end of a run: `RunLog.keras_model` for a BiLSTM(20)
on cumsum, from the call until the run has ended (the writer thread logs it; the run waits),
after the warm-up a run gives it (`expect_model`, while training). Each repeat is a fresh
process (MLflow's once-a-process costs included) on a new sqlite store; prints the median:

    .venv/bin/python benchmarks/model_log.py
    .venv/bin/python benchmarks/model_log.py --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

CHILD = """
import tempfile, time
import lstmlab.cli
from lstmlab.experiment import import_run
import_run()
from lstmlab.config import CumsumConfig, ModelConfig
from lstmlab.data import cumsum
from lstmlab.models.recurrent import build_model
from lstmlab.tracking.runs import Tracker

task = cumsum.task(CumsumConfig(timesteps=10))
model = build_model(ModelConfig(units=20), task)
with tempfile.TemporaryDirectory() as folder:
    with Tracker(f"sqlite:///{folder}/bench.db", "bench").run("r", {}) as log:
        log.expect_model()
        time.sleep(3)  # a run trains meanwhile
        t0 = time.perf_counter()
        log.keras_model(model, task)
    print(time.perf_counter() - t0)
"""


def once() -> float:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                          check=True, env=env)  # fmt: skip
    return float(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    seconds = [once() for _ in range(args.repeats)]
    print(f"model logged and the run ended in {statistics.median(seconds):.2f} s "
          f"(median of {args.repeats}; {min(seconds):.2f}-{max(seconds):.2f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
