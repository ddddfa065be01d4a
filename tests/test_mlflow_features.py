"""What an MLflow user expects of a run: the experiment opens as model training, provenance
tags, system metrics, progress while it trains; and the CLI's help and shell completion."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from lstmlab.config import PROJECT_ROOT, to_settings
from lstmlab.experiment import Job, run
from lstmlab.tracking.runs import EXPERIMENT_KIND, MODEL_TRAINING, Tracker

TINY = ["model.units=4", "eval.samples=40", "eval.show=0", "tracking.log_model=false"]
BIN = Path(sys.executable).parent


def test_experiments_open_as_model_training(store):
    client = MlflowClient(store)
    created = Tracker(store, "new").experiment_id
    assert client.get_experiment(created).tags[EXPERIMENT_KIND] == MODEL_TRAINING
    # An experiment made by someone else gets the kind when lstmlab first uses it ...
    other = client.create_experiment("theirs")
    Tracker(store, "theirs")
    assert client.get_experiment(other).tags[EXPERIMENT_KIND] == MODEL_TRAINING
    # ... unless it already has one.
    genai = client.create_experiment("genai", tags={EXPERIMENT_KIND: "genai_development"})
    Tracker(store, "genai")
    assert client.get_experiment(genai).tags[EXPERIMENT_KIND] == "genai_development"


def test_every_run_says_what_made_it(compose_cfg, store):
    from importlib.metadata import version

    cfg = compose_cfg(f"tracking.uri={store}", "schedule.epochs=5", *TINY)
    tags = MlflowClient(store).get_run(run(cfg, to_settings(cfg), Job("p")).run_id).data.tags
    head = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert tags["mlflow.source.git.commit"] == head
    assert tags["lstmlab.git.dirty"] in ("true", "false")
    assert tags["lstmlab.version.tensorflow"] == version("tensorflow-cpu") == "2.21.0"
    assert tags["lstmlab.version.keras"] == version("keras")
    assert tags["lstmlab.version.mlflow"] == version("mlflow") == "3.17.2"
    assert tags["lstmlab.version.lstmlab"] == version("lstmlab")
    assert tags["lstmlab.version.python"] == platform.python_version()
    assert tags["lstmlab.host"] == platform.node()


def test_system_metrics_are_recorded_when_asked(compose_cfg, store):
    # Long enough for the monitor's one-second samples.
    cfg = compose_cfg(f"tracking.uri={store}", "tracking.system_metrics=true",
                      "schedule.epochs=40000", "schedule.chunk=2000", *TINY)  # fmt: skip
    metrics = MlflowClient(store).get_run(run(cfg, to_settings(cfg), Job("s")).run_id).data.metrics
    assert metrics["system/cpu_utilization_percentage"] >= 0
    assert metrics["system/system_memory_usage_megabytes"] > 0


def test_progress_off_a_terminal_is_a_line_per_tenth(compose_cfg, store, capsys):
    cfg = compose_cfg(f"tracking.uri={store}", "schedule.epochs=1000", "schedule.chunk=50",
                      *TINY)  # fmt: skip
    run(cfg, to_settings(cfg), Job("bar"))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("bar: step")]
    assert [line.split()[2] for line in lines] == [f"{k}00/1000" for k in range(1, 11)]
    assert all("loss" in line for line in lines) and "steps/s" in lines[-1]


def test_help_names_lstmlab_its_commands_and_real_choices_only():
    done = subprocess.run([str(BIN / "lstmlab"), "--help"], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0
    assert done.stdout.startswith("lstmlab: ")
    scripts = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert len(scripts) >= 6
    names = [*scripts, "compare_cells", "custom_generator", "lstm_backward_tutorial",
             "-sc install"]  # fmt: skip
    for name in names:
        assert name in done.stdout
    assert "_schema" not in done.stdout and "powered by Hydra" not in done.stdout


@pytest.mark.slow
def test_bash_completion_offers_real_options(tmp_path):
    script = tmp_path / "complete.sh"
    script.write_text(f"""
export PATH={BIN}:$PATH
eval "$(lstmlab -sc install=bash)"
COMP_LINE="lstmlab model=" COMP_POINT=14 COMP_CWORD=1 hydra_bash_completion
echo "${{COMPREPLY[@]}}"
""")
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    offered = set(done.stdout.split())
    assert {"model=bilstm", "model=gru", "model=lstm_backward", "model=custom"} <= offered
    assert not any(word.endswith("_schema") for word in offered)
