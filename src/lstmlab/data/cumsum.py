"""dataset=cumsum: the cumulative-sum problem of seeds 000-002."""

from __future__ import annotations

import numpy as np

from lstmlab.config import CumsumConfig
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
    # One binary label per input step.
    return Task(cfg.name, cfg.timesteps, features=1, classes=2, per_timestep=True)


def sampler(cfg: CumsumConfig):
    def sample(rng: np.random.Generator, n: int) -> Sequences:
        return Sequences.full(*cumsum_sequences(rng, n, cfg.timesteps, cfg.threshold))

    return sample
