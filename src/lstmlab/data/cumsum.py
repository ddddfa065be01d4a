"""dataset=cumsum: the cumulative-sum problem of seeds 000-002."""

from __future__ import annotations

import numpy as np

from lstmlab.config import CumsumConfig, TaskKind
from lstmlab.data.sequences import Sequences, Task


def cumsum_sequences(
    rng: np.random.Generator, n: int, timesteps: int, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """X of shape (n, timesteps, 1) uniform in [0, 1); y of shape (n, timesteps), 1 from the
    first step whose running sum reaches ``threshold * timesteps``."""
    x = rng.random((n, timesteps))
    y = np.cumsum(x, axis=1) >= threshold * timesteps
    return x[..., None].astype(np.float32), y.astype(np.int32)


def task(cfg: CumsumConfig) -> Task:
    # One binary label per input step; dataset.task=regression: the running sum itself.
    if cfg.task is TaskKind.regression:
        return Task(cfg.name, cfg.timesteps, features=1, classes=0, per_timestep=True,
                    regression=True)  # fmt: skip
    return Task(cfg.name, cfg.timesteps, features=1, classes=2, per_timestep=True)


def sampler(cfg: CumsumConfig):
    regression = cfg.task is TaskKind.regression

    def sample(rng: np.random.Generator, n: int) -> Sequences:
        x, y = cumsum_sequences(rng, n, cfg.timesteps, cfg.threshold)
        if regression:
            y = np.cumsum(x[..., 0], axis=1, dtype=np.float32)
        return Sequences.full(x, y)

    return sample
