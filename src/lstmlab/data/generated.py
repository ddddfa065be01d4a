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
) -> Dataset:
    validation = None
    if validation_rng is not None:
        validation = sampler(validation_rng, cfg.validation_samples)
    return Dataset(
        task=task,
        test=sampler(test_rng, test_samples),
        sources=[origin or source(cfg)],
        classes=[str(c) for c in range(task.classes)],
        validation=validation,
        sampler=sampler,
        samples=cfg.samples,
    )
