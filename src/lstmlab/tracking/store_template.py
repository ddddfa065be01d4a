"""A new sqlite MLflow store starts as a copy of an empty one.

MLflow builds a new sqlite store's tables by running every one of its schema migrations
(~2.2 s on the 2-core machine, each time: every test's store, a sweep's first contact, a
researcher's first run). The result depends only on MLflow's version, so lstmlab builds it once
per version, with MLflow's own code, and copies it. The copy holds tables and no experiment:
MLflow creates the Default experiment when it first opens the copy, with the artifact location
it would have given it on a store of its own making.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from lstmlab.config import PROJECT_ROOT

FOLDER = PROJECT_ROOT / ".cache" / "mlflow"


def template() -> Path:
    """The empty store of this MLflow version, built on first use (atomically: processes that
    build it at once each write their own file and the last rename wins, all equal)."""
    import mlflow
    from mlflow.store.db.utils import _initialize_tables, create_sqlalchemy_engine_with_retry

    path = FOLDER / f"empty-store-mlflow{mlflow.__version__}.db"
    if path.exists():
        return path
    FOLDER.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=FOLDER, prefix=".building-", suffix=".db")
    os.close(fd)
    try:
        engine = create_sqlalchemy_engine_with_retry(f"sqlite:///{tmp}")
        try:
            _initialize_tables(engine)  # what MLflow runs on a store without tables
        finally:
            engine.dispose()
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def seed(db: Path) -> bool:
    """Copy the empty store to db if there is no store there yet (the caller holds the store's
    lock). False when db exists already, or when the template cannot be kept (a read-only
    checkout): MLflow then builds the tables itself, as it would without lstmlab."""
    if db.exists() and db.stat().st_size > 0:
        return False
    try:
        shutil.copyfile(template(), db)
    except OSError:
        return False
    return True
