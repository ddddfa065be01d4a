"""dataset=echo: the one-hot echo problem of seed 003."""

from __future__ import annotations

import numpy as np

from lstmlab.config import EchoConfig
from lstmlab.data.sequences import Sequences, Task


def echo_sequences(
    rng: np.random.Generator, n: int, length: int, n_features: int, out_index: int
) -> tuple[np.ndarray, np.ndarray]:
    """X of shape (n, length, n_features): one-hot random integers; y of shape (n,): the
    value at ``out_index`` (the seed's one-hot target, as a class index)."""
    values = rng.integers(0, n_features, size=(n, length))
    x = np.eye(n_features, dtype=np.float32)[values]
    return x, values[:, out_index].astype(np.int32)


def task(cfg: EchoConfig) -> Task:
    # One class per sequence, read from the last recurrent output.
    return Task(cfg.name, cfg.length, cfg.n_features, classes=cfg.n_features, per_timestep=False)


def sampler(cfg: EchoConfig):
    def sample(rng: np.random.Generator, n: int) -> Sequences:
        return Sequences.full(*echo_sequences(rng, n, cfg.length, cfg.n_features, cfg.out_index))

    return sample
