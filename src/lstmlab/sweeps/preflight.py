"""Check every job of a command line before Hydra starts any of them.

Hydra composes a sweep's jobs one at a time, as they start: a typo in the fifth value of a
sweep would surface after four jobs have run. Here the sweep is expanded the way Hydra's basic
sweeper does it, every job is composed and validated, and the first problem is reported as one
line that names the job, the key, the value and what is allowed.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from lstmlab.config import CONF_DIR, ConfigError, register_configs, to_settings
from lstmlab.data import DataError
from lstmlab.sweeps.callback import expand, is_basic
from lstmlab.sweeps.composition import ByStructure

register_configs()

MULTIRUN_FLAGS = ("-m", "--multirun")


def one_line(exc: BaseException) -> str:
    """A composition or validation error as one line that names the key."""
    if isinstance(exc, ConfigError | DataError):
        return str(exc)
    for err in (exc, exc.__cause__, exc.__context__):
        if isinstance(err, OmegaConfBaseException) and getattr(err, "full_key", None):
            value = getattr(err, "value", None)
            shown = f"={value}" if value is not None and not isinstance(value, dict) else ""
            return f"{err.full_key}{shown}: {str(err.msg).splitlines()[0]}"
    text = str(exc)
    missing = re.search(r"Could not find '([^/']+)/([^']+)'", text)
    if missing:
        group, option = missing.groups()
        # The *_schema entries are the dataclass schemas the YAML options extend.
        choices = [c for c in re.findall(r"^\t(\S+)$", text, re.MULTILINE)
                   if not c.endswith("_schema")]  # fmt: skip
        allowed = f"one of {', '.join(choices)}" if choices else "no options in that group"
        return f"{group}={option}: no such option; allowed: {allowed}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    cause = exc.__cause__
    if cause is not None and str(cause).strip():
        lines.append(str(cause).strip().splitlines()[0])
    return " ".join(" ".join(lines).split())


def jobs(overrides: list[str], multirun: bool) -> list[list[str]]:
    """The override lists of the jobs this command line launches."""
    return _plan(overrides, multirun)[0]


def _plan(overrides: list[str], multirun: bool) -> tuple[list[list[str]], DictConfig, bool]:
    """The jobs' override lists, the command line's composed config (Hydra's node included)
    and whether it is a multirun."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        parser = OverridesParser.create()
        parsed = parser.parse_overrides(overrides)
        fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
        base = compose("config", fixed, return_hydra_config=True)
    # A preset may switch multirun on itself (hydra.mode); unset means a single run.
    mode = base.hydra.mode
    multirun = multirun or (mode is not None and mode.name == "MULTIRUN")
    if not multirun:
        sweeps = [o.input_line for o in parsed if o.is_sweep_override()]
        if sweeps:
            raise HydraException(f"{sweeps[0]}: a sweep needs multirun: add -m")
        return [overrides], base, False
    params = base.hydra.sweeper.get("params")
    params = OmegaConf.to_container(params) if params else {}
    if not is_basic(base.hydra.sweeper):
        # Other sweepers (Optuna) choose their jobs as they go, from ranges: check the fixed
        # part here; each job is still checked when it starts.
        return [[o.input_line for o in parsed if not o.is_sweep_override()]], base, True
    return expand(overrides, params), base, True


def _check_data(settings, checked: set[str]) -> None:
    """Load a sweep job's data (once per distinct dataset, seed, batch size and head), so that
    a missing file, a bad array or a head the labels do not allow stops the whole sweep before
    any job starts. Files are read once per process: jobs run in this process reuse them."""
    from lstmlab.experiment import load_data

    key = repr((settings.dataset, settings.seed, settings.schedule.batch_size,
                getattr(settings.model, "head", None)))  # fmt: skip
    if key not in checked:
        checked.add(key)
        load_data(settings)


def check(
    overrides: list[str], multirun: bool, valid: Callable[[DictConfig], None] | None = None
) -> str | None:
    """None when every job composes and validates, else one line saying what is wrong.
    valid: called with the command line's composed config (Hydra's node included) once every
    job of a multirun has passed, before Hydra starts (the launcher's workers start then)."""
    try:
        todo, base, sweep = _plan(overrides, multirun)
    except (HydraException, OmegaConfBaseException) as exc:
        return one_line(exc)
    if not sweep:
        # A single run's one composition is the job's config: checked as it is (Hydra's node
        # taken off), not composed a second time (~0.15 s of every run).
        with open_dict(base):
            del base["hydra"]
        try:
            to_settings(base)
        except (OmegaConfBaseException, ConfigError, DataError) as exc:
            return one_line(exc)
        return None
    from hydra_plugins.lstmlab.launcher import stack_seeds

    try:
        stack_seeds(base.hydra.launcher.get("stack_seeds"))
    except ConfigError as exc:
        return one_line(exc)
    checked: set[str] = set()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        # Hydra's composition costs ~0.4 s; a sweep's jobs mostly differ in values only.
        configs = ByStructure(lambda structure: compose("config", structure))
        for i, job in enumerate(todo):
            try:
                settings = to_settings(configs(job)[0])
                # A single run loads its data itself before touching the store.
                if len(todo) > 1:
                    _check_data(settings, checked)
            except (HydraException, OmegaConfBaseException, ConfigError, DataError) as exc:
                if len(todo) == 1:
                    return one_line(exc)
                swept = " ".join(a for a in job if a not in overrides)
                return f"job #{i} of {len(todo)} ({swept or ' '.join(job)}): {one_line(exc)}"
    if valid is not None:
        valid(base)
    return None
