"""A run's writes performed in order by one background thread, so that training never waits
for the store, and kept on disk (lstmlab.tracking.spool) while the store does not answer."""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

from lstmlab.tracking.console import in_this_job


def unreachable(exc: BaseException) -> bool:
    """Whether a failed write failed because the store did not answer (a server that is down
    or restarting), not because the store refused it."""
    text = str(exc)
    return any(sign in text for sign in (
        "Max retries exceeded", "Connection refused", "Connection aborted",
        "RemoteDisconnected", "Read timed out", "Name or service not known",
    ))  # fmt: skip


class StoreGone(RuntimeError):
    """The tracking store did not answer again in time; the writes left wait in a spool."""

    def __init__(self, folder: Path, lost: list[str]):
        self.folder, self.lost = folder, lost
        super().__init__(f"the run's remaining writes wait in {folder}")


def gone_message(uri: str, wait: float | None, gone: StoreGone) -> str:
    """What to do about a run whose store did not come back: one line."""
    lost = f" (not kept: {', '.join(gone.lost)})" if gone.lost else ""
    return (f"the tracking store {uri} did not answer for {wait:g} s; the run's remaining "
            f"writes wait in {gone.folder}{lost}: run `lstmlab-sync {gone.folder}` once it "
            "is back")  # fmt: skip


class Write:
    """One write to the store: the call, and (where it can wait on disk) its spool record, or
    what makes the record when it is needed (a model is saved to a file only then)."""

    def __init__(
        self,
        call: Callable[[], None],
        record: dict[str, Any] | Callable[[], dict[str, Any]] | None,
        what: str,
    ):
        self.call, self.record, self.what = call, record, what

    def spooled(self) -> dict[str, Any] | None:
        return self.record() if callable(self.record) else self.record


class Writer:
    """One background thread that performs a run's writes in order, so that training does not
    wait for the store (a sqlite file, or a server that may be slow or briefly gone).

    While the store answers, training waits once the writer is more than :attr:`BACKLOG`
    writes behind (a store slower than training would otherwise pile up memory). While it does
    not (no write finished for :attr:`STALLED` seconds: a server down or restarting), training
    goes on: writes queue in memory, and per-step metric batches past the backlog go to a spool
    folder (lstmlab.tracking.spool); a write that failed for want of an answer is tried again every
    :attr:`RETRY` seconds. When the store answers again, everything is sent, the spool last.
    :meth:`flush` with a deadline gives up on a store that has not come back: the writes left go
    to the spool (StoreGone). Any other failure is raised again by the next :meth:`put` or by
    :meth:`flush`."""

    BACKLOG = 8
    STALLED = 2.0
    RETRY = 1.0

    def __init__(self, client: MlflowClient, run_id: str) -> None:
        self._client, self._run_id = client, run_id
        self._jobs: deque[Write | None] = deque()
        self._cond = threading.Condition()
        self._error: BaseException | None = None
        self._current: Write | None = None  # the write under way
        self._progress = time.monotonic()  # when the last write finished
        self._abandoned = False
        self._spool: Any = None  # lstmlab.tracking.spool.Spool, made when first needed
        self._spooled = 0  # metric batches in the spool, not sent yet
        self._thread = threading.Thread(target=in_this_job(self._work), name="lstmlab-writer",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def _stalled(self) -> bool:
        busy = bool(self._jobs) or self._current is not None
        return busy and time.monotonic() - self._progress > self.STALLED

    def _work(self) -> None:
        while True:
            with self._cond:
                if not self._jobs and not self._spooled:
                    while not self._jobs and not self._spooled:
                        self._cond.wait()
                    self._progress = time.monotonic()  # idle until now, not stalled
                # The spool is sent once memory is empty, and before the writer stops.
                if self._jobs and not (self._jobs[0] is None and self._spooled):
                    job = self._jobs.popleft()
                else:
                    job = Write(self._replay, None, "the spool")
                if job is None:
                    return
                self._current = job
            try:
                if self._error is None and not self._abandoned:
                    self._run(job.call)
            except BaseException as exc:  # noqa: BLE001 (kept, raised in the caller's thread)
                if not self._abandoned:
                    self._error = exc
            finally:
                with self._cond:
                    self._current = None
                    self._progress = time.monotonic()
                    self._cond.notify_all()

    def _run(self, call: Callable[[], None]) -> None:
        while True:
            try:
                call()
                return
            except Exception as exc:
                if not unreachable(exc) or self._abandoned:
                    raise
                time.sleep(self.RETRY)

    def _replay(self) -> None:
        """Send the spool's metric batches (memory is empty), then remove it."""
        from lstmlab.tracking.spool import replay

        with self._cond:
            spool, self._spool, count, self._spooled = self._spool, None, self._spooled, 0
        replay(spool.folder, self._client)
        print(f"lstmlab: the tracking store answers again; sent the {count} metric batch(es) "
              "kept on disk", file=sys.stderr, flush=True)  # fmt: skip

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def put(self, job: Write) -> None:
        self._raise()
        with self._cond:
            while len(self._jobs) >= self.BACKLOG and not self._stalled():
                self._cond.wait(0.1)
            spillable = isinstance(job.record, dict) and job.record.get("metrics")
            if len(self._jobs) >= self.BACKLOG and spillable:
                self._spool_record(job.record)
                self._spooled += 1
            else:
                self._jobs.append(job)
            self._cond.notify_all()

    def _open_spool(self) -> Any:
        if self._spool is None:
            from lstmlab.tracking.spool import Spool

            self._spool = Spool(self._client.tracking_uri, self._run_id)
        return self._spool

    def _spool_record(self, record: dict[str, Any]) -> None:
        if self._spool is None:
            print(f"lstmlab: the tracking store does not answer; training goes on, metrics "
                  f"wait in {self._open_spool().folder}", file=sys.stderr, flush=True)  # fmt: skip
        self._spool.add(record)

    def flush(self, wait: float | None = None, give_up: bool = True) -> None:
        """Wait until every write so far is done (the spool's included). wait: after this many
        seconds without the store answering, give up and keep the writes left in the spool
        (StoreGone), or (give_up=False) just stop waiting."""
        with self._cond:
            while self._jobs or self._current is not None or self._spooled:
                if wait is not None and time.monotonic() - self._progress > wait:
                    if give_up:
                        raise self._give_up()
                    return
                self._cond.wait(0.5)
        self._raise()

    def _give_up(self) -> StoreGone:
        """(Holding the lock.) Every write left, the one under way first, to the spool."""
        self._abandoned = True
        left = [j for j in (self._current, *self._jobs) if j is not None]
        self._jobs.clear()
        lost = []
        for job in left:
            record = job.spooled()
            if record is None:
                lost.append(job.what)
            elif job.what != "the spool":
                self._spool_record(record)
        self._spooled = 0
        return StoreGone(self._open_spool().folder, lost)

    def spool_end(self, record: dict[str, Any]) -> None:
        """After StoreGone: the run's end, last in the spool."""
        self._spool.add(record)

    def close(self) -> None:
        with self._cond:
            self._jobs.append(None)
            self._cond.notify_all()
        if not self._abandoned:
            self._thread.join()
