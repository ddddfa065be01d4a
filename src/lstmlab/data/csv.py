"""dataset=csv: sequences in long format, one row per timestep.

Rows with the same ``id_column`` value form a sequence, ordered by ``time_column`` (or by
their order in the file). ``label_column`` constant within every sequence gives one label per
sequence; varying within one gives a label per timestep. Features: ``feature_columns``, or
every other column. ``test_path``: a second file in the same format, the fixed test split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lstmlab.config import CsvConfig
from lstmlab.data.files import digest, existing_file
from lstmlab.data.sequences import DataError, Loaded, Recorded, Source


def _read(path: Path, key: str):
    import pandas as pd

    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0]
        raise DataError(f"{key}={path}: not a readable CSV file ({reason})") from None


def _features(cfg: CsvConfig, columns: list[str]) -> list[str]:
    if cfg.feature_columns is not None:
        return list(cfg.feature_columns)
    special = {cfg.id_column, cfg.time_column, cfg.label_column}
    return [c for c in columns if c not in special]


def _recorded(df, cfg: CsvConfig, path: Path, key: str) -> Recorded:
    where = str(path)
    columns = [str(c) for c in df.columns]
    for role in ("id_column", "label_column", "time_column"):
        column = getattr(cfg, role)
        if column is not None and column not in columns:
            raise DataError(
                f"dataset.{role}={column}: no such column in {where}; columns: "
                + ", ".join(columns)
            )
    features = _features(cfg, columns)
    if not features:
        raise DataError(f"{where}: no feature columns beside the id, time and label columns")
    for column in features:
        if column not in columns:
            raise DataError(
                f"dataset.feature_columns: no column {column!r} in {where}; columns: "
                + ", ".join(columns)
            )
        if df[column].dtype.kind not in "fiub":
            raise DataError(
                f"{where}: feature column {column!r} is not numeric (dtype {df[column].dtype})"
            )
    if df[cfg.id_column].isna().any() or df[cfg.label_column].isna().any():
        column = cfg.id_column if df[cfg.id_column].isna().any() else cfg.label_column
        row = int(np.flatnonzero(df[column].isna().to_numpy())[0])
        raise DataError(f"{where}: column {column!r} is empty in row {row + 2}")
    # Sequences in order of first appearance, rows within one by time (stably) or file order.
    codes, ids = df[cfg.id_column].factorize()
    # np.lexsort sorts by its last key first: sequence, then time, then file order.
    keys = [np.arange(len(df))]
    if cfg.time_column is not None:
        keys.append(df[cfg.time_column].to_numpy())
    order = np.lexsort((*keys, codes))
    codes = codes[order]
    n = int(codes.max()) + 1
    lengths = np.bincount(codes, minlength=n)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    pos = np.arange(len(codes)) - starts[codes]
    values = df[features].to_numpy(np.float64)[order]
    x = np.zeros((n, int(lengths.max()), len(features)))
    x[codes, pos] = values
    raw = df[cfg.label_column].to_numpy()[order]
    per_step = np.empty((n, int(lengths.max())), dtype=raw.dtype)
    per_step[codes, pos] = raw
    first = per_step[:, 0]
    constant = (per_step[codes, pos] == first[codes]).all()
    labels = first if constant else per_step
    return Recorded(x, lengths, labels, where, ids=np.asarray(ids), features=features)


def load(cfg: CsvConfig) -> Loaded:
    path = existing_file(cfg.path, "dataset.path")
    train = _recorded(_read(path, "dataset.path"), cfg, path, "dataset.path")
    name = cfg.name or path.stem
    test = None
    sources = [Source(name, str(path), digest(path), "training")]
    if cfg.test_path is not None:
        test_file = existing_file(cfg.test_path, "dataset.test_path")
        test = _recorded(_read(test_file, "dataset.test_path"), cfg, test_file,
                         "dataset.test_path")  # fmt: skip
        sources.append(Source(name, str(test_file), digest(test_file), "testing"))
    return Loaded(name, train, test, sources)
