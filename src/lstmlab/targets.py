"""A config's ``_target_``: a dotted path to a user's callable (dataset=custom, model=custom),
resolved to the callable or to a one-line error naming the key. (Hydra's own resolver logs
every failure at length; a config error here is one line.)

Modules are looked up on Python's path and in the working directory, as ``python -m`` would:
a project run from its own folder finds its own modules without installing them.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable
from typing import Any

from lstmlab.errors import ConfigError


def resolve(key: str, path: str) -> Callable[..., Any]:
    """The callable at `path` (``package.module.function``); ConfigError if it cannot be
    imported or is not callable."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.append(cwd)
    parts = str(path).split(".")
    found: Any = None
    # The longest importable module prefix, then attributes.
    for i in range(len(parts), 0, -1):
        name = ".".join(parts[:i])
        try:
            found = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and not name.startswith(exc.name):
                raise ConfigError(key, path, f"cannot be imported: {exc}") from None
            continue
        except Exception as exc:  # noqa: BLE001 (the user's module failed to import)
            reason = f"importing {name} raised {type(exc).__name__}: {exc}".splitlines()[0]
            raise ConfigError(key, path, f"cannot be imported: {reason}") from None
        for attr in parts[i:]:
            if not hasattr(found, attr):
                raise ConfigError(key, path, f"cannot be imported: {name} has no {attr!r}")
            found, name = getattr(found, attr), f"{name}.{attr}"
        break
    else:
        raise ConfigError(key, path, f"cannot be imported: no module named {parts[0]!r}")
    if not callable(found) or inspect.ismodule(found):
        raise ConfigError(key, path, f"is a {type(found).__name__}, not a callable")
    return found


def describe(fn: Callable[..., Any]) -> str:
    """module.qualname of a callable, for names and messages."""
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
