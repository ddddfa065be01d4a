"""From what a source read to the arrays the schedules consume: check, encode labels, split,
normalise, pad.

The order matters: the test and validation splits are cut before normalisation, so its
statistics come from the training split alone, and padding comes last, so neither the
statistics nor the checks ever see a padded timestep.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from lstmlab.config import FixedDataConfig, Normalize, Padding, TaskKind
from lstmlab.data.sequences import DataError, Dataset, Loaded, Recorded, Sequences, Task

# The test fraction when the source has no test split and dataset.test is null.
DEFAULT_TEST = 0.2


def check(rec: Recorded) -> None:
    """Raise DataError on what no model can train on: empty sequences, NaN or infinite
    features, labels that are missing or continuous."""
    n = len(rec.x)
    if n == 0:
        raise DataError(f"{rec.origin}: no sequences")
    if len(rec.labels) != n:
        raise DataError(
            f"{rec.origin}: {n} sequences but {len(rec.labels)} labels; they must match"
        )
    empty = np.flatnonzero(rec.lengths <= 0)
    if empty.size:
        raise DataError(
            f"{rec.origin}: {rec.where(int(empty[0]))} has length {rec.lengths[empty[0]]}; "
            "every sequence needs at least one timestep"
        )
    if (rec.lengths > rec.x.shape[1]).any():
        i = int(np.flatnonzero(rec.lengths > rec.x.shape[1])[0])
        raise DataError(
            f"{rec.origin}: {rec.where(i)} has length {rec.lengths[i]}, more than the "
            f"{rec.x.shape[1]} timesteps stored"
        )
    real = _real(rec.lengths, rec.x.shape[1])
    bad = ~np.isfinite(rec.x) & real[..., None]
    if bad.any():
        seq, step, feature = (int(v[0]) for v in np.nonzero(bad))
        raise DataError(
            f"{rec.origin}: {int(bad.sum())} NaN or infinite feature value(s), the first in "
            f"{rec.where(seq, step, feature)}"
        )


def _real(lengths: np.ndarray, timesteps: int) -> np.ndarray:
    """(n, T) bool: the real timesteps of left-aligned sequences."""
    return np.arange(timesteps)[None, :] < np.asarray(lengths)[:, None]


def encode_labels(*recs: Recorded) -> tuple[list[str], list[np.ndarray]]:
    """Labels of any hashable kind as class indices 0..k-1, in sorted order of the labels
    (strings and numbers sort as themselves; a mix sorts by text). Per-timestep labels are
    encoded over real timesteps only."""
    values = []
    for rec in recs:
        labels = np.asarray(rec.labels)
        if labels.ndim == 2:
            labels = labels[_real(rec.lengths, labels.shape[1])]
        if labels.dtype.kind == "f":
            if not np.isfinite(labels).all() or (labels != np.round(labels)).any():
                raise DataError(
                    f"{rec.origin}: labels must be classes (integers or strings); these are "
                    "continuous values"
                )
            labels = labels.astype(np.int64)
        values.append(labels)
    everything = np.concatenate(values)
    try:
        classes, codes = np.unique(everything, return_inverse=True)
    except TypeError:  # a mix of types that cannot be compared
        text = everything.astype(str)
        classes, codes = np.unique(text, return_inverse=True)
    names = [str(c) for c in classes.tolist()]
    if len(names) < 2:
        raise DataError(
            f"{recs[0].origin}: every label is {names[0]!r}; classification needs at least 2 "
            "classes"
        )
    encoded, start = [], 0
    for rec, v in zip(recs, values, strict=True):
        part = codes[start : start + len(v)].astype(np.int32)
        start += len(v)
        labels = np.asarray(rec.labels)
        if labels.ndim == 2:
            full = np.zeros(labels.shape, np.int32)
            full[_real(rec.lengths, labels.shape[1])] = part
            part = full
        encoded.append(part)
    return names, encoded


def split(
    n: int,
    fraction: float,
    labels: np.ndarray,
    classes: list[str],
    rng: np.random.Generator,
    key: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held out): a seeded split holding out `fraction` of n sequences,
    stratified by class for per-sequence labels (each class keeps its share on both sides).
    key is the config key named in errors."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    # Classes per sequence: stratified; per timestep, or real values: a plain random split.
    stratify = labels if labels.ndim == 1 and labels.dtype.kind in "iu" else None
    if stratify is not None:
        counts = np.bincount(stratify, minlength=len(classes))
        small = [c for c in np.flatnonzero(counts) if counts[c] < 2]
        if small:
            c = small[0]
            raise DataError(
                f"{key}={fraction}: class {classes[c]!r} has {counts[c]} sequence(s); a "
                "stratified split needs at least 2 of every class"
            )
    held = max(1, round(n * fraction))
    if held >= n:
        raise DataError(f"{key}={fraction}: holds out all {n} sequences; lower it")
    present = int((np.bincount(stratify) > 0).sum()) if stratify is not None else 1
    if stratify is not None and (held < present or n - held < present):
        raise DataError(
            f"{key}={fraction}: {held} of {n} sequences cannot hold all {present} classes on "
            "both sides of a stratified split; change the fraction"
        )
    seed = int(rng.integers(2**31 - 1))
    kept, out = train_test_split(idx, test_size=held, stratify=stratify, random_state=seed)
    return np.sort(kept), np.sort(out)


def _subset(rec: Recorded, y: np.ndarray, idx: np.ndarray) -> tuple[Recorded, np.ndarray]:
    return replace(rec, x=rec.x[idx], lengths=rec.lengths[idx], labels=rec.labels[idx]), y[idx]


def zscore(train: Recorded) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation over the training split's real timesteps (a
    constant feature gets deviation 1, so it maps to 0 rather than to NaN)."""
    values = train.x[_real(train.lengths, train.x.shape[1])]
    mean, std = values.mean(axis=0), values.std(axis=0)
    return mean, np.where(std > 0, std, 1.0)


