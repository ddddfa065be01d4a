"""dataset=npz: sequences in a NumPy ``.npz`` file.

Arrays: ``x`` (n, T, F) numbers; ``y`` (n,) one class per sequence or (n, T) one per timestep,
labels of any kind (integers, strings); optional ``lengths`` (n,) for padded variable-length
sequences (sequence i is ``x[i, :lengths[i]]``); optional ``x_test``, ``y_test`` (and
``lengths_test``) for a fixed test split.
"""

from __future__ import annotations

import zipfile

import numpy as np

from lstmlab.config import NpzConfig
from lstmlab.data.files import digest, existing_file
from lstmlab.data.sequences import DataError, Loaded, Recorded, Source


def _array(arrays: dict[str, np.ndarray], key: str, where: str) -> np.ndarray | None:
    value = arrays.get(key)
    if value is None:
        return None
    if value.dtype.kind == "O":
        raise DataError(f"{where}: array {key!r} holds Python objects; store numbers or strings")
    return value


def _recorded(arrays: dict[str, np.ndarray], suffix: str, where: str) -> Recorded:
    xk, yk, lk = f"x{suffix}", f"y{suffix}", f"lengths{suffix}"
    x, y = _array(arrays, xk, where), _array(arrays, yk, where)
    if x is None or y is None:
        missing = xk if x is None else yk
        raise DataError(f"{where}: no array {missing!r} (arrays: {', '.join(sorted(arrays))})")
    if x.ndim != 3:
        raise DataError(f"{where}: array {xk!r} has shape {x.shape}; expected (n, T, F)")
    if x.dtype.kind not in "fiub":
        raise DataError(f"{where}: array {xk!r} has dtype {x.dtype}; expected numbers")
    n, timesteps = x.shape[:2]
    if y.ndim not in (1, 2):
        raise DataError(
            f"{where}: array {yk!r} has shape {y.shape}; expected (n,) per sequence or (n, T) "
            "per timestep"
        )
    if len(y) != n:
        raise DataError(f"{where}: {xk!r} has {n} sequences but {yk!r} has {len(y)} labels")
    if y.ndim == 2 and y.shape[1] != timesteps:
        raise DataError(
            f"{where}: {yk!r} has {y.shape[1]} labels per sequence but {xk!r} has {timesteps} "
            "timesteps"
        )
    lengths = _array(arrays, lk, where)
    if lengths is None:
        lengths = np.full(n, timesteps)
    elif lengths.shape != (n,) or lengths.dtype.kind not in "iu":
        raise DataError(
            f"{where}: array {lk!r} has shape {lengths.shape} and dtype {lengths.dtype}; "
            f"expected ({n},) integers"
        )
    return Recorded(x.astype(np.float64), lengths.astype(np.int64), y, f"{where} ({xk})")


def load(cfg: NpzConfig) -> Loaded:
    path = existing_file(cfg.path, "dataset.path")
    where = str(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"dataset.path={cfg.path}: not a readable .npz file ({reason})") from None
    train = _recorded(arrays, "", where)
    test = None
    if "x_test" in arrays or "y_test" in arrays:
        test = _recorded(arrays, "_test", where)
    both = "training,testing" if test is not None else "training"
    name = cfg.name or path.stem
    return Loaded(name, train, test, [Source(name, where, digest(path), both)])
