"""aeon's own ROCKET on the archive's split, the reference lstmlab's model=rocket is compared
with in docs/results.md: test RMSE of ``RocketRegressor(random_state=seed)`` (its default
10 000 kernels) on a regression set aeon ships, per seed. Run:

    .venv/bin/python benchmarks/aeon_rocket.py                      # Covid3Month, seeds 0-4
    .venv/bin/python benchmarks/aeon_rocket.py --set CardanoSentiment --seeds 0 1
"""

from __future__ import annotations

import argparse

import numpy as np
from aeon.datasets import load_regression
from aeon.regression.convolution_based import RocketRegressor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", default="Covid3Month")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()
    x, y = load_regression(args.set, split="train")
    xt, yt = load_regression(args.set, split="test")
    print(f"| {args.set} seed | aeon RocketRegressor test RMSE |\n| ---: | ---: |")
    for seed in args.seeds:
        p = RocketRegressor(random_state=seed).fit(x, y).predict(xt)
        print(f"| {seed} | {np.sqrt(np.mean((p - yt) ** 2)):.4f} |")


if __name__ == "__main__":
    main()
