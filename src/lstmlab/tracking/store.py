"""Whether a tracking store can be used at all, asked before any work: MLflow's client would
retry an unreachable server for minutes, and sqlite fails only at the first write."""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path


class StoreUnavailable(RuntimeError):
    """The tracking store cannot be reached or written; the message is one line."""


def check_store(uri: str, timeout: float = 5.0) -> None:
    """Fail fast, before any work, on a store that cannot be used: MLflow's client would retry
    an unreachable server for minutes, and sqlite fails only at the first write."""
    if uri.startswith(("http://", "https://")):
        base = uri.rstrip("/")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=timeout):
                pass
        except OSError as exc:
            reason = getattr(exc, "reason", exc)
            raise StoreUnavailable(
                f"tracking.uri={uri}: no MLflow server answers ({reason}); start one or set "
                "tracking.uri to another store"
            ) from None
        # An API call, sent the way MLflow's client sends its own (its credentials from the
        # environment or ~/.mlflow/credentials, its TLS settings): a server behind
        # authentication answers /health to anyone.
        from mlflow.exceptions import MlflowException
        from mlflow.utils.credentials import get_default_host_creds
        from mlflow.utils.rest_utils import http_request

        creds = get_default_host_creds(base)
        try:
            response = http_request(
                creds, "/api/2.0/mlflow/experiments/search", "GET", max_retries=0,
                timeout=timeout, raise_on_status=False, params={"max_results": 1},
            )  # fmt: skip
        except MlflowException as exc:
            raise StoreUnavailable(
                f"tracking.uri={uri}: the server did not answer an API call "
                f"({str(exc.message).splitlines()[0]})"
            ) from None
        if response.status_code != 200:
            given = bool((creds.username and creds.password) or creds.token)
            raise StoreUnavailable(f"tracking.uri={uri}: {_refusal(response.status_code, given)}")
    elif uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        if not db.parent.is_dir():
            raise StoreUnavailable(f"tracking.uri={uri}: folder {db.parent} does not exist")
        if not os.access(db if db.exists() else db.parent, os.W_OK):
            raise StoreUnavailable(f"tracking.uri={uri}: {db} is not writable")


_CREDENTIALS = "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN"


def _refusal(code: int, credentials: bool) -> str:
    """What an HTTP error of the probe means, in words (never the credentials themselves)."""
    if code == 401 and credentials:
        return f"the server refused the credentials (401) in {_CREDENTIALS}"
    if code == 401:
        return f"the server asks for credentials (401): set {_CREDENTIALS}"
    if code == 403:
        return "the credentials given may not read experiments (403)"
    return f"the server answered {code}"


def sqlite_file(uri: str) -> Path | None:
    """The database file of a sqlite store URI (``sqlite:///path?opts``), or None for any other
    store (a server, PostgreSQL) and for an in-memory database."""
    if not uri.startswith("sqlite:///"):
        return None
    db = uri.removeprefix("sqlite:///").split("?")[0]
    return None if db in ("", ":memory:") else Path(db)


def artifact_root(uri: str) -> str | None:
    """Where the experiments lstmlab creates on a sqlite store keep their files: a folder
    ``mlartifacts`` beside the store file, as a ``file://`` URI. MLflow's own default,
    ``./mlruns``, is relative to whatever directory the first command ran in, so a later run
    from elsewhere (or the store file copied to another machine) would not find it beside the
    store. None for other stores: a server decides its artifact root itself."""
    db = sqlite_file(uri)
    return None if db is None else (db.resolve().parent / "mlartifacts").as_uri()
