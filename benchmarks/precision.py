"""Mixed precision as a lever for LSTM-FCN's speed (issue 24's "LSTM-FCN >= 3x plain Keras"):
training steps/s of lstmlab's LSTM-FCN at JapaneseVowels' sizes (padded batches of 128, 29
steps, 12 features, nine classes) under Keras' float32 and mixed_bfloat16 policies, each in a
process of its own (the policy is global), with Keras' train_on_batch in TensorFlow's graph
(the loop lstmlab's archive preset runs these families in). Random data: speed only.

    .venv/bin/python benchmarks/precision.py
"""

from __future__ import annotations

import subprocess
import sys

ONE = """
import sys, time
import keras, numpy as np
keras.mixed_precision.set_global_policy(sys.argv[1])
from lstmlab.config import LstmFcnConfig
from lstmlab.data import Task
from lstmlab.models import build_model
task = Task("jv", timesteps=29, features=12, classes=9, per_timestep=False, masked=True)
keras.utils.set_random_seed(0)
model = build_model(LstmFcnConfig(), task)
rng = np.random.default_rng(0)
x = rng.normal(size=(128, 29, 12)).astype(np.float32)
y = task.targets(rng.integers(0, 9, 128))
model.train_on_batch(x, y)
t0 = time.perf_counter()
for _ in range(int(sys.argv[2])):
    model.train_on_batch(x, y)
print(int(sys.argv[2]) / (time.perf_counter() - t0))
"""


def main() -> None:
    steps = 30
    print("| policy | steps/s |\n| --- | ---: |")
    for policy in ("float32", "mixed_bfloat16"):
        out = subprocess.run([sys.executable, "-c", ONE, policy, str(steps)], check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
        print(f"| {policy} | {float(out.split()[-1]):.1f} |")


if __name__ == "__main__":
    main()
