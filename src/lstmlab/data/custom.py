"""dataset=custom and dataset=custom_generator: a user's own code, named by ``_target_``.

- ``custom``: ``_target_(**kwargs)`` returns the arrays an .npz would hold — a mapping with
  ``x``, ``y`` (``lengths``, ``x_test``, ``y_test``, ``lengths_test``), or a tuple ``(x, y)``;
  ``x`` may also be a list of (T_i, F) arrays of different lengths. From there on it is
  fixed data like a file: split, normalised, padded, checked.
- ``custom_generator``: ``_target_(rng, n, **kwargs)`` returns ``(x, y)`` for n fresh
  sequences from the numpy Generator rng — a generator like cumsum and echo.

Whatever the code returns is checked before training, and what is wrong is one line naming
``dataset._target_``.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
from collections.abc import Mapping

import numpy as np

from lstmlab.config import ConfigError, CustomDataConfig, CustomGeneratorConfig, TaskKind
from lstmlab.data import npz
from lstmlab.data.sequences import DataError, Loaded, Sequences, Source, Task
from lstmlab.data.splits import check
from lstmlab.targets import describe, resolve


def _where(cfg) -> str:
    return f"dataset._target_={cfg._target_}"


def _call(cfg, *args):
    fn = resolve("dataset._target_", cfg._target_)
    try:
        return fn(*args, **cfg.kwargs)
    except Exception as exc:
        reason = f"raised {type(exc).__name__}: {exc}".splitlines()[0]
        raise ConfigError("dataset._target_", cfg._target_, reason) from exc


def _ragged(x) -> tuple[np.ndarray, np.ndarray] | None:
    """A list of (T_i, F) arrays as left-aligned padded (n, T, F) and lengths."""
    if not isinstance(x, list | tuple) or not x or np.asarray(x[0]).ndim != 2:
        return None
    seqs = [np.asarray(s, np.float64) for s in x]
    lengths = np.array([len(s) for s in seqs])
    out = np.zeros((len(seqs), max(lengths.max(), 1), seqs[0].shape[1]))
    for i, s in enumerate(seqs):
        if s.ndim != 2 or s.shape[1] != out.shape[2]:
            return None
        out[i, : len(s)] = s
    return out, lengths


def _arrays(value, where: str) -> dict[str, np.ndarray]:
    if isinstance(value, tuple) and len(value) == 2:
        value = {"x": value[0], "y": value[1]}
    if not isinstance(value, Mapping):
        raise DataError(
            f"{where}: returned a {type(value).__name__}; return a dict with x and y (and "
            "optionally lengths, x_test, y_test, lengths_test) or a tuple (x, y)"
        )
    arrays = {}
    for key, array in value.items():
        suffix = key[1:] if key.startswith("x") else None
        ragged = _ragged(array) if suffix is not None else None
        if ragged is not None:
            arrays[key], arrays[f"lengths{suffix}"] = ragged
        else:
            arrays[key] = np.asarray(array)
    return arrays


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in sorted(arrays):
        h.update(key.encode())
        h.update(np.ascontiguousarray(arrays[key]).tobytes())
    return h.hexdigest()[:12]


def _code_file(cfg) -> str | None:
    try:
        return inspect.getsourcefile(resolve("dataset._target_", cfg._target_))
    except TypeError:
        return None


def load(cfg: CustomDataConfig) -> Loaded:
    where = _where(cfg)
    arrays = _arrays(_call(cfg), where)
    train = npz._recorded(arrays, "", where)
    test = None
    if "x_test" in arrays or "y_test" in arrays:
        test = npz._recorded(arrays, "_test", where)
    fn = resolve("dataset._target_", cfg._target_)
    name = cfg.name or getattr(fn, "__name__", "custom")
    context = "training,testing" if test is not None else "training"
    # The source is the code that made the arrays; the digest is of the arrays themselves.
    path = _code_file(cfg) or describe(fn)
    return Loaded(name, train, test, [Source(name, path, _digest(arrays), context)])


def generator(cfg: CustomGeneratorConfig, probe_rng: np.random.Generator) -> tuple[Task, object]:
    """The task of a user's generator, from a first draw, and a sampler that checks every
    draw. probe_rng: a stream of its own, so the probe does not shift the training stream."""
    where = _where(cfg)

    def draw(rng: np.random.Generator, n: int, classes: int | None,
             regression: bool = False) -> Sequences:  # fmt: skip
        value = _call(cfg, rng, n)
        if not (isinstance(value, tuple) and len(value) == 2):
            raise DataError(f"{where}: returned a {type(value).__name__}; return (x, y)")
        x, y = np.asarray(value[0]), np.asarray(value[1])
        rec = npz._recorded({"x": x, "y": y}, "", where)
        if len(rec.x) != n:
            raise DataError(f"{where}: asked for {n} sequences, returned {len(rec.x)}")
        check(rec)
        if regression:
            if y.dtype.kind not in "fiub" or not np.isfinite(y).all():
                raise DataError(f"{where}: a regression's targets must be finite numbers; got "
                                f"{y.dtype} values")  # fmt: skip
            return Sequences.full(rec.x.astype(np.float32), y.astype(np.float32))
        if y.dtype.kind not in "iub" or (y < 0).any():
            raise DataError(f"{where}: labels must be class indices 0, 1, ...; got {y.dtype} "
                            f"values from {y.min()} to {y.max()}")  # fmt: skip
        if classes is not None and y.max() >= classes:
            raise DataError(
                f"{where}: drew label {y.max()}, but there are {classes} classes (from "
                "dataset.classes, or the first draw): set dataset.classes"
            )
        return Sequences.full(rec.x.astype(np.float32), y.astype(np.int32))

    size = max(cfg.validation_samples, 64)
    if cfg.task is not TaskKind.classification:
        # A look at the labels on a copy of the stream: a classification then draws exactly
        # what it always drew.
        peek = draw(copy.deepcopy(probe_rng), size, None, regression=True)
        y = peek.y
        if cfg.task is TaskKind.regression or (y != np.round(y)).any():
            task = Task(cfg.name, peek.x.shape[1], peek.x.shape[2], 0,
                        per_timestep=y.ndim == 2, regression=True)  # fmt: skip
            return task, lambda rng, n: draw(rng, n, None, regression=True)
    first = draw(probe_rng, size, cfg.classes)
    classes = cfg.classes or max(int(first.y.max()) + 1, 2)
    task = Task(cfg.name, first.x.shape[1], first.x.shape[2], classes,
                per_timestep=first.y.ndim == 2)  # fmt: skip
    return task, lambda rng, n: draw(rng, n, classes)


def generator_source(cfg: CustomGeneratorConfig) -> Source:
    """The generator's code and arguments: what defines its sequences' distribution."""
    params = {"_target_": cfg._target_, **{k: str(v) for k, v in cfg.kwargs.items()}}
    path = _code_file(cfg)
    h = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    if path is not None:
        with open(path, "rb") as f:
            h.update(f.read())
    return Source(cfg.name, None, h.hexdigest()[:12], "training,testing", params)
