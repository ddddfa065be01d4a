"""A generator as a dataset: a stream of fresh training sequences, and validation and test
sets of fresh sequences drawn once from streams of their own."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from lstmlab.config import GeneratedConfig
from lstmlab.data.sequences import Dataset, Sampler, Source, Task


def source(cfg: GeneratedConfig) -> Source:
    """The generator and its parameters: what defines the sequences' distribution."""
    params = {k: str(v) for k, v in vars(cfg).items()
              if k not in ("name", "samples", "validation_samples")}  # fmt: skip
    text = json.dumps(params, sort_keys=True)
    return Source(cfg.name, None, hashlib.sha256(text.encode()).hexdigest()[:12],
                  "training,testing", params)  # fmt: skip


def build(
    cfg: GeneratedConfig,
    task: Task,
    sampler: Sampler,
    test_rng: np.random.Generator,
    test_samples: int,
    validation_rng: np.random.Generator | None,
    origin: Source | None = None,
    scale_rng: np.random.Generator | None = None,
) -> Dataset:
    """The generator's dataset; a regression's targets are standardised with the mean and
    deviation of a draw from scale_rng, a stream of its own (the training, validation and test
    draws are those of a classification)."""
    target_scale = None
    if task.regression:
        probe = sampler(scale_rng or np.random.default_rng(0), max(cfg.validation_samples, 256))
        values = probe.y[probe.mask] if probe.y.ndim == 2 else probe.y
        mean, std = float(values.mean()), float(values.std()) or 1.0
        target_scale = (mean, std)
        sampler = _standardised(sampler, mean, std)
    validation = None
    if validation_rng is not None:
        validation = sampler(validation_rng, cfg.validation_samples)
    return Dataset(
        task=task,
        test=sampler(test_rng, test_samples),
        sources=[origin or source(cfg)],
        classes=[] if task.regression else [str(c) for c in range(task.classes)],
        validation=validation,
        sampler=sampler,
        samples=cfg.samples,
        target_scale=target_scale,
    )


def _standardised(sampler: Sampler, mean: float, std: float) -> Sampler:
    def sample(rng: np.random.Generator, n: int):
        seqs = sampler(rng, n)
        seqs.y = ((seqs.y - mean) / std).astype(np.float32)
        return seqs

    return sample
