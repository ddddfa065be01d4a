"""What the file sources share: resolving a path, and the digest that identifies its content."""

from __future__ import annotations

import hashlib
from pathlib import Path

from lstmlab.data.sequences import DataError


def existing_file(path: str, key: str) -> Path:
    """The file a config key names, or a DataError that says what is wrong with it."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"{key}={path}: no such file")
    if not p.is_file():
        raise DataError(f"{key}={path}: not a file")
    try:
        with p.open("rb"):
            pass
    except OSError as exc:
        raise DataError(f"{key}={path}: cannot be read ({exc.strerror})") from None
    return p.resolve()


def digest(path: Path) -> str:
    """The first 12 hex digits of the file's SHA-256: the same content, the same digest."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]
