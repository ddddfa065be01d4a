"""Figures: the training and validation curves of one run, its test confusion matrix."""

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


def loss_curve(
    losses: np.ndarray,
    title: str,
    accs: np.ndarray | None = None,
    validations: list[tuple[int, dict[str, float]]] | None = None,
    best_step: int | None = None,
    metric: str = "acc",
) -> Figure:
    """Per-step training loss with a moving average (one step is one noisy batch); with
    validations, the validation loss beside it and a second panel of accuracies, and the step
    early stopping kept marked."""
    panels = 2 if validations else 1
    # Fixed margins: matplotlib's constrained layout costs more than the drawing (~0.07 s a
    # figure, paid by every run of a sweep).
    fig, axes = plt.subplots(1, panels, figsize=(7 * panels, 4), squeeze=False)
    fig.subplots_adjust(left=0.09 / panels, right=1 - 0.02 / panels, bottom=0.12, top=0.88,
                        wspace=0.22)  # fmt: skip
    steps = np.arange(len(losses))
    window = max(1, len(losses) // 50)
    series = [("loss", losses, "train_loss", "val_loss")]
    if validations:
        acc = accs if accs is not None else np.full(len(losses), np.nan)
        label = "accuracy" if metric == "acc" else metric
        series.append((label, acc, f"train_{metric}", f"val_{metric}"))
    for ax, (label, values, train_key, val_key) in zip(axes[0], series, strict=True):
        ax.plot(steps, values, color="0.75", linewidth=0.8, label=train_key)
        if window > 1:
            ax.plot(steps, moving_average(values, window), color="C0",
                    label=f"mean of {window} steps")  # fmt: skip
        if validations:
            # A validation after s steps belongs to the last of them, step s - 1.
            at = [s - 1 for s, _ in validations]
            ax.plot(at, [m[val_key] for _, m in validations], color="C1", marker="o",
                    markersize=3, label=val_key)  # fmt: skip
        if best_step is not None:
            ax.axvline(best_step - 1, color="C2", linestyle="--", linewidth=1,
                       label=f"best (after {best_step} steps)")  # fmt: skip
        ax.set(xlabel="step", ylabel=label)
        ax.legend(loc="upper right")
    fig.suptitle(title)
    return fig


def confusion_matrix(matrix: np.ndarray, classes: list[str], title: str) -> Figure:
    """Counts per true (rows) and predicted (columns) class, each cell shaded by its share
    of the true class's row, so that a rare class's errors show as clearly as a common one's."""
    n = len(classes)
    side = min(12.0, 2.5 + 0.45 * n)
    fig, ax = plt.subplots(figsize=(side + 1.2, side))
    fig.subplots_adjust(left=0.2, right=0.95, bottom=0.2, top=0.9)
    totals = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    if n <= 30:  # beyond, the numbers would not be readable
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if shares[i, j] > 0.5 else "black")  # fmt: skip
    ticks = np.arange(n)
    ax.set_xticks(ticks, classes, rotation=90 if n > 8 else 0)
    ax.set_yticks(ticks, classes)
    ax.set(xlabel="predicted class", ylabel="true class", title=title)
    return fig


def close(fig: Figure) -> None:
    plt.close(fig)


def forecast(times: np.ndarray, z: np.ndarray, steps: np.ndarray, yhat: np.ndarray,
             baselines: dict[str, np.ndarray], test_from: int, title: str) -> Figure:  # fmt: skip
    """A series (z, its time labels) with the test part's one-step-ahead forecasts (yhat at
    the steps `steps`) against the actuals and the baselines'."""
    fig, ax = plt.subplots(figsize=(10, 4))
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.18, top=0.9)
    x = np.arange(len(z))
    ax.plot(x, z, color="black", linewidth=1.2, label="actual")
    ax.axvline(test_from - 0.5, color="grey", linestyle=":", linewidth=1)
    for (name, values), style in zip(baselines.items(), ("--", "-.", ":"), strict=False):
        ax.plot(steps, values, linestyle=style, linewidth=1, label=name)
    ax.plot(steps, yhat, color="tab:red", linewidth=1.6, label="forecast")
    ticks = np.linspace(0, len(z) - 1, min(8, len(z))).astype(int)
    ax.set_xticks(ticks, [str(times[i]) for i in ticks], rotation=20)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    return fig
