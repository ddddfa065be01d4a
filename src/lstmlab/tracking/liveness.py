"""Which RUNNING runs still have a process behind them, and lstmlab-doctor, which ends the others.

A run's process can die without a word: SIGKILL, the kernel's OOM killer, a pre-empted node,
a power loss. MLflow then shows the run RUNNING forever. Every run lstmlab creates carries
where it runs (``lstmlab.host``, ``lstmlab.pid`` and the process's start time, which tells a
reused PID apart) and a heartbeat (``lstmlab.heartbeat``, seconds since the epoch, renewed
every :data:`BEAT` seconds while the process lives). A RUNNING run is dead when its process is
gone (on this host), or when its heartbeat is older than ``stale_after`` (on another host).

    lstmlab-doctor                        # the default store's lstmlab experiment: report and fix
    lstmlab-doctor --uri http://127.0.0.1:5000 --dry-run
    lstmlab-doctor --all-experiments --stale-after 30

Resuming a sweep does the same for the sweep's own runs before it continues.
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

HOST = "lstmlab.host"
PID = "lstmlab.pid"
PID_STARTED = "lstmlab.pid_started"
HEARTBEAT = "lstmlab.heartbeat"
# Seconds between heartbeats; a run on another host is dead after stale_after without one.
BEAT = 60.0
STALE_AFTER = 10 * 60.0


def _started(pid: int) -> float | None:
    """When process pid started (seconds since the epoch), None if there is no such process."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        return float("nan")  # it exists; whose it is cannot be told


def this_process() -> dict[str, str]:
    """The tags that say a run is this process's, with a first heartbeat."""
    import os

    pid = os.getpid()
    return {
        HOST: socket.gethostname(),
        PID: str(pid),
        PID_STARTED: f"{_started(pid):.2f}",
        HEARTBEAT: f"{time.time():.0f}",
    }


class Heartbeat:
    """One daemon thread per process that renews the heartbeat of the runs this process has
    open, every :data:`BEAT` seconds (a tag write per run and minute)."""

    _lock = threading.Lock()
    _runs: dict[str, Any] = {}  # run id -> the MlflowClient that writes it
    _thread: threading.Thread | None = None

    @classmethod
    def add(cls, client: Any, run_id: str) -> None:
        with cls._lock:
            cls._runs[run_id] = client
            if cls._thread is None:
                cls._thread = threading.Thread(target=cls._beat, name="lstmlab-heartbeat",
                                               daemon=True)  # fmt: skip
                cls._thread.start()

    @classmethod
    def remove(cls, run_id: str) -> None:
        with cls._lock:
            cls._runs.pop(run_id, None)

    @classmethod
    def _beat(cls) -> None:
        while True:
            time.sleep(BEAT)
            with cls._lock:
                runs = list(cls._runs.items())
            for run_id, client in runs:
                try:
                    client.set_tag(run_id, HEARTBEAT, f"{time.time():.0f}")
                except Exception:  # noqa: BLE001 (a missed beat is retried in a minute)
                    continue


@dataclass
class Verdict:
    run: Any  # mlflow.entities.Run
    reason: str  # why it is dead
    last_seen: float  # seconds since the epoch: its last heartbeat (or start)


def verdict(run: Any, stale_after: float = STALE_AFTER, now: float | None = None,
            host: str | None = None) -> Verdict | None:  # fmt: skip
    """Why a RUNNING run is dead, or None if its process may still be working on it."""
    if run.info.status != "RUNNING":
        return None
    tags = run.data.tags
    now = time.time() if now is None else now
    host = host or socket.gethostname()
    beat = float(tags.get(HEARTBEAT, run.info.start_time / 1000))
    where = tags.get(HOST)
    if where == host and PID in tags:
        pid = int(tags[PID])
        started = _started(pid)
        if started is None:
            return Verdict(run, f"process {pid} on {host} is gone", beat)
        recorded = float(tags.get(PID_STARTED, "nan"))
        if started == started and recorded == recorded and abs(started - recorded) > 1.0:
            return Verdict(run, f"process {pid} on {host} is gone (its PID was reused)", beat)
        return None
    if now - beat > stale_after:
        origin = f"{where}" if where else "its host"
        return Verdict(run, f"no heartbeat from {origin} for {(now - beat) / 60:.0f} min", beat)
    return None


def dead(runs: Iterable[Any], stale_after: float = STALE_AFTER) -> list[Verdict]:
    now = time.time()
    return [v for r in runs if (v := verdict(r, stale_after, now)) is not None]


def bury(client: Any, verdicts: Iterable[Verdict]) -> None:
    """End dead runs KILLED, the reason in tag lstmlab.error, at their last sign of life."""
    for v in verdicts:
        run_id = v.run.info.run_id
        client.set_tag(run_id, "lstmlab.error", f"{v.reason} (found by lstmlab-doctor)")
        client.set_terminated(run_id, "KILLED", end_time=int(v.last_seen * 1000))


def describe(v: Verdict) -> str:
    return f"run {v.run.info.run_id} ({v.run.info.run_name}): RUNNING -> KILLED: {v.reason}"


def main(argv: list[str] | None = None) -> None:
    from lstmlab.config import DEFAULT_TRACKING_URI

    parser = argparse.ArgumentParser(prog="lstmlab-doctor",
                                     description=__doc__.splitlines()[0])  # fmt: skip
    parser.add_argument("--uri", default=DEFAULT_TRACKING_URI, help="MLflow tracking URI")
    parser.add_argument("--experiment", default="lstmlab")
    parser.add_argument("--all-experiments", action="store_true")
    parser.add_argument("--stale-after", type=float, default=STALE_AFTER / 60, metavar="MIN",
                        help="runs of other hosts: dead after this many minutes without a "
                        "heartbeat (default: %(default)s)")  # fmt: skip
    parser.add_argument("--dry-run", action="store_true", help="say what would change")
    args = parser.parse_args(argv)
    if args.stale_after <= 0:
        parser.error("--stale-after must be more than 0 minutes")

    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    from lstmlab.tracking.store import StoreUnavailable, check_store

    try:
        check_store(args.uri)
    except StoreUnavailable as exc:
        print(f"lstmlab-doctor: error: {exc}", file=sys.stderr)
        sys.exit(2)
    client = MlflowClient(args.uri)
    if args.all_experiments:
        ids = [e.experiment_id for e in client.search_experiments(ViewType.ALL)]
    else:
        found = client.get_experiment_by_name(args.experiment)
        if found is None:
            print(f"lstmlab-doctor: error: no experiment {args.experiment!r} in {args.uri}",
                  file=sys.stderr)  # fmt: skip
            sys.exit(2)
        ids = [found.experiment_id]
    running = client.search_runs(ids, "attributes.status = 'RUNNING'", max_results=50_000)
    found_dead = dead(running, args.stale_after * 60)
    for v in found_dead:
        print(("would mark " if args.dry_run else "") + describe(v))
    if not args.dry_run:
        bury(client, found_dead)
    alive = len(running) - len(found_dead)
    verb = "would end" if args.dry_run else "ended"
    print(f"lstmlab-doctor: {len(running)} RUNNING run(s); {verb} {len(found_dead)} KILLED, "
          f"{alive} still alive")  # fmt: skip