def instance_zscore(rec: Recorded) -> np.ndarray:
    """Every sequence scaled on its own: per feature, mean 0 and deviation 1 over its real
    timesteps (a constant feature maps to 0); padded steps stay 0."""
    real = _real(rec.lengths, rec.x.shape[1])[..., None]
    count = np.maximum(real.sum(axis=1, keepdims=True), 1)
    mean = np.where(real, rec.x, 0.0).sum(axis=1, keepdims=True) / count
    var = (np.where(real, rec.x - mean, 0.0) ** 2).sum(axis=1, keepdims=True) / count
    std = np.sqrt(var)
    return np.where(real, (rec.x - mean) / np.where(std > 0, std, 1.0), 0.0)


def pad(
    rec: Recorded, y: np.ndarray, timesteps: int, padding: Padding, pad_value: float
) -> Sequences:
    """Left-aligned sequences of any stored width as (n, timesteps, F) float32, padded after
    (post) or before (pre) the real timesteps, with their mask."""
    n, width, features = rec.x.shape
    lengths = np.asarray(rec.lengths)
    src = _real(lengths, width)
    steps = np.arange(timesteps)[None, :]
    if padding is Padding.post:
        mask = steps < lengths[:, None]
    else:
        mask = steps >= (timesteps - lengths)[:, None]
    x = np.full((n, timesteps, features), pad_value, np.float32)
    x[mask] = rec.x[src]
    kind = np.float32 if y.dtype.kind == "f" else np.int32  # regression targets stay real
    if y.ndim == 2:
        labels = np.zeros((n, timesteps), kind)
        labels[mask] = y[src]
        y = labels
    return Sequences(x, y.astype(kind), mask)


