"""Every job's config is checked before anything runs; errors are one line naming the key."""

from __future__ import annotations

import pytest

from lstmlab.sweeps.preflight import check, jobs


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["model.units=0"], "model.units=0: must be a positive integer"),
        (
            ["model.units=abc"],
            "model.units=abc: must be a positive integer, or a list of them, one per layer",
        ),
        (["model.direction=up"], "model.direction=up: Invalid value 'up', expected one of"),
        (
            ["dataset=mnist"],
            "dataset=mnist: no such option; allowed: one of csv, cumsum, custom, custom_generator, "
            "echo, npz, series, uea",
        ),
        (
            ["experiment=nope"],
            "experiment=nope: no such option; allowed: one of airline, airline_tutorial, archive, "
            "archive_benchmark, archive_regression, archive_rocket, claim_",
        ),
        (["schedule=fast"], "schedule=fast: no such option; allowed: one of bulk, online"),
        (["dataset.timesteps=-1"], "dataset.timesteps=-1: must be a positive integer"),
        (["dataset.threshold=0"], "dataset.threshold=0.0: must be in (0, 1]"),
        (["eval.samples=0"], "eval.samples=0: must be a positive integer"),
        (["experiment=echo", "dataset.out_index=99"], "dataset.out_index=99: must be an index"),
        (["experiment=echo", "dataset.n_features=1"], "dataset.n_features=1: must be at least 2"),
        (["model=lstm", "model.merge_mode=sum"], "model.merge_mode=sum: only applies to"),
        (["schedule=bulk", "schedule.batch_size=0"], "schedule.batch_size=0: must be a positive"),
        (["model.nonsense=1"], "model.nonsense"),
        (["model.units=4,8"], "model.units=4,8: a sweep needs multirun: add -m"),
    ],
)
def test_bad_values_are_one_line_naming_key_and_rule(args, expected):
    problem = check(args, multirun=False)
    assert problem is not None and expected in problem
    assert "\n" not in problem


def test_a_bad_job_in_a_sweep_is_named():
    problem = check(["model.units=4,0,8", "seed=0,1"], multirun=True)
    assert problem == (
        "job #2 of 6 (model.units=0 seed=0): model.units=0: must be a positive integer, or a "
        "list of them, one per layer"
    )


def test_a_bad_value_in_a_preset_sweep_is_named():
    # compare_merge_modes sweeps merge modes itself; a forward model cannot take them.
    problem = check(["experiment=compare_merge_modes", "model.direction=forward"], False)
    assert problem is not None
    assert problem.startswith("job #0 of 4 (model.merge_mode=concat): model.merge_mode=concat")


def test_good_command_lines_pass_and_expand_like_hydra():
    assert check([], multirun=False) is None
    assert check(["experiment=compare_directions", "seed=0,1"], multirun=True) is None
    expanded = jobs(["experiment=compare_merge_modes", "seed=range(0,3)"], multirun=False)
    assert len(expanded) == 12
    assert ["model.merge_mode=sum", "experiment=compare_merge_modes", "seed=2"] in expanded


def test_a_single_run_is_composed_once(monkeypatch):
    from lstmlab.sweeps import preflight

    calls = []
    compose = preflight.compose
    monkeypatch.setattr(preflight, "compose", lambda *a, **k: calls.append(a) or compose(*a, **k))
    assert check(["model.units=8"], multirun=False) is None
    assert len(calls) == 1
    # The one composition still catches what validation catches.
    assert check(["model.units=0"], multirun=False).startswith("model.units=0: must be")
    assert len(calls) == 2


def test_valid_gets_the_sweep_config_once_every_job_has_passed():
    seen = []
    assert check(["model.units=4,8", "hydra/launcher=joblib"], True, valid=seen.append) is None
    (config,) = seen
    assert config.hydra.launcher._target_ == "hydra_plugins.lstmlab.launcher.JoblibLauncher"
    # Not for a bad sweep, nor for a single run (no workers to start).
    assert check(["model.units=4,0"], True, valid=seen.append) is not None
    assert check([], False, valid=seen.append) is None
    assert len(seen) == 1
