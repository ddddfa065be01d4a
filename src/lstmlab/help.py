"""`lstmlab --help`: what the command does, its config groups and their real options (read
from the config folders, so it never drifts), the overrides people use most, and the other
console scripts. Hydra's own help stays at `lstmlab --hydra-help`."""

from __future__ import annotations

import textwrap
from pathlib import Path

from lstmlab.config import CONF_DIR, PROJECT_ROOT

GROUPS = ("dataset", "model", "schedule", "tracking", "experiment", "debug")
# Launchers and sweepers come from Hydra and its plugins, not from conf/.
HYDRA = {"hydra/launcher": "basic (one job after another), joblib (parallel processes), ray",
         "hydra/sweeper": "basic, optuna"}  # fmt: skip

COMMON = """\
  seed=3                              seeds data, weights and dropout (same seed, same run)
  model.units=50 model.layers=2       model.cell=gru  model.direction=bidirectional
  model.merge_mode=sum                model.dropout=0.2  model.head=mean
  schedule.epochs=500                 schedule.batch_size=16  schedule.early_stopping.patience=5
  dataset.path=data.npz               dataset.validation=0.2  eval.every=50
  tracking.uri=http://host:5000       tracking.experiment=mine  tracking.log_model=false
  -m model.merge_mode=sum,concat 'seed=range(0,5)' hydra/launcher=joblib   (a sweep)"""

SCRIPTS = """\
  lstmlab-report     compare a sweep's configurations: curves with 95% CIs, table, verdicts
  lstmlab-register   register a sweep's best model in MLflow's registry (alias champion)
  lstmlab-rerun      run a logged run again from its stored config, and compare
  lstmlab-doctor     end the runs a dead process left RUNNING (KILLED, with the reason)
  lstmlab-sync       send what a run kept on disk while its tracking store was away
  lstmlab-inspect    what a Bidirectional LSTM returns (outputs, states)"""


def options(folders: list[Path], group: str) -> list[str]:
    found = set()
    for folder in folders:
        found |= {p.stem for p in (folder / group).glob("*.yaml")}
    return sorted(found)


def text(args: list[str]) -> str:
    """The help, or with a selector (lstmlab --help schedule.plateau, --help model=fcn) the
    config reference's keys under it. ValueError: a selector that names no key."""
    folders, selectors = [CONF_DIR], []
    rest = iter(args)
    for arg in rest:  # lstmlab --help --config-dir DIR: your groups too
        if arg in ("--config-dir", "-cd"):
            folders.append(Path(next(rest, ".")))
        elif arg.startswith("--config-dir="):
            folders.append(Path(arg.partition("=")[2]))
        elif not arg.startswith("-"):
            selectors.append(arg)
    if selectors:
        from lstmlab.reference import text as keys

        found = [keys(s, folders) for s in selectors]
        for selector, shown in zip(selectors, found, strict=True):
            if not shown:
                raise ValueError(
                    f"--help {selector}: no such key or option; allowed: a group (model), a key "
                    "or its prefix (schedule.plateau), an option (model=fcn), or top"
                )
        return "\n\n".join(found)
    width = max(len(g) for g in (*GROUPS, *HYDRA)) + 2
    groups = "\n".join(
        textwrap.fill(", ".join(options(folders, group)), 92,
                      initial_indent=f"  {group + ':':<{width}}",
                      subsequent_indent=" " * (width + 2))
        for group in GROUPS
    )  # fmt: skip
    hydra = "\n".join(f"  {group + ':':<{width}}{names}" for group, names in HYDRA.items())
    return f"""\
lstmlab: config-driven (bidirectional) LSTM sequence-classification experiments, tracked in
MLflow. One run trains, validates, tests and logs a model; -m makes a sweep of many.

usage: lstmlab [-m] [--config-dir DIR] [GROUP=OPTION | KEY=VALUE ...]
       lstmlab --cfg job [...]            print the composed config, run nothing
       lstmlab -sc install=bash           shell completion: eval "$(lstmlab -sc install=bash)"

Config groups (GROUP=OPTION):
{groups}
{hydra}

Common overrides:
{COMMON}

The other commands (each has --help):
{SCRIPTS}

Every key (type, default, help): lstmlab --help GROUP, e.g. --help schedule, --help model=fcn,
--help schedule.plateau, --help top; the handbook's Reference page has them all.
Hydra's own options: lstmlab --hydra-help.  The handbook: {PROJECT_ROOT / "docs"} (make docs)"""