def prepare(loaded: Loaded, cfg: FixedDataConfig, seed: int) -> Dataset:
    """Split, normalise and pad what a source loaded (module docstring)."""
    train, test = loaded.train, loaded.test
    for rec in (train, test):
        if rec is not None:
            check(rec)
    if test is not None and test.x.shape[2] != train.x.shape[2]:
        raise DataError(
            f"{test.origin}: {test.x.shape[2]} features per timestep, but the training data "
            f"({train.origin}) has {train.x.shape[2]}"
        )
    if test is not None and np.asarray(test.labels).ndim != np.asarray(train.labels).ndim:
        raise DataError(
            f"{test.origin}: labels per {'timestep' if test.labels.ndim == 2 else 'sequence'}, "
            f"but the training data has them per "
            f"{'timestep' if train.labels.ndim == 2 else 'sequence'}"
        )
    recs = [r for r in (train, test) if r is not None]
    regression = is_regression(recs, cfg.task)
    classes, encoded = real_targets(*recs) if regression else encode_labels(*recs)
    y_train = encoded[0]
    rng = np.random.default_rng(seed)
    sources = loaded.sources
    if test is None:
        # The test split is cut from the training data: its files serve both.
        sources = [replace(src, context="training,testing") for src in sources]
        fraction = DEFAULT_TEST if cfg.test is None else cfg.test
        kept, held = split(len(train.x), fraction, y_train, classes, rng, "dataset.test")
        test, y_test = _subset(train, y_train, held)
        train, y_train = _subset(train, y_train, kept)
    elif cfg.test is not None:
        raise DataError(
            f"dataset.test={cfg.test}: {test.origin} is the source's own test split; set "
            "dataset.test=null to use it"
        )
    else:
        y_test = encoded[1]
    validation = y_val = None
    if cfg.validation:
        kept, held = split(
            len(train.x), cfg.validation, y_train, classes, rng, "dataset.validation"
        )
        validation, y_val = _subset(train, y_train, held)
        train, y_train = _subset(train, y_train, kept)

    parts = [(train, y_train), (validation, y_val), (test, y_test)]
    normalization = None
    if cfg.normalize is Normalize.zscore:
        mean, std = zscore(train)
        parts = [
            (None, None) if rec is None else
            (replace(rec, x=(rec.x - mean) / std), y)
            for rec, y in parts
        ]  # fmt: skip
        normalization = {"mean": mean.tolist(), "std": std.tolist()}
    if cfg.normalize is Normalize.instance:
        parts = [(None, None) if rec is None else (replace(rec, x=instance_zscore(rec)), y)
                 for rec, y in parts]  # fmt: skip
    target_scale = None
    if regression:
        target_scale = target_statistics(train, y_train)
        mean, std = target_scale
        parts = [(rec, None if y is None else ((y - mean) / std).astype(np.float32))
                 for rec, y in parts]  # fmt: skip
    lengths = np.concatenate([rec.lengths for rec, _ in parts if rec is not None])
    timesteps = int(lengths.max())
    masked = bool((lengths != timesteps).any())
    splits = [
        None if rec is None else pad(rec, y, timesteps, cfg.padding, cfg.pad_value)
        for rec, y in parts
    ]
    if masked:
        for name, seqs in zip(("training", "validation", "test"), splits, strict=True):
            if seqs is not None:
                _check_pad_value(seqs, cfg.pad_value, name)
    task = Task(
        name=loaded.name,
        timesteps=timesteps,
        features=train.x.shape[2],
        classes=len(classes),
        per_timestep=np.asarray(train.labels).ndim == 2,
        masked=masked,
        pad_value=cfg.pad_value,
        regression=regression,
    )
    return Dataset(
        task=task,
        train=splits[0],
        validation=splits[1],
        test=splits[2],
        classes=classes,
        sources=sources,
        normalization=normalization,
        target_scale=target_scale,
    )


def is_regression(recs: list[Recorded], kind: TaskKind) -> bool:
    """dataset.task, or (auto) what the labels say: floating-point values that are not all
    whole numbers are real-valued targets."""
    if kind is not TaskKind.auto:
        return kind is TaskKind.regression
    for rec in recs:
        labels = np.asarray(rec.labels)
        if labels.ndim == 2:
            labels = labels[_real(rec.lengths, labels.shape[1])]
        if labels.dtype.kind == "f" and (
            not np.isfinite(labels).all() or (labels != np.round(labels)).any()
        ):
            return True
    return False


def real_targets(*recs: Recorded) -> tuple[list[str], list[np.ndarray]]:
    """Regression targets as float64 (per-timestep ones 0 at padded steps): no classes. A
    missing or infinite target, or one that is not a number, is a DataError naming it."""
    out = []
    for rec in recs:
        try:
            labels = np.asarray(rec.labels, np.float64)
        except (TypeError, ValueError):
            raise DataError(
                f"{rec.origin}: dataset.task=regression needs numeric targets; these are "
                f"{np.asarray(rec.labels).dtype} values"
            ) from None
        real = (_real(rec.lengths, labels.shape[1]) if labels.ndim == 2
                else np.ones(len(labels), bool))  # fmt: skip
        bad = ~np.isfinite(labels) & real
        if bad.any():
            where = np.nonzero(bad)
            seq = int(where[0][0])
            step = int(where[1][0]) if labels.ndim == 2 else None
            raise DataError(
                f"{rec.origin}: {int(bad.sum())} NaN or infinite target(s), the first of "
                f"{rec.where(seq, step)}"
            )
        out.append(np.where(real, labels, 0.0))
    return [], out


def target_statistics(train: Recorded, y: np.ndarray) -> tuple[float, float]:
    """The training split's target mean and standard deviation (over real timesteps; a
    constant target gets deviation 1)."""
    values = y[_real(train.lengths, y.shape[1])] if y.ndim == 2 else y
    mean, std = float(values.mean()), float(values.std())
    return mean, std if std > 0 else 1.0


def _check_pad_value(seqs: Sequences, pad_value: float, split_name: str) -> None:
    """Masking drops every timestep whose features all equal the pad value: no real one may."""
    clash = (seqs.x == pad_value).all(axis=-1) & seqs.mask
    if clash.any():
        seq, step = (int(v[0]) for v in np.nonzero(clash))
        raise DataError(
            f"dataset.pad_value={pad_value}: sequence {seq} of the {split_name} split has a real "
            f"timestep ({step}) whose every feature equals it, which masking would drop; choose "
            "another dataset.pad_value"
        )
