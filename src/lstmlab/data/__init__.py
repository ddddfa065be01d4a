"""The data a run trains and is tested on, one module per ``dataset`` option.

Data flows one way: a source (a generator, a file, an archive) -> split -> normalise -> the
arrays the schedules consume (:class:`Dataset`); nothing downstream knows where they came from.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from lstmlab.config import (
    Config,
    CsvConfig,
    CumsumConfig,
    CustomDataConfig,
    CustomGeneratorConfig,
    EchoConfig,
    FixedDataConfig,
    NpzConfig,
    SeriesConfig,
    UeaConfig,
)
from lstmlab.data.sequences import DataError, Dataset, Loaded, Sequences, Source, Task

__all__ = ["DataError", "Dataset", "Sequences", "Source", "Task", "load", "rngs"]


def rngs(seed: int) -> tuple[np.random.Generator, ...]:
    """Independent streams for training, test and validation data, and for probing a user's
    generator, all from the run's seed. (The first two are the streams runs have always used,
    so generated data is unchanged.)"""
    return tuple(np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4))


def load(settings: Config) -> Dataset:
    """The dataset a config describes; DataError (one line) when it cannot be used."""
    cfg = settings.dataset
    _, test_rng, validation_rng, probe_rng = rngs(settings.seed)
    validation_rng = validation_rng if settings.eval.validating else None
    if isinstance(cfg, CustomGeneratorConfig):
        from lstmlab.data import custom, generated

        task, sampler = custom.generator(cfg, probe_rng)
        return generated.build(cfg, task, sampler, test_rng, settings.eval.samples,
                               validation_rng, custom.generator_source(cfg), probe_rng)  # fmt: skip
    if isinstance(cfg, CumsumConfig | EchoConfig):
        from lstmlab.data import cumsum, echo, generated

        module = cumsum if isinstance(cfg, CumsumConfig) else echo
        return generated.build(
            cfg, module.task(cfg), module.sampler(cfg), test_rng, settings.eval.samples,
            validation_rng, scale_rng=probe_rng,
        )  # fmt: skip
    if isinstance(cfg, SeriesConfig):
        from lstmlab.data import series, windows

        return windows.prepare(series.load(cfg), cfg)
    from lstmlab.data.splits import prepare

    seed = settings.seed if cfg.split_seed is None else cfg.split_seed
    return prepare(_read(cfg), cfg, seed)


def _read(cfg: FixedDataConfig) -> Loaded:
    # Files are read once per process (the pre-flight check and the run, the jobs of a sweep
    # in one worker); a changed file is read again.
    stamps = tuple(_stamp(getattr(cfg, key, None)) for key in ("path", "test_path"))
    return _read_cached(_Key(cfg), stamps)


class _Key:
    """A dataset config as a cache key: what the reading depends on."""

    # How the data is split and scaled, not how it is read.
    _AFTER_READING = ("validation", "test", "split_seed", "normalize", "padding", "pad_value")

    def __init__(self, cfg: FixedDataConfig):
        self.cfg = cfg
        self.text = repr(sorted((k, repr(v)) for k, v in vars(cfg).items()
                                if k not in self._AFTER_READING))  # fmt: skip

    def __hash__(self) -> int:
        return hash(self.text)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Key) and other.text == self.text


def _stamp(path: str | None) -> tuple[float, int] | None:
    try:
        st = os.stat(path) if path else None
    except OSError:
        return None
    return (st.st_mtime, st.st_size) if st else None


@functools.lru_cache(maxsize=4)
def _read_cached(key: _Key, stamps: tuple) -> Loaded:
    cfg = key.cfg
    if isinstance(cfg, NpzConfig):
        from lstmlab.data import npz as source
    elif isinstance(cfg, CsvConfig):
        from lstmlab.data import csv as source
    elif isinstance(cfg, UeaConfig):
        from lstmlab.data import uea as source
    elif isinstance(cfg, CustomDataConfig):
        from lstmlab.data import custom as source
    else:
        raise TypeError(f"no loader for {type(cfg).__name__}")
    return source.load(cfg)
