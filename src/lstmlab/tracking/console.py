"""A job's console output, also in its Hydra job log.

Hydra writes a job's ``logging`` records to the file its job logging names
(``<output dir>/<job name>.log``: ``outputs/.../cli.log``, ``multirun/.../<num>/cli.log``).
lstmlab's runs print instead (the training lines, the FINISHED line and its metrics, warnings),
so that file stayed empty, and a sweep's jobs — on a cluster, the only record a researcher
has of a job but its MLflow run — left nothing beside their outputs. While a job runs, what it
prints to stdout and stderr is appended to that file as well. Output goes by thread: a stack's
seeds run in threads of one process, and each seed's lines go to its own job's file.

A terminal's live progress bar (rich's redraws, escape codes) stays on the terminal; the file
gets lines.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TextIO

from omegaconf import DictConfig, OmegaConf

_job = threading.local()  # .file: the current thread's job log, open for appending


class _Copy:
    """A stream (sys.stdout or sys.stderr) whose writes also go to the calling thread's job
    log, if it has one. Everything else (isatty, fileno, encoding) is the stream's."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> int:
        written = self.stream.write(text)
        file = getattr(_job, "file", None)
        if file is not None and "\x1b" not in text:
            # A job's background thread (in_this_job) may outlive the job's file.
            with suppress(ValueError):
                file.write(text)
        return written

    def flush(self) -> None:
        self.stream.flush()
        file = getattr(_job, "file", None)
        if file is not None:
            with suppress(ValueError):
                file.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def in_this_job(target: Callable[..., Any]) -> Callable[..., Any]:
    """target, for a thread the calling thread starts: what it prints goes to the calling
    thread's job log too (the store writer's warnings belong to the job whose run it writes);
    once the job's file is closed, to the console only."""
    file = getattr(_job, "file", None)
    if file is None:
        return target

    def run(*args: Any, **kwargs: Any) -> Any:
        _job.file = file
        return target(*args, **kwargs)

    return run


def to_job_log(line: str) -> None:
    """line into the calling thread's job log only (not the console): what a stack of seeds
    said once on the console, repeated in each of its other jobs' logs."""
    file = getattr(_job, "file", None)
    if file is not None:
        file.write(line + "\n")


def job_log_file(hydra: DictConfig) -> Path | None:
    """The file Hydra's job logging writes to (hydra.job_logging.handlers.file.filename), or
    None where there is none (hydra/job_logging=disabled or a config without a file)."""
    name = OmegaConf.select(hydra, "job_logging.handlers.file.filename", default=None)
    return Path(name) if name else None


@contextmanager
def copied_to(path: Path | None) -> Iterator[None]:
    """While the block runs, this thread's console output is appended to path too (no-op for
    None, or a file that cannot be opened: the console still has everything)."""
    try:
        file = None if path is None else open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
    except OSError:
        file = None
    if file is None:
        yield
        return
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, _Copy):  # None: no console at all
            setattr(sys, name, _Copy(stream))
    previous = getattr(_job, "file", None)
    _job.file = file
    try:
        yield
    finally:
        _job.file = previous
        file.close()
