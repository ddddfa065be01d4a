"""hydra/launcher=joblib: Hydra's joblib launcher (the same keys, the same jobs and job numbers,
the same output folders), made for sweeps of many short jobs.

A job of a tutorial sweep trains for 0.05 s; what it costs is around that, and this launcher
takes three parts of it away:
- the workers start as soon as the command line's jobs have passed the pre-flight check
  (warm_up) and import TensorFlow, Keras and MLflow while the parent process opens the store
  and starts the sweep, instead of after;
- jobs that differ only in their seed or learning rate (the values a compiled program takes
  as inputs: experiment.program_key) run one after another on one worker, which compiles
  their program once (schedules.reuse); Hydra's launcher hands jobs out one by one, so every
  worker ends up compiling every program of the sweep;
- a worker composes its jobs with composition.JobConfigs (one Hydra composition per
  structure), not each from scratch.

hydra/launcher=basic and ray are Hydra's basic launcher and hydra-ray-launcher (BasicLauncher,
RayLauncher: the same keys, jobs, numbers and folders). All three compose their jobs with
JobConfigs (Ray when it stacks; docs/speed.md measures what it saves) and train the jobs that
differ only in their seed as stacks when hydra.launcher.stack_seeds asks (run_stacked; Ray
sends a stack as one task).
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins import basic_launcher
from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.experimental.callback import Callback
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from hydra_plugins.hydra_joblib_launcher import joblib_launcher
from omegaconf import DictConfig, OmegaConf, open_dict

from lstmlab.sweeps.composition import JobConfigs

log = logging.getLogger(__name__)

TARGET = "hydra_plugins.lstmlab.launcher.JoblibLauncher"
# Hydra's own, which a config may still name.
HYDRA_TARGET = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"


def tasks(
    job_overrides: Sequence[Sequence[str]], workers: int, most_stacked: int | None = 1
) -> list[list[int]]:
    """The sweep's job indices as joblib tasks: jobs that differ only in what their compiled
    programs take as inputs (experiment.PROGRAM_INPUTS) together, in pieces of at most a
    2*workers-th of the sweep so that every worker stays busy to the end; with stacks on
    (most_stacked not 1), pieces as large as a stack at least, so that a worker gets a
    configuration's seeds together (stacks first, balance second)."""
    from lstmlab.experiment import PROGRAM_INPUTS

    groups = _alike(job_overrides, PROGRAM_INPUTS)
    balanced = max(1, math.ceil(len(job_overrides) / (2 * workers)))
    out = []
    for g in groups:
        size = balanced
        if most_stacked != 1:
            size = max(balanced, min(len(g), most_stacked or len(g)))
        out += [g[k : k + size] for k in range(0, len(g), size)]
    return out


