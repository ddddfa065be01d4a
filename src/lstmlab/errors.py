"""The error every layer raises for a config value that cannot work: its own module, so that
config (which validates) and targets (which imports users' code) share it without importing
each other."""

from __future__ import annotations

from enum import Enum
from typing import Any


class ConfigError(ValueError):
    """A config value that cannot work; the message is one line naming key, value and rule."""

    def __init__(self, key: str, value: Any, allowed: str):
        shown = value.value if isinstance(value, Enum) else value
        super().__init__(f"{key}={shown}: {allowed}")
        self.key = key
