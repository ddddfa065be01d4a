"""A model's outputs on a split, in predict calls of one size (shared by every kind of task's
evaluation)."""

from __future__ import annotations

import keras
import numpy as np

# A predict call runs the time loop step by step whatever the batch, so fewer, larger calls
# are cheaper (1024 sequences of 10 steps, BiLSTM(20), timed by hand: 4 calls of 256 took
# 12 ms, one of 1024 7 ms), up to this many timesteps (sequences x length) a call: larger
# batches raised the peak memory of a bulk run's 50 000 test sequences (make bench: +330 MiB
# at 2**18).
_TIMESTEPS_PER_CALL = 2**15


def batch_size(n: int, length: int) -> int:
    """Sequences per predict call for n sequences of this length: a power of two (splits of
    similar sizes share one compiled predict function; the last batch is padded)."""
    limit = max(1, _TIMESTEPS_PER_CALL // max(1, length))
    size = 1 << max(0, n - 1).bit_length()
    while size > limit:
        size //= 2
    return size


def predict(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """The model's outputs for x, in batches of one size."""
    n = len(x)
    size = batch_size(n, x.shape[1] if x.ndim > 1 else 1)
    outputs = []
    for start in range(0, n, size):
        batch = x[start : start + size]
        if len(batch) < size:
            batch = np.concatenate([batch, np.repeat(batch[-1:], size - len(batch), axis=0)])
        outputs.append(np.asarray(model.predict_on_batch(batch)))
    return np.concatenate(outputs)[:n]
