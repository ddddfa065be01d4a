"""A run's training state on disk, to continue it after a crash exactly where it stood.

A checkpoint is taken at the end of a chunk (schedule.checkpoint_every steps apart, and when a
signal stops the run): the model's variables (weights and the dropout layers' seed states), the
optimizer's (Adam's moments and step count), the data stream's position and its random
generator, the compiled loop's chunk widths, the per-step history so far, the validations,
early stopping's state and the learning-rate schedule's. Continuing from it computes what the
uninterrupted run computes, bit for bit on CPU (tests/test_checkpoints.py).

One ``.npz`` file, replaced atomically: a crash while writing leaves the previous one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FILE = "checkpoint.npz"


@dataclass
class Checkpoint:
    step: int
    # Where the data stream continues: {"next": step} (online) or {"epoch": e, "start": s}
    # (bulk, with the epoch's order in `order`).
    position: dict[str, int]
    rng: dict[str, Any]  # numpy's bit_generator.state after the last chunk was drawn
    widths: list[tuple[list[int], int]]
    losses: np.ndarray
    accs: np.ndarray
    validations: list[tuple[int, dict[str, float]]]
    variables: list[np.ndarray]
    optimizer: list[np.ndarray]
    order: np.ndarray | None = None
    # Early stopping: best value and step, validations waited, the best weights.
    stopper: dict[str, Any] = field(default_factory=dict)
    best_weights: list[np.ndarray] | None = None
    # The caller's own state (JSON): tracking's block of per-step means under way.
    extra: dict[str, Any] = field(default_factory=dict)
    # The learning-rate schedule's (training.lr_schedules.LearningRates.state).
    rates: dict[str, Any] = field(default_factory=dict)


def save(ckpt: Checkpoint, path: Path) -> None:
    arrays: dict[str, np.ndarray] = {"losses": ckpt.losses, "accs": ckpt.accs}
    for prefix, values in (("var", ckpt.variables), ("opt", ckpt.optimizer),
                           ("best", ckpt.best_weights or [])):  # fmt: skip
        arrays.update({f"{prefix}_{i}": np.asarray(v) for i, v in enumerate(values)})
    if ckpt.order is not None:
        arrays["order"] = ckpt.order
    meta = {
        "step": ckpt.step, "position": ckpt.position, "rng": ckpt.rng, "widths": ckpt.widths,
        "validations": ckpt.validations, "stopper": ckpt.stopper,
        "counts": {"var": len(ckpt.variables), "opt": len(ckpt.optimizer),
                   "best": len(ckpt.best_weights or [])},
        "has_best": ckpt.best_weights is not None,
        "extra": ckpt.extra, "rates": ckpt.rates,
    }  # fmt: skip
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, **arrays)
    os.replace(partial, path)


def load(path: Path) -> Checkpoint:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(z["meta"].tobytes())
        counts = meta["counts"]

        def group(prefix: str) -> list[np.ndarray]:
            return [z[f"{prefix}_{i}"] for i in range(counts[prefix])]

        return Checkpoint(
            step=meta["step"],
            position=meta["position"],
            rng=meta["rng"],
            widths=[(list(shape), width) for shape, width in meta["widths"]],
            losses=z["losses"],
            accs=z["accs"],
            validations=[(s, m) for s, m in meta["validations"]],
            variables=group("var"),
            optimizer=group("opt"),
            order=z.get("order"),
            stopper=meta["stopper"],
            best_weights=group("best") if meta["has_best"] else None,
            extra=meta.get("extra", {}),
            rates=meta.get("rates", {}),
        )