def _alike(job_overrides: Sequence[Sequence[str]], apart: Sequence[str]) -> list[list[int]]:
    """Indices of the jobs whose overrides agree but on the keys `apart`, in order."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, overrides in enumerate(job_overrides):
        key = tuple(o for o in overrides if o.lstrip("+~").partition("=")[0] not in apart)
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def stacks(jobs: Sequence[tuple[int, Sequence[str]]], most: int | None) -> list[list[int]]:
    """A task's jobs as stacks (positions in jobs): jobs that differ only in their seed
    together, in order, at most `most` a stack (None: no limit; 1: every job alone)."""
    size = most or len(jobs) or 1
    return [g[k : k + size] for g in _alike([o for _, o in jobs], ("seed",))
            for k in range(0, len(g), size)]  # fmt: skip


def stack_seeds(value: Any) -> int | None:
    """hydra.launcher.stack_seeds, checked: a whole number >= 1 or null."""
    from lstmlab.config import ConfigError

    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            "hydra.launcher.stack_seeds", value,
            "a whole number >= 1 (the most seeds trained as one stack; 1: none stacked), "
            "or null (every seed of a configuration that a worker gets)",
        )  # fmt: skip
    return value


def _joblib_kwargs(launcher_cfg: Any) -> dict[str, Any]:
    """joblib.Parallel's arguments, as Hydra's launcher passes them (its keys less _target_
    and lstmlab's stack_seeds)."""
    from hydra_plugins.hydra_joblib_launcher._core import process_joblib_cfg  # imports joblib

    kwargs = {k: v for k, v in dict(launcher_cfg).items() if k not in ("_target_", "stack_seeds")}
    kwargs["backend"] = "loky"  # Hydra's launcher forces it: threads cannot run Hydra jobs
    process_joblib_cfg(kwargs)
    return kwargs


def _workers(kwargs: dict[str, Any]) -> int:
    from joblib import effective_n_jobs

    return effective_n_jobs(kwargs.get("n_jobs", -1))


def parallel_workers(launcher_cfg: Any) -> int:
    """How many jobs a sweep's launcher runs at once here: hydra/launcher=joblib's n_jobs as
    joblib reads it (-1: every core, -2: all but one, ...); 1 for any other launcher."""
    if launcher_cfg.get("_target_") not in (TARGET, HYDRA_TARGET):
        return 1
    return _workers({"n_jobs": launcher_cfg.get("n_jobs", -1)})


def _warm() -> int:
    # What a job imports (lstmlab.cli first: it quiets TensorFlow's C++ log).
    import os

    import lstmlab.cli  # noqa: F401
    from lstmlab.experiment import import_run

    import_run()
    return os.getpid()


_warming: threading.Thread | None = None
# The workers the last warm-up started, by PID.
warmed: list[int] = []


def warm_up(config: DictConfig) -> None:
    """Start the joblib workers of the sweep `config` composes (Hydra's node included), in the
    background: they import what a job needs while this process goes on to the store and the
    jobs. The CLI calls it as soon as its pre-flight check has passed (~1 s before Hydra gets to
    the sweep's start, with a core idle meanwhile), and WarmWorkers again as the sweep starts,
    for sweeps begun another way: a no-op while a warm-up is under way (the launcher waits for
    it before its own Parallel call; a finished one runs again on joblib's kept workers, in
    milliseconds)."""
    global _warming
    if config.hydra.launcher.get("_target_") != TARGET:
        return
    if _warming is not None and _warming.is_alive():
        return  # the workers are starting already
    from joblib import Parallel, delayed

    parallel = _joblib_kwargs(OmegaConf.to_container(config.hydra.launcher, resolve=True))
    n = _workers(parallel)
    if n <= 1:
        return  # joblib runs the jobs in this process: nothing to start

    def start() -> None:
        # Only a head start: if it fails, the jobs meet the same error and report it.
        with contextlib.suppress(Exception):
            warmed[:] = Parallel(**parallel)(delayed(_warm)() for _ in range(n))

    _warming = threading.Thread(
        target=start,
        name="lstmlab-warm-workers",
        daemon=True,  # a sweep that stops before launching does not wait for it
    )
    _warming.start()


class WarmWorkers(Callback):
    """Starts a joblib sweep's worker processes as the sweep starts, unless the CLI has already
    (warm_up). joblib keeps its workers for the next Parallel call with the same arguments, the
    launcher's."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        warm_up(config)


# Per worker process: the job configs of the sweep it works for (cached compositions).
_configs: dict[str, JobConfigs] = {}


def _run_jobs(
    sweep: str,
    jobs: list[tuple[int, Sequence[str]]],
    hydra_context: HydraContext,
    config: DictConfig,
    task_function: TaskFunction,
    singleton_state: dict[Any, Any],
    most_stacked: int | None = 1,
) -> list[JobReturn]:
    """One task in a worker: its jobs one after another, as Hydra's execute_job runs one; jobs
    that differ only in their seed as stacks of at most most_stacked (training/stacks.py)."""
    setup_globals()
    Singleton.set_state(singleton_state)
    if sweep not in _configs:
        _configs.clear()
        _configs[sweep] = JobConfigs(hydra_context.config_loader, config)

    def composed(idx: int, overrides: Sequence[str]) -> DictConfig:
        sweep_config = _configs[sweep].compose(overrides)
        with open_dict(sweep_config):
            sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
            sweep_config.hydra.job.num = idx
        return sweep_config

    return run_stacked(jobs, composed, _runner(hydra_context, task_function), most_stacked)


def _runner(
    hydra_context: HydraContext, task_function: TaskFunction
) -> Callable[[DictConfig], JobReturn]:
    """Runs a sweep job's composed config as Hydra's launchers run one (run_job), in a
    worker (joblib's or Ray's)."""

    def one(config: DictConfig) -> JobReturn:
        HydraConfig.instance().set_config(config)
        return run_job(
            hydra_context=hydra_context,
            config=config,
            task_function=task_function,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )

    return one


def run_stacked(
    jobs: Sequence[tuple[int, Sequence[str]]],
    composed: Callable[[int, Sequence[str]], DictConfig],
    one: Callable[[DictConfig], JobReturn],
    most: int | None,
) -> list[JobReturn]:
    """jobs (number, overrides) run by `one` on their composed configs, in order; those that
    differ only in their seed as stacks of at most `most` (stacks()), each seed's job in a
    thread of its own with its Hydra config in place whenever it has its turn."""
    returns: list[JobReturn | None] = [None] * len(jobs)
    for stack in stacks(jobs, most):
        if len(stack) == 1:
            returns[stack[0]] = one(composed(*jobs[stack[0]]))
            continue
        from lstmlab.tracking.console import to_job_log
        from lstmlab.training.stacks import StackGroup

        configs = [composed(*jobs[i]) for i in stack]
        group = StackGroup(len(stack), on_turn=lambda k, c=configs: _in_place(c[k]),
                           note=to_job_log)  # fmt: skip
        done = group.run([lambda c=c: one(c) for c in configs])
        for i, ret in zip(stack, done, strict=True):
            returns[i] = ret  # type: ignore[assignment]
    return returns  # type: ignore[return-value]


def _in_place(config: DictConfig) -> None:
    HydraConfig.instance().set_config(config)


class BasicLauncher(basic_launcher.BasicLauncher):
    """hydra/launcher=basic: Hydra's basic launcher (the jobs one after another in this
    process, the same numbers and folders), with the jobs that differ only in their seed
    trained as stacks (hydra.launcher.stack_seeds)."""

    def __init__(self, stack_seeds: int | None = 1) -> None:
        super().__init__()
        self.stack_seeds = stack_seeds

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        assert self.config is not None and self.hydra_context is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        log.info(f"Launching {len(job_overrides)} jobs locally")
        jobs = [(initial_job_idx + i, o) for i, o in enumerate(job_overrides)]
        for idx, overrides in jobs:
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
        most = stack_seeds(self.stack_seeds)
        configs = JobConfigs(self.hydra_context.config_loader, self.config)

        def composed(idx: int, overrides: Sequence[str]) -> DictConfig:
            config = configs.compose(overrides)
            with open_dict(config):
                config.hydra.job.id = idx
                config.hydra.job.num = idx
            return config

        def one(config: DictConfig) -> JobReturn:
            ret = run_job(
                hydra_context=self.hydra_context,
                task_function=self.task_function,
                config=config,
                job_dir_key="hydra.sweep.dir",
                job_subdir_key="hydra.sweep.subdir",
            )
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
            return ret

        return run_stacked(jobs, composed, one, most)


class JoblibLauncher(joblib_launcher.JoblibLauncher):
    def setup(self, **kwargs: Any) -> None:
        super().setup(**kwargs)
        self._sweep = uuid.uuid4().hex

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> list[JobReturn]:
        from joblib import Parallel, delayed

        assert self.config is not None and self.hydra_context is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        parallel = _joblib_kwargs(self.joblib)
        most = stack_seeds(self.joblib.get("stack_seeds"))
        groups = tasks(job_overrides, _workers(parallel), most)
        log.info(
            f"Joblib.Parallel({','.join(f'{k}={v}' for k, v in parallel.items())}) is launching "
            f"{len(job_overrides)} jobs as {len(groups)} tasks"
        )
        log.info(f"Launching jobs, sweep output dir : {sweep_dir}")
        for idx, overrides in enumerate(job_overrides):
            log.info(f"\t#{initial_job_idx + idx} : {' '.join(filter_overrides(overrides))}")
        if _warming is not None:
            _warming.join()  # one Parallel call at a time on joblib's shared workers
        state = Singleton.get_state()
        done = Parallel(**parallel)(
            delayed(_run_jobs)(
                self._sweep,
                [(initial_job_idx + i, job_overrides[i]) for i in group],
                self.hydra_context,
                self.config,
                self.task_function,
                state,
                most,
            )  # fmt: skip
            for group in groups
        )
        returns: list[JobReturn | None] = [None] * len(job_overrides)
        for group, rets in zip(groups, done, strict=True):
            for i, ret in zip(group, rets, strict=True):
                returns[i] = ret
        return returns  # type: ignore[return-value]


class RayLauncher(Launcher):
    """hydra/launcher=ray: hydra-ray-launcher's (every job a task on an existing Ray cluster,
    the same job numbers and folders), with the jobs that differ only in their seed sent as one
    task per stack of at most hydra.launcher.stack_seeds (1: one task per job, as Hydra's)."""

    def __init__(self, ray: DictConfig, stack_seeds: int | None = 1) -> None:
        # The attribute names hydra_ray_launcher._core.launch reads.
        self.ray_cfg = ray
        self.stack_seeds = stack_seeds
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None
        self.config: DictConfig | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        most = stack_seeds(self.stack_seeds)
        if most == 1:
            from hydra_plugins.hydra_ray_launcher import _core

            return _core.launch(self, job_overrides, initial_job_idx)
        import ray
        from hydra_plugins.hydra_ray_launcher._launcher_util import start_ray

        assert self.config is not None and self.hydra_context is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        jobs = [(initial_job_idx + i, o) for i, o in enumerate(job_overrides)]
        groups = stacks(jobs, most)
        log.info(
            f"Ray Launcher is launching {len(jobs)} jobs as {len(groups)} tasks, "
            f"sweep output dir: {sweep_dir}"
        )
        start_ray(self.ray_cfg.init)
        options = OmegaConf.to_container(self.ray_cfg.remote, resolve=True) or {}
        remote = ray.remote(**options)(_run_stack) if options else ray.remote(_run_stack)
        composer = JobConfigs(self.hydra_context.config_loader, self.config)
        state = Singleton.get_state()
        futures = []
        for group in groups:
            configs = []
            for i in group:
                idx, overrides = jobs[i]
                log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
                config = composer.compose(overrides)
                with open_dict(config):
                    # As Hydra's Ray launcher numbers them (no scheduler's id on the driver).
                    config.hydra.job.id = f"job_id_for_{idx}"
                    config.hydra.job.num = idx
                configs.append(config)
            futures.append(remote.remote(
                self.hydra_context, [jobs[i] for i in group], configs, self.task_function, state
            ))  # fmt: skip
        returns: list[JobReturn | None] = [None] * len(jobs)
        for group, future in zip(groups, futures, strict=True):
            for i, ret in zip(group, ray.get(future), strict=True):
                returns[i] = ret
        return returns  # type: ignore[return-value]


def _run_stack(
    hydra_context: HydraContext,
    jobs: list[tuple[int, Sequence[str]]],
    configs: list[DictConfig],
    task_function: TaskFunction,
    singleton_state: dict[Any, Any],
) -> list[JobReturn]:
    """One Ray task: a stack's jobs (composed on the driver) trained as one (run_stacked)."""
    setup_globals()
    Singleton.set_state(singleton_state)
    by_number = {idx: config for (idx, _), config in zip(jobs, configs, strict=True)}
    one = _runner(hydra_context, task_function)
    return run_stacked(jobs, lambda idx, _: by_number[idx], one, None)
