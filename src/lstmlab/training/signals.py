"""SIGINT and SIGTERM as a stop between training chunks."""

from __future__ import annotations

import signal
from types import FrameType


class Stopped(KeyboardInterrupt):
    """The run was asked to stop by a signal; tracking ends it KILLED."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


class GracefulStop:
    """Within the block, the first SIGINT or SIGTERM only sets a flag: the compiled chunk in
    flight finishes and its metrics are logged, then :meth:`check` raises :class:`Stopped`, so
    the run ends KILLED with every step it trained logged. A second signal stops at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}
        self._outer: GracefulStop | None = None

    def __enter__(self) -> GracefulStop:
        global _main
        try:
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        except ValueError:
            # Not the main thread (a seed of a stack): signals stay as they were, and the
            # main thread's stop, if one is in place, is this one's too.
            self._outer = _main
        else:
            self._outer, _main = _main, self
        return self

    def __exit__(self, *exc: object) -> None:
        global _main
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        if self._previous:
            _main = self._outer

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise Stopped(signum)
        self.signum = signum

    def check(self) -> None:
        signum = self.signum
        if signum is None and not self._previous and self._outer is not None:
            signum = self._outer.signum
        if signum is not None:
            raise Stopped(signum)


# The GracefulStop in place on the main thread, if any.
_main: GracefulStop | None = None
