"""A run's training state on disk, to continue it after a crash exactly where it stood.

A checkpoint is taken at the end of a chunk (schedule.checkpoint_every steps apart, and when a
signal stops the run): the model's variables (weights and the dropout layers' seed states), the
optimizer's (Adam's moments and step count), the data stream's position and its random
generator, the compiled loop's chunk widths, the per-step history so far, the validations,
early stopping's state and the learning-rate schedule's. Continuing from it computes what the
uninterrupted run computes, bit for bit on CPU (tests/test_checkpoints.py).

One ``.npz`` file, replaced atomically: a crash while writing (or a write that fails: no
space, no permission) leaves the previous one. It records its format version, the lstmlab
that wrote it and what it was made for — the run's config hash and the model's variable
shapes — and :func:`load` checks them before anything is restored: a file cut short, not a
checkpoint, of another format or for another model is a :class:`CheckpointError` saying which.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FILE = "checkpoint.npz"
# The layout of the file. 1: before the format was recorded; 2: format, lstmlab's version,
# what it was made for. A change to what is saved, or how, takes the next number.
FORMAT = 2


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message says which file and why, in one line."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lstmlab")
    except PackageNotFoundError:
        return "unknown"


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


def save(ckpt: Checkpoint, path: Path, config_hash: str | None = None) -> None:
    """Write ckpt to path atomically; OSError (no space, no permission) leaves the previous
    file whole."""
    arrays: dict[str, np.ndarray] = {"losses": ckpt.losses, "accs": ckpt.accs}
    for prefix, values in (("var", ckpt.variables), ("opt", ckpt.optimizer),
                           ("best", ckpt.best_weights or [])):  # fmt: skip
        arrays.update({f"{prefix}_{i}": np.asarray(v) for i, v in enumerate(values)})
    if ckpt.order is not None:
        arrays["order"] = ckpt.order
    meta = {
        "format": FORMAT, "lstmlab": _version(), "config_hash": config_hash,
        "shapes": [list(np.shape(v)) for v in ckpt.variables],
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
    try:
        np.savez(partial, **arrays)
        os.replace(partial, path)
    except BaseException:
        if partial.is_file():
            partial.unlink()
        raise


def load(path: Path, config_hash: str | None = None,
         shapes: list[list[int]] | None = None) -> Checkpoint:  # fmt: skip
    """The checkpoint at path, checked first: made for config_hash and for a model of these
    variable shapes (when given). CheckpointError (one line) when it cannot be used."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if "meta" not in z.files:
                raise CheckpointError(f"{path} is not an lstmlab checkpoint (no meta record)")
            meta = json.loads(z["meta"].tobytes())
            _check(path, meta, config_hash, shapes)
            return _read(z, meta)
    except CheckpointError:
        raise
    except (OSError, EOFError, zipfile.BadZipFile, ValueError, KeyError) as exc:
        raise CheckpointError(
            f"{path} is cut short or not a checkpoint ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'unreadable'})"
        ) from None


def _check(path: Path, meta: dict[str, Any], config_hash: str | None,
           shapes: list[list[int]] | None) -> None:  # fmt: skip
    made_by = meta.get("lstmlab", "an lstmlab before 0.1")
    found = meta.get("format", 1)
    if found != FORMAT:
        raise CheckpointError(
            f"{path} is of checkpoint format {found}, written by lstmlab {made_by}; this "
            f"lstmlab ({_version()}) reads format {FORMAT}"
        )
    if shapes is not None and meta.get("shapes") != [list(s) for s in shapes]:
        theirs = meta.get("shapes") or []
        raise CheckpointError(
            f"{path} was written by lstmlab {made_by} for another model ({len(theirs)} "
            f"variables, this model has {len(shapes)}, or their shapes differ)"
        )
    if config_hash is not None and meta.get("config_hash") not in (None, config_hash):
        raise CheckpointError(
            f"{path} was written by lstmlab {made_by} for another configuration "
            f"(config hash {meta['config_hash'][:12]}, this run's {config_hash[:12]})"
        )


def _read(z: Any, meta: dict[str, Any]) -> Checkpoint:
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
