"""Shared fixtures: Hydra composition of the real configs and a throwaway MLflow store."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

# Quiet TensorFlow's C++ start-up chatter in test output; set before anything imports TF.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from lstmlab.config import CONF_DIR, PROJECT_ROOT, register_configs  # noqa: E402

register_configs()


@pytest.fixture
def compose_cfg() -> Callable[..., DictConfig]:
    """compose_cfg("experiment=echo", "seed=3") -> the composed config, as the CLI would see it."""

    def _compose(*overrides: str) -> DictConfig:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose(config_name="config", overrides=list(overrides))

    return _compose


@pytest.fixture
def store(tmp_path: Path) -> str:
    """A fresh sqlite MLflow store in the test's temp dir."""
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


def generator_data(cfg, test_samples: int = 10):
    """A generator's dataset (CumsumConfig or EchoConfig) for schedule and model tests."""
    import numpy as np

    from lstmlab.data import cumsum, echo, generated

    module = cumsum if cfg.kind == "cumsum" else echo
    return generated.build(cfg, module.task(cfg), module.sampler(cfg),
                           np.random.default_rng(99), test_samples, None)  # fmt: skip


def runs_of(store: str, experiment: str) -> list:
    """Every run of an experiment in a store, as MLflow Run objects."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment!r} in {store}"
    return client.search_runs([found.experiment_id])


# `python -c` script: lstmlab's CLI with training patched to raise for model.units=2 (the only
# model of fewer than 50 weights), for tests of failing jobs.
FAIL_UNITS_2 = """
import lstmlab.training.loops as schedules
real_train = schedules.train
def train(model, *args, **kwargs):
    if model.count_params() < 50:
        raise RuntimeError("injected failure")
    return real_train(model, *args, **kwargs)
