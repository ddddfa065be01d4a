"""Credentials for a tracking server come from MLflow's environment variables, never from
tracking.uri, and appear in no param, tag, artifact, file or printed line. Against a real
`mlflow server --app-name basic-auth` on 127.0.0.1."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from conftest import run_cli, serve_mlflow
from mlflow.tracking import MlflowClient

from lstmlab.tracking.store import StoreUnavailable, check_store

TINY = ["eval.samples=40", "eval.show=0", "model.units=4", "schedule.epochs=20",
        "schedule.chunk=10"]  # fmt: skip
CREDENTIALS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIALS}
    return {**env, **extra}


@pytest.mark.slow
def test_a_basic_auth_server_gets_credentials_from_the_environment_only(tmp_path):
    password = f"pw-{secrets.token_hex(12)}"
    auth = tmp_path / "server" / "basic_auth.ini"
    auth.parent.mkdir()
    auth.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{tmp_path / 'server' / 'auth.db'}\n"
        f"admin_username = admin\nadmin_password = {password}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        # Checks a password's PBKDF2 hash once a minute, not on every request.
        "auth_cache_ttl_seconds = 60\n"
    )
    server_env = {"MLFLOW_AUTH_CONFIG_PATH": str(auth),
                  "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16)}  # fmt: skip
    with serve_mlflow(tmp_path / "server", app_name="basic-auth", env=server_env) as url:
        admin = _env(MLFLOW_TRACKING_USERNAME="admin", MLFLOW_TRACKING_PASSWORD=password)

        # No credentials: one line before any work, nothing logged.
        bare = run_cli(tmp_path / "bare", f"tracking.uri={url}", *TINY, env=_env())
        assert bare.returncode == 2, bare.stderr[-2000:]
        errors = [line for line in bare.stderr.splitlines() if line.startswith("lstmlab")]
        assert len(errors) == 1 and "Traceback" not in bare.stderr, bare.stderr
        assert errors[0].startswith(f"lstmlab: error: tracking.uri={url}: the server asks for "
                                    "credentials (401)")  # fmt: skip
        assert "MLFLOW_TRACKING_USERNAME" in errors[0]
        assert "training" not in bare.stdout

        # Wrong ones: said so, without echoing them (the same check the CLI just ran).
        os.environ.update(MLFLOW_TRACKING_USERNAME="admin", MLFLOW_TRACKING_PASSWORD="not-it")
        try:
            with pytest.raises(StoreUnavailable) as wrong:
                check_store(url)
        finally:
            for key in CREDENTIALS:
                os.environ.pop(key, None)
        assert str(wrong.value) == (
            f"tracking.uri={url}: the server refused the credentials (401) in "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN"
        )

        # In the URI: refused before Hydra writes anything, the password not repeated.
        host = url.removeprefix("http://")
        inline = run_cli(tmp_path / "inline", f"tracking.uri=http://admin:{password}@{host}",
                         *TINY, env=_env())  # fmt: skip
        assert inline.returncode == 2
        assert password not in inline.stdout + inline.stderr
        (line,) = inline.stderr.strip().splitlines()  # before TensorFlow is even imported
        assert line.startswith(f"lstmlab: error: tracking.uri=http://***@{host}: ")
        assert "MLFLOW_TRACKING_PASSWORD" in line
        assert not (tmp_path / "inline").exists()  # no Hydra output, so no overrides.yaml

        client = MlflowClient(url)
        os.environ.update(MLFLOW_TRACKING_USERNAME="admin", MLFLOW_TRACKING_PASSWORD=password)
        try:
            assert client.search_runs(["0"]) == []
            assert client.get_experiment_by_name("lstmlab") is None  # nothing was created

            # With them: a sweep logs, and the password is nowhere.
            sweep = run_cli(tmp_path / "ok", "-m", "seed=0,1", f"tracking.uri={url}", *TINY,
                            env=admin)  # fmt: skip
            assert sweep.returncode == 0, sweep.stderr[-3000:]
            experiment = client.get_experiment_by_name("lstmlab")
            runs = client.search_runs([experiment.experiment_id])
            assert sorted(r.info.status for r in runs) == ["FINISHED"] * 3
            for r in runs:
                for text in [*r.data.params.values(), *r.data.tags.values()]:
                    assert password not in text
                folder = tmp_path / "download" / r.info.run_id
                folder.mkdir(parents=True)
                client.download_artifacts(r.info.run_id, "", str(folder))
                _assert_absent(password, folder)
            assert any(
                f.name == "config.yaml" for f in (tmp_path / "download").rglob("*")
            )  # artifacts were really read back
        finally:
            for key in CREDENTIALS:
                os.environ.pop(key, None)
        assert password not in sweep.stdout + sweep.stderr
        _assert_absent(password, tmp_path / "ok")  # Hydra's config.yaml, overrides.yaml, logs
        assert (tmp_path / "ok" / "multirun").is_dir()


def _assert_absent(secret: str, folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
