"""Figures: the loss curve of one run."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: runs write PNGs, they never open windows

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over up to `window` steps (shorter at the start), same length as values."""
    values = np.asarray(values, dtype=np.float64)
    window = max(1, min(window, len(values)))
    sums = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - window, 0)
    return (sums[idx] - sums[lo]) / (idx - lo)


def loss_curve(losses: np.ndarray, title: str) -> Figure:
    """Per-step training loss, with a moving average (one step is one noisy sequence)."""
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    steps = np.arange(len(losses))
    ax.plot(steps, losses, color="0.75", linewidth=0.8, label="train_loss")
    window = max(1, len(losses) // 50)
    if window > 1:
        ax.plot(steps, moving_average(losses, window), color="C0", label=f"mean of {window} steps")
    ax.set(xlabel="step", ylabel="loss", title=title)
    ax.legend()
    return fig


def close(fig: Figure) -> None:
    plt.close(fig)
