"""Chunks sized by bytes (schedule.max_chunk_mb): any configuration trains within the budget
plus what the model and the data need; a batch larger than the budget is refused up front."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lstmlab.config import MB, ConfigError, to_settings
from lstmlab.experiment import load_data
from lstmlab.training.loops import chunk_steps, online_chunks

BIN = Path(sys.executable).parent
# 512 one-hot sequences of 50 x 100 floats: 10 MB a step, 10 GB for the 1000 steps of a chunk.
BIG = ["experiment=echo_solved", "schedule.batch_size=512", "schedule.chunk=1000",
       "schedule.epochs=100000"]  # fmt: skip


def test_a_chunk_holds_as_many_steps_as_the_budget_allows(compose_cfg):
    settings = to_settings(compose_cfg(*BIG, "schedule.max_chunk_mb=64"))
    data = load_data(settings)
    per_step = 512 * (50 * 100 * 4 + 4)  # inputs and the class index of 512 sequences
    assert data.task.sequence_bytes * 512 == per_step
    assert chunk_steps(settings.schedule, data.task) == 64 * MB // per_step == 6
    xs, ys, position = next(online_chunks(data, settings.schedule, np.random.default_rng(0)))
    assert xs.shape == (6, 512, 50, 100) and ys.shape == (6, 512) and position == {"next": 6}
    assert xs.nbytes + ys.nbytes <= 64 * MB
    # Under the budget, schedule.chunk is what it was.
    small = to_settings(compose_cfg("experiment=echo_solved"))
    assert chunk_steps(small.schedule, data.task) == 100


def test_a_batch_larger_than_the_budget_is_refused_in_one_line(compose_cfg):
    settings = to_settings(compose_cfg(*BIG, "schedule.max_chunk_mb=8"))
    with pytest.raises(ConfigError) as err:
        load_data(settings)
    assert str(err.value) == (
        "schedule.batch_size=512: one batch of echo takes 9.8 MB, more than "
        "schedule.max_chunk_mb=8; lower schedule.batch_size or raise schedule.max_chunk_mb"
    )


@pytest.mark.parametrize("value", ["0", "-1"])
def test_the_budget_must_be_positive(compose_cfg, value):
    with pytest.raises(ConfigError, match=rf"^schedule.max_chunk_mb={value}: must be more than 0"):
        to_settings(compose_cfg(f"schedule.max_chunk_mb={value}"))


@pytest.mark.slow
def test_a_run_whose_chunk_would_take_10_gb_stays_within_the_budget(tmp_path):
    proc = subprocess.Popen(
        [str(BIN / "lstmlab"), *BIG, "schedule.max_chunk_mb=64", "schedule.max_steps=24",
         "eval.samples=200", "eval.show=0", "tracking.log_model=false", "xla_cache=null",
         f"tracking.uri=sqlite:///{tmp_path}/mlflow.db", f"hydra.run.dir={tmp_path}/out"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )  # fmt: skip
    # wait4: this child's own peak resident memory (kB), not the largest of all children.
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    out, err = proc.stdout.read(), proc.stderr.read()
    assert proc.returncode == 0, err[-2000:]
    assert "training" in out and "24 steps" in out
    peak_mb = usage.ru_maxrss / 1024
    # Measured: 1.1-1.3 GB on the development machine, 2.2 GB once in CI (TensorFlow, MLflow,
    # XLA compiling the BiLSTM for batches of 512; the chunks take at most 3 x 64 MB). Without
    # the budget, one chunk alone would be 10 GB.
    assert peak_mb < 4000, f"peak {peak_mb:.0f} MB"
