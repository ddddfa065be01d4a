"""Shared fixtures: Hydra composition of the real configs and a throwaway MLflow store."""

from __future__ import annotations

import os
from collections.abc import Callable
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


def runs_of(store: str, experiment: str) -> list:
    """Every run of an experiment in a store, as MLflow Run objects."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment!r} in {store}"
    return client.search_runs([found.experiment_id])