schedules.train = train
from lstmlab.cli import entry
entry()
"""


def run_cli(
    tmp_path: Path,
    *args: str,
    module: bool = False,
    script: str | None = None,
    timeout: int = 300,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """The lstmlab CLI in a subprocess, its Hydra output under tmp_path. script: Python run as
    `python -c script args...` instead (it calls lstmlab.cli.main itself, e.g. after patching).
    cwd: where it runs (the repository root by default). env: its environment (this one's)."""
    if script is not None:
        cmd = [sys.executable, "-c", script]
    elif module:
        cmd = [sys.executable, "-m", "lstmlab"]
    else:
        cmd = [str(Path(sys.executable).parent / "lstmlab")]
    hydra_dirs = [f"hydra.run.dir={tmp_path}/out", f"hydra.sweep.dir={tmp_path}/multirun"]
    return subprocess.run(
        [*cmd, *args, *hydra_dirs], capture_output=True, text=True, timeout=timeout,
        env={**(os.environ if env is None else env), "TF_CPP_MIN_LOG_LEVEL": "2"},
        cwd=cwd or PROJECT_ROOT,
    )  # fmt: skip


def descendants(pid: int) -> set[int]:
    """Every process below pid, read from /proc (children of each of its threads)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                kids = (task / "children").read_text().split()
            except OSError:
                continue
            for kid in map(int, kids):
                if kid not in found:
                    found.add(kid)
                    todo.append(kid)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_mlflow(
    tmp_path: Path,
    prefix: Sequence[str] = (),
    app_name: str | None = None,
    env: dict[str, str] | None = None,
    backend: str | None = None,
    port: int | None = None,
) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1 with a sqlite backend and proxied artifacts in
    tmp_path; yields its URL. prefix: run it through another command (ip netns exec NS).
    app_name: MLflow's --app-name (basic-auth); env: added to its environment; backend: its
    --backend-store-uri instead of sqlite (a PostgreSQL database); port: this one (a server
    started again on the same store and port).
    Stopped by its own PID (and process group) afterwards, and its children are checked gone."""
    import time

    tmp_path.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    bin_dir = Path(sys.executable).parent
    cmd = [
        *prefix, str(bin_dir / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", backend or f"sqlite:///{tmp_path / 'server.db'}",
        "--serve-artifacts", "--artifacts-destination", str(tmp_path / "artifacts"),
        "--workers", "1", *(["--app-name", app_name] if app_name else []),
    ]  # fmt: skip
    # The defaults start ~15 processes and ~3 GB; with these, 2 processes.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(env or {})}
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                            cwd=tmp_path, start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while not http_ok(f"{url}/health", prefix):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (tmp_path / "server.log").read_text()[-2000:]
                raise RuntimeError(f"mlflow server did not come up: {tail}")
            time.sleep(0.5)
        yield url
    finally:
        left = stop_session(proc)
        log.close()
        assert not left, f"mlflow server children still running: {left}"


def stop_session(proc: subprocess.Popen, timeout: float = 20) -> list[int]:
    """Stop a process started with start_new_session=True, and everything it started: SIGTERM
    to its process group (whose id is its own PID), SIGKILL after `timeout`. Returns the PIDs of
    its descendants still alive 10 s later (killed then, by PID: they are ours)."""
    import signal
    import time

    family = descendants(proc.pid)
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while any(alive(p) for p in family) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [p for p in family if alive(p)]
    for pid in left:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return left


def http_ok(url: str, prefix: Sequence[str] = ()) -> bool:
    """Whether url answers 200, asked from inside prefix's network namespace if any."""
    import urllib.request

    if prefix:
        probe = f"import urllib.request as u; u.urlopen({url!r}, timeout=2)"
        done = subprocess.run([*prefix, sys.executable, "-c", probe], capture_output=True)
        return done.returncode == 0
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    with serve_mlflow(tmp_path) as url:
        yield url


@contextmanager
def serve_postgres() -> Iterator[str]:
    """A PostgreSQL cluster made with initdb in a fresh temp dir, its server on 127.0.0.1 (and
    a socket in that dir), with a database `mlflow`; yields its SQLAlchemy URL. As root, the
    cluster belongs to Debian's `postgres` user (initdb refuses root). Stopped by its PID (fast
    shutdown), the folder removed."""
    import glob
    import shutil
    import signal
    import tempfile
    import time

    initdb = shutil.which("initdb") or next(iter(sorted(glob.glob(
        "/usr/lib/postgresql/*/bin/initdb"))), None)  # fmt: skip
    assert initdb, "PostgreSQL is not installed (make system-deps installs Debian's postgresql)"
    bin_dir = Path(os.path.realpath(initdb)).parent
    user = "postgres" if os.getuid() == 0 else None
    # Not under pytest's tmp_path: its parents are closed to other users.
    home = Path(tempfile.mkdtemp(prefix="lstmlab-pg-"))
    data = home / "data"
    if user:
        shutil.chown(home, user)
    proc = None
    try:
        subprocess.run([str(bin_dir / "initdb"), "-D", str(data), "-U", "lstmlab",
                        "--auth=trust", "-E", "UTF8"],
                       user=user, check=True, capture_output=True, timeout=120)  # fmt: skip
        port = free_port()
        log = open(home / "server.log", "w")  # noqa: SIM115 (closed below)
        if user:
            shutil.chown(home / "server.log", user)
        proc = subprocess.Popen(
            [str(bin_dir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port),
             "-k", str(home)],
            user=user, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        import psycopg

        deadline = time.monotonic() + 60
        while True:
            try:
                conn = psycopg.connect(host="127.0.0.1", port=port, user="lstmlab",
                                       dbname="postgres", autocommit=True)  # fmt: skip
                break
            except psycopg.OperationalError:
                assert proc.poll() is None, (home / "server.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "PostgreSQL did not start in 60 s"
                time.sleep(0.3)
        with conn:
            conn.execute("CREATE DATABASE mlflow")
        yield f"postgresql://lstmlab@127.0.0.1:{port}/mlflow"
    finally:
        if proc is not None:
            with suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGINT)  # fast shutdown: clients are disconnected
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            log.close()
        shutil.rmtree(home, ignore_errors=True)
