"""The arrays every schedule consumes, whatever the data came from.

A :class:`Sequences` holds padded sequences ``x`` (n, T, F), integer class labels ``y`` ((n,)
per sequence or (n, T) per timestep) and a boolean ``mask`` (n, T) of the real timesteps. A
:class:`Task` says what a model must fit; a :class:`Dataset` holds the splits, the label names
and where the data came from. Nothing downstream knows which source made them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class DataError(ValueError):
    """Data that cannot be trained on; the message is one line naming the file, key or column."""


@dataclass(frozen=True)
class Task:
    """What a model must fit: the shape of a sequence and of its labels."""

    name: str
    # Padded length; variable-length (masked) tasks accept any length at prediction time.
    timesteps: int
    features: int
    classes: int
    per_timestep: bool
    # Sequences of different lengths: padding is masked, so it never changes an output.
    masked: bool = False
    pad_value: float = 0.0
    # Real-valued targets (classes is 0): linear outputs, fitted with model.loss.
    regression: bool = False
    # Real values per sequence (forecasting: horizon x targets, step by step).
    values: int = 1

    @property
    def binary(self) -> bool:
        return self.classes == 2 and not self.regression

    @property
    def n_outputs(self) -> int:
        """Units of the head: one sigmoid for two classes, a softmax over k otherwise, one
        linear unit for a real value."""
        if self.regression:
            return self.values
        return 1 if self.binary else self.classes

    @property
    def sequence_bytes(self) -> int:
        """What one sequence takes in a training chunk: float32 inputs and the loss's targets
        (one float32 or int32 per label)."""
        labels = self.timesteps if self.per_timestep else self.values
        return 4 * self.timesteps * self.features + 4 * labels

    @property
    def input_shape(self) -> tuple[int | None, int]:
        return (None if self.masked else self.timesteps, self.features)

    def targets(self, y: np.ndarray) -> np.ndarray:
        """Class labels as the model's loss takes them: float (..., 1) for a sigmoid head,
        int32 indices for a softmax head."""
        if self.regression and self.values > 1:  # (..., values) as stored
            return np.asarray(y, np.float32)
        if self.binary or self.regression:
            return np.asarray(y, np.float32)[..., None]
        return np.asarray(y, np.int32)

    def decode(self, p: np.ndarray) -> np.ndarray:
        """Class labels from the model's outputs (regression: the values, in training units)."""
        p = np.asarray(p)
        if self.regression:
            return p[..., 0] if self.values == 1 else p
        if self.binary:
            return (p[..., 0] > 0.5).astype(np.int64)
        return np.argmax(p, axis=-1)


@dataclass
class Sequences:
    x: np.ndarray  # (n, T, F) float32, padding filled with the task's pad value
    # (n,) or (n, T): int32 class indices, or float32 standardised targets for regression
    # (0 at padded timesteps).
    y: np.ndarray
    mask: np.ndarray  # (n, T) bool, true at real timesteps

    def __len__(self) -> int:
        return len(self.x)

    @property
    def lengths(self) -> np.ndarray:
        return self.mask.sum(axis=1)

    def take(self, idx: np.ndarray) -> Sequences:
        return Sequences(self.x[idx], self.y[idx], self.mask[idx])

    @classmethod
    def full(cls, x: np.ndarray, y: np.ndarray) -> Sequences:
        """Sequences that all have the full length (the generators')."""
        return cls(x, y, np.ones(x.shape[:2], bool))


@dataclass
class Recorded:
    """Sequences as a file or archive holds them, before labels are encoded, the data split,
    normalised and padded."""

    x: np.ndarray  # (n, T, F) float64; sequence i is x[i, :lengths[i]]
    lengths: np.ndarray  # (n,) int
    labels: np.ndarray  # (n,) or (n, T): labels of any hashable kind
    # What errors name: the file (and the array).
    origin: str
    # Names errors use, when the source has them: each sequence's id, each feature's column.
    ids: np.ndarray | None = None
    features: list[str] | None = None

    def where(self, seq: int, step: int | None = None, feature: int | None = None) -> str:
        """'sequence 3 (id s07), timestep 2, feature 0 (column 'a')' for error messages."""
        text = f"sequence {seq}"
        if self.ids is not None:
            text += f" (id {self.ids[seq]})"
        if step is not None:
            text += f", timestep {step}"
        if feature is not None:
            text += f", feature {feature}"
            if self.features is not None:
                text += f" (column {self.features[feature]!r})"
        return text


@dataclass
class Loaded:
    """What a file or archive source returns: its training data, its own test split if it has
    one, and where both came from."""

    name: str
    train: Recorded
    test: Recorded | None
    sources: list[Source]


# Draws n fresh sequences from a generator.
Sampler = Callable[[np.random.Generator, int], Sequences]


@dataclass(frozen=True)
class Source:
    """Where a split's data came from, as MLflow records a dataset input."""

    name: str
    # A file path (an npz, a csv, an archive's .ts file), or None for generated data.
    path: str | None
    digest: str
    # "training", "testing" or "training,testing" (one file holding both).
    context: str
    # For generated data: the generator and its parameters.
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class Dataset:
    task: Task
    test: Sequences
    sources: list[Source]
    # Label names in class-index order (the mapping is logged).
    classes: list[str]
    # Fixed data: the training split. Generators draw it (bulk) or stream it (online).
    train: Sequences | None = None
    validation: Sequences | None = None
    sampler: Sampler | None = None
    # Generators: the size of the training set a bulk schedule draws once.
    samples: int = 0
    # zscore statistics fitted on the training split (per feature), when normalised.
    normalization: dict[str, list[float]] | None = None
    # Regression: the training targets' mean and standard deviation; y holds (y - mean) / std,
    # and metrics and predictions are in the target's units again (Targets.original).
    target_scale: tuple[float, float] | None = None
    # Forecasting: the series, parts and fitted transforms, a lstmlab.data.windows.Forecast
    # (not imported here: windows builds on this module).
    forecast: Any = None
    # Wall time of loading: reading (unless this process read the file before), splitting,
    # normalising, padding; generators: drawing the validation and test sets.
    seconds: float = 0.0

    @property
    def generated(self) -> bool:
        """Fresh sequences from a generator rather than fixed splits of a file or archive."""
        return self.sampler is not None

    def training_set(self, rng: np.random.Generator) -> Sequences:
        """The fixed training split, or dataset.samples sequences drawn once (generators)."""
        if self.train is not None:
            return self.train
        assert self.sampler is not None
        return self.sampler(rng, self.samples)

    def summary(self) -> dict[str, object]:
        """Facts about the data a run trained on, logged as params ``data.*``."""
        facts: dict[str, object] = {
            "task": "regression" if self.task.regression else "classification",
            "classes": self.task.classes,
            "features": self.task.features,
            "timesteps": self.task.timesteps,
            "per_timestep": self.task.per_timestep,
            "masked": self.task.masked,
            "test": len(self.test),
        }
        if self.train is not None:
            lengths = np.concatenate(
                [s.lengths for s in (self.train, self.validation, self.test) if s is not None]
            )
            facts.update(train=len(self.train), min_length=int(lengths.min()),
                         max_length=int(lengths.max()))  # fmt: skip
        if self.validation is not None:
            facts["validation"] = len(self.validation)
        if self.forecast is not None:
            facts.update(task="forecasting", lookback=self.forecast.lookback,
                         horizon=self.forecast.horizon, season=self.forecast.season,
                         series=len(self.forecast.table.ids))  # fmt: skip
        return facts
