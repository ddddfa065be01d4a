"""A sweep's finished runs as records, grouped by configuration (what their params say apart
from the seed), and the statistics over seeds that the report and the benchmark share."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from lstmlab.config import param_of


@dataclass
class RunRecord:
    run_id: str
    name: str
    status: str
    params: dict[str, str]
    metrics: dict[str, float]
    losses: np.ndarray  # train_loss by step
    # The test split's predicted probabilities, labels and mask (experiment.PREDICTIONS),
    # when the run logged them.
    predictions: dict[str, np.ndarray] | None = None

    @property
    def seed(self) -> int:
        return int(self.params.get("seed", 0))


@dataclass
class Group:
    """The runs of one configuration, one per seed."""

    label: str
    runs: list[RunRecord] = field(default_factory=list)

    def curves(self) -> np.ndarray:
        """(runs, steps): loss histories cut to the shortest one."""
        steps = min(len(r.losses) for r in self.runs)
        return np.stack([r.losses[:steps] for r in self.runs])

    def metric(self, key: str) -> np.ndarray:
        return np.array([r.metrics.get(key, np.nan) for r in self.runs])

    def ensemble_acc(self) -> float:
        """The accuracy of the seeds' mean predicted probabilities on the test split (nan if a
        run did not log them)."""
        found = [r.predictions for r in self.runs]
        if not found or any(p is None for p in found):
            return float("nan")
        return ensemble_accuracy(found)

    def auc(self) -> dict[int, float]:
        """Per seed: the mean train_loss over all steps (area under the loss curve)."""
        return {r.seed: float(np.mean(r.losses)) for r in self.runs}


@dataclass
class Selection:
    parent_run_id: str
    title: str
    preset: str
    records: list[RunRecord]
    # The keys the sweep varies (lstmlab.swept_keys on its parent run).
    swept: list[str] = field(default_factory=list)
    # The sweep's wall time so far: its parent run's start to its end (or to now).
    seconds: float = float("nan")


def ensemble_accuracy(predictions: list[dict[str, np.ndarray]]) -> float:
    """Accuracy of the mean of several models' predicted probabilities on one split (the
    ensemble of seeds InceptionTime's published figures are made of): the class of highest
    mean probability, or for one sigmoid output a mean above one half; per real timestep for
    per-timestep labels."""
    y, mask = predictions[0]["y"], predictions[0]["mask"].astype(bool)
    for other in predictions[1:]:
        if not np.array_equal(other["y"], y):
            raise ValueError("the runs were tested on different splits")
    p = np.mean([np.asarray(found["p"], dtype=np.float64) for found in predictions], axis=0)
    yhat = (p[..., 0] > 0.5).astype(y.dtype) if p.shape[-1] == 1 else p.argmax(axis=-1)
    hits = yhat == y
    return float(hits[mask].mean() if hits.shape == mask.shape and hits.ndim > 1 else hits.mean())


def mean_ci(values: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Mean over axis 0 and the half-width of its Student-t confidence interval (nan for n<2)."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[0]
    mean = values.mean(axis=0)
    if n < 2:
        return mean, np.full_like(mean, np.nan)
    sem = values.std(axis=0, ddof=1) / np.sqrt(n)
    return mean, sem * stats.t.ppf(0.5 + confidence / 2, n - 1)


def configuration(record: RunRecord, keys: list[str]) -> str:
    """A run's configuration: its values of the keys the sweep varies, the seed excepted
    ('model=bilstm', 'merge_mode=sum'); without keys, its name less the seed. Params, not
    names: a sweep may include a run it reused from another sweep, named after that one."""
    if keys:
        return " ".join(
            f"{key.rsplit('.', 1)[-1]}={record.params.get(param_of(key), '?')}" for key in keys
        )
    kept = [t for t in record.name.split() if not t.startswith("seed=")]
    return " ".join(kept) or "all runs"


def group_runs(records: list[RunRecord], keys: list[str] | None = None) -> list[Group]:
    """Runs grouped by configuration, in label order, each group's runs by seed."""
    keys = [k for k in keys or [] if k != "seed"]
    groups: dict[str, Group] = {}
    for r in sorted(records, key=lambda r: (configuration(r, keys), r.seed)):
        label = configuration(r, keys)
        groups.setdefault(label, Group(label)).runs.append(r)
    return list(groups.values())
