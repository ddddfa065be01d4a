"""The toy sequence problems of the seeds, as vectorised numpy generators.

Generators are pure: they take a ``numpy.random.Generator`` and return float32 arrays, so the
same generator state always gives the same sequences, whether drawn one at a time or a chunk
at a time (numpy fills arrays from the stream in order).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lstmlab.config import CumsumConfig, EchoConfig


def cumsum_sequences(
    rng: np.random.Generator, n: int, timesteps: int, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """X of shape (n, timesteps, 1) uniform in [0, 1); y of the same shape, 1 from the first step
    whose running sum reaches ``threshold * timesteps``."""
    x = rng.random((n, timesteps))
    y = np.cumsum(x, axis=1) >= threshold * timesteps
    return x[..., None].astype(np.float32), y[..., None].astype(np.float32)


def echo_sequences(
    rng: np.random.Generator, n: int, length: int, n_features: int, out_index: int
) -> tuple[np.ndarray, np.ndarray]:
    """X of shape (n, length, n_features): one-hot random integers; y of shape (n, n_features):
    the one-hot value at ``out_index``."""
    values = rng.integers(0, n_features, size=(n, length))
    x = np.eye(n_features, dtype=np.float32)[values]
    return x, x[:, out_index, :].copy()


@dataclass(frozen=True)
class Cumsum:
    timesteps: int
    threshold: float

    name = "cumsum"
    # One binary label per input step.
    per_timestep = True

    @property
    def input_shape(self) -> tuple[int, int]:
        return (self.timesteps, 1)

    @property
    def n_outputs(self) -> int:
        return 1

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        return cumsum_sequences(rng, n, self.timesteps, self.threshold)

    def decode(self, y: np.ndarray) -> np.ndarray:
        """Class labels (n, timesteps) from targets or sigmoid outputs."""
        return (np.asarray(y)[..., 0] > 0.5).astype(np.int64)


@dataclass(frozen=True)
class Echo:
    length: int
    n_features: int
    out_index: int

    name = "echo"
    # One class per sequence, read from the last recurrent output.
    per_timestep = False

    @property
    def input_shape(self) -> tuple[int, int]:
        return (self.length, self.n_features)

    @property
    def n_outputs(self) -> int:
        return self.n_features

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        return echo_sequences(rng, n, self.length, self.n_features, self.out_index)

    def decode(self, y: np.ndarray) -> np.ndarray:
        """Class labels (n,) from one-hot targets or softmax outputs."""
        return np.argmax(np.asarray(y), axis=-1)


Problem = Cumsum | Echo


def make_problem(cfg: CumsumConfig | EchoConfig) -> Problem:
    if isinstance(cfg, CumsumConfig):
        return Cumsum(timesteps=cfg.timesteps, threshold=cfg.threshold)
    return Echo(length=cfg.length, n_features=cfg.n_features, out_index=cfg.out_index)
