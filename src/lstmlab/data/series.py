"""dataset=series: one time series or many, to forecast, from a CSV file (one row per
timestep; ``id_column`` names each row's series) or from the forecasting sets aeon ships
(read offline from aeon's folder).

Reading checks what forecasting needs of the file: every named column exists, the time column
has no gap, duplicate or step out of order within a series, and no target or feature is
missing; each error names the file, the column and the row. Windows, splits and transforms
are lstmlab.data.windows' work.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lstmlab.config import SeriesConfig
from lstmlab.data.files import digest, existing_file
from lstmlab.data.sequences import DataError, Source
from lstmlab.data.windows import Table

# aeon's forecasting sets: file in aeon's data folder, time column, default target, and
# columns renamed (Lynx's file has no header names) or dropped (a saved pandas index).
AEON_SETS = {
    "Airline": ("Airline/Airline.csv", "Date", "Passengers", {}),
    "ShampooSales": ("ShampooSales/ShampooSales.csv", "Time", "Sales", {}),
    "Lynx": ("Lynx/Lynx.csv", "Year", "Lynx", {"Unnamed: 0": "Year", "0": "Lynx"}),
    "Longley": ("Longley/Longley.csv", "YEAR", "TOTEMP", {"Obs": None}),
    "Uschange": ("Uschange/Uschange.csv", "Quarter", "Consumption", {"Unnamed: 0": None}),
    "PBS_dataset": ("PBS_dataset/PBS_dataset.csv", "Month", "Scripts", {}),
    "solar": ("solar/solar.csv", "datetime_gmt", "solar_gen", {}),
}

# Natural seasons by the spacing of the time column: months per step, or seconds per step.
_SEASON_BY_MONTHS = {1: 12, 3: 4}
_SEASON_BY_SECONDS = {86400: 7, 3600: 24, 1800: 48, 900: 96}


def load(cfg: SeriesConfig) -> Table:
    """The series a config names, read and checked; DataError (one line) when unusable."""
    import pandas as pd

    renamed: dict = {}
    if cfg.path is not None:
        path = existing_file(cfg.path, "dataset.path")
        time_column, default_target = cfg.time_column, None
        name = cfg.name or path.stem
    else:
        from lstmlab.data import uea

        if cfg.name not in AEON_SETS:
            raise DataError(
                f"dataset.name={cfg.name}: not a forecasting set aeon ships; "
                f"available: {', '.join(AEON_SETS)} (or give dataset.path)"
            )
        if uea.data_dir() is None:
            raise DataError("dataset.name needs aeon, an optional extra: run `make install`")
        file, time_column, default_target, renamed = AEON_SETS[cfg.name]
        path = uea.data_dir() / file
        time_column = cfg.time_column or time_column
        name = cfg.name
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0]
        raise DataError(f"dataset.path={path}: not a readable CSV file ({reason})") from None
    df = df.drop(columns=[c for c, new in renamed.items() if new is None and c in df])
    df = df.rename(columns={c: new for c, new in renamed.items() if new is not None})
    target = cfg.target if cfg.target is not None else default_target
    targets = [target] if isinstance(target, str) else [str(t) for t in target]
    where = str(path)
    columns = [str(c) for c in df.columns]
    for key, names in (
        ("target", targets),
        ("features", cfg.features),
        ("past_features", cfg.past_features),
        ("time_column", [time_column] if time_column else []),
        ("id_column", [cfg.id_column] if cfg.id_column else []),
    ):
        for column in names:
            if column not in columns:
                raise DataError(
                    f"dataset.{key}: no column {column!r} in {where}; columns: "
                    + ", ".join(columns)
                )
    for column in [*targets, *cfg.features, *cfg.past_features]:
        if df[column].dtype.kind not in "fiub":
            raise DataError(f"{where}: column {column!r} is not numeric (dtype {df[column].dtype})")
        missing = np.flatnonzero(~np.isfinite(df[column].to_numpy(np.float64)))
        if missing.size:
            raise DataError(
                f"{where}: column {column!r} has no value (NaN or infinite) in row {missing[0] + 2}"
            )
    codes, ids = (
        df[cfg.id_column].factorize()
        if cfg.id_column
        else (np.zeros(len(df), np.int64), np.array([name]))
    )
    if time_column is not None:
        steps, unit = _clock(df[time_column], time_column, where)
        labels = df[time_column].astype(str).to_numpy()
    else:
        steps, unit = np.arange(len(df)), None
        labels = np.arange(len(df)).astype(str)
    step = _spacing(steps, codes) if unit is not None else 1
    table = Table(
        name=name,
        targets=targets,
        features=list(cfg.features),
        past_features=list(cfg.past_features),
        ids=[str(i) for i in ids],
        season=_season(unit, step),
        sources=[Source(name, str(path), digest(Path(path)), "training,testing")],
    )
    for code in range(len(ids)):
        rows = np.flatnonzero(codes == code)
        if unit is not None:
            _check_steps(
                steps[rows], rows, step, df[time_column].to_numpy()[rows], time_column, where
            )
        table.y.append(df[targets].to_numpy(np.float64)[rows])
        table.future.append(df[list(cfg.features)].to_numpy(np.float64)[rows])
        table.past.append(df[list(cfg.past_features)].to_numpy(np.float64)[rows])
        table.times.append(labels[rows])
        table.rows.append(rows + 2)
    return table


def _clock(column, key: str, where: str) -> tuple[np.ndarray, str]:
    """The time column as whole steps: ("number", the values), ("months", months since year
    0) for dates on the same day of every month or on month ends, or ("seconds", seconds)."""
    import pandas as pd

    values = column.to_numpy()
    if column.dtype.kind in "iu" or (
        column.dtype.kind == "f" and np.all(values == np.round(values))
    ):
        return values.astype(np.int64), "number"
    try:
        stamps = pd.to_datetime(column, format="mixed")
    except (ValueError, TypeError):
        try:  # quarters ("1970 Q1") and other periods pandas names
            stamps = pd.Series([pd.Period(str(v).replace(" ", "")).to_timestamp() for v in values])
        except (ValueError, TypeError):
            raise DataError(
                f"{where}: dataset.time_column={key}: {values[0]!r} is neither a number nor a date"
            ) from None
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert(None)
    midnight = (stamps.dt.normalize() == stamps).all()
    monthly = midnight and (stamps.dt.day.nunique() == 1 or stamps.dt.is_month_end.all())
    if monthly:
        return (stamps.dt.year * 12 + stamps.dt.month - 1).to_numpy(np.int64), "months"
    # Whole seconds whatever the resolution pandas parsed to (ns, us, ...).
    seconds = (stamps - pd.Timestamp(0)) // pd.Timedelta(seconds=1)
    return seconds.to_numpy(np.int64), "seconds"


def _spacing(steps: np.ndarray, codes: np.ndarray) -> int:
    """The data's step: the smallest positive spacing within any series."""
    order = np.lexsort((np.arange(len(steps)), codes))
    diffs = np.diff(steps[order])[np.diff(codes[order]) == 0]
    positive = diffs[diffs > 0]
    return int(positive.min()) if positive.size else 1


def _season(unit: str | None, step: int) -> int | None:
    if unit == "months":
        return _SEASON_BY_MONTHS.get(step)
    if unit == "seconds":
        return _SEASON_BY_SECONDS.get(step)
    return None


def _check_steps(steps, rows, step: int, shown, key: str, where: str) -> None:
    """One series' time column: strictly increasing by `step` (its first fault named)."""
    diffs = np.diff(steps)
    bad = np.flatnonzero(diffs != step)
    if not bad.size:
        return
    i = int(bad[0])
    row, value, before = rows[i + 1] + 2, shown[i + 1], shown[i]
    if diffs[i] == 0:
        what = f"a duplicate timestamp {value!r} (as in row {rows[i] + 2})"
    elif diffs[i] < 0:
        what = f"timestamp {value!r} out of order (after {before!r}); sort the file by time"
    else:
        what = f"a gap: {value!r} follows {before!r}; fill the missing steps"
    raise DataError(f"{where}: dataset.time_column={key}: row {row} has {what}")
